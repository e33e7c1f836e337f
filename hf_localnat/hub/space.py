"""Publish the `evaluate` metric (`metric/local_naturalness/`) as a Hub Space, so `evaluate.load("<ns>/local_naturalness")`
works for everyone who can see the Space.

`evaluate-cli create` does not work with huggingface_hub >= 1.0 (it uses the removed `Repository`): this does the same
with one `create_repo(repo_type="space", space_sdk="gradio")` and one commit.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import ConfigError

logger = logging.getLogger(__name__)

METRIC_NAME = "local_naturalness"
METRIC_FILES: tuple[str, ...] = (f"{METRIC_NAME}.py", "README.md", "requirements.txt", "app.py")


def metric_folder() -> Path:
    """The metric's folder: the copy a wheel carries (`hf_localnat/_metric/local_naturalness`, made from the source by
    setup.py), else the source itself in a checkout or editable install (`<repo>/metric/local_naturalness`).

    Raises:
        ConfigError: neither is there (a broken install).
    """
    package = Path(__file__).resolve().parents[1]
    candidates = (package / "_metric" / METRIC_NAME, package.parent / "metric" / METRIC_NAME)
    for folder in candidates:
        if (folder / f"{METRIC_NAME}.py").is_file():
            return folder
    raise ConfigError(
        f"The metric module was found neither in {candidates[0]} nor in {candidates[1]}: reinstall hf-localnat "
        "(pip install --force-reinstall hf-localnat), or pass folder=<path to metric/local_naturalness>."
    )


def publish_metric_space(
    repo_id: str,
    token: str | None = None,
    private: bool = True,
    exist_ok: bool = False,
    folder: str | Path | None = None,
) -> str:
    """Create (or, with `exist_ok=True`, update) a Gradio Space holding the metric, in one commit.

    Args:
        repo_id (`str`): `"<namespace>/local_naturalness"` (or `"local_naturalness"` for your own namespace). evaluate
            0.4.6 loads `<name>.py` from the Space `<namespace>/<name>`, so the name must be `local_naturalness`.
        token (`str`, *optional*): a Hub token with write access; defaults to the logged-in one.
        private (`bool`, *optional*, defaults to `True`): create the Space private.
        exist_ok (`bool`, *optional*, defaults to `False`): update an existing Space instead of failing.
        folder (`str` or `Path`, *optional*): the metric folder; defaults to `metric_folder()`.

    Returns:
        `str`: the Space's repo id, to pass to `evaluate.load`.

    Raises:
        ConfigError: the name is not `local_naturalness`, or the Space exists and `exist_ok` is `False`.

    Example:
        ```python
        >>> space = publish_metric_space("my-org/local_naturalness")  # doctest: +SKIP
        >>> evaluate.load(space).compute(predictions=["One. Two."], questions=["Q?"])  # doctest: +SKIP
        ```
    """
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    from .publish import RetryPolicy, with_retries

    name = repo_id.rsplit("/", 1)[-1]
    if name != METRIC_NAME:
        raise ConfigError(
            f"Space name {name!r} in {repo_id!r} is not {METRIC_NAME!r}: evaluate.load('<namespace>/<name>') fetches "
            f"'<name>.py', so the Space must be called {METRIC_NAME!r}; use '<namespace>/{METRIC_NAME}'."
        )
    folder = Path(folder) if folder is not None else metric_folder()
    missing = [f for f in METRIC_FILES if not (folder / f).is_file()]
    if missing:
        raise ConfigError(f"The metric folder {folder} lacks {', '.join(missing)}; pass the folder of the metric.")
    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=exist_ok)
    except HfHubHTTPError as e:
        if e.response is not None and e.response.status_code == 409:
            raise ConfigError(
                f"The Space {repo_id!r} already exists; pass --overwrite to update it (exist_ok=True from Python)."
            ) from e
        raise
    operations = [CommitOperationAdd(path_in_repo=f, path_or_fileobj=str(folder / f)) for f in METRIC_FILES]
    # huggingface_hub does not retry the commit POST itself: reuse the dataset publisher's bounded back-off.
    with_retries(
        lambda: api.create_commit(url.repo_id, operations, commit_message="Publish the local_naturalness metric",
                                  repo_type="space"),
        what=f"Committing the metric to the Space {url.repo_id}", policy=RetryPolicy(), echo=logger.warning,
    )
    return url.repo_id
