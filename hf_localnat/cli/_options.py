"""Options shared by the `localnat` commands, and the one table that maps errors to one-line messages.

Every command takes its scoring options (`--model`, `--model-revision`, `--window`, `--segmenter`,
`--prompt-format`), `--token`, `--overwrite`, `--storage-options` and the input options from here, and wraps itself in `handle_errors`.
"""

from __future__ import annotations

import errno
import functools
from collections.abc import Callable

import click

from ..errors import LocalNatError


def _offline(error: BaseException) -> str:
    return ("Hugging Face offline mode is on (HF_HUB_OFFLINE=1), and this needs the Hub; unset HF_HUB_OFFLINE to go "
            "online, or use local files and model folders.")


def _innermost(error: BaseException) -> str:
    """`datasets` wraps the real fault: report the innermost error of the chain."""
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__
    return f"Cannot read the dataset: {one_line(error)}"


#: errno values of environment faults (the disk, the file system), not of bugs.
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM})


def _environment(error: BaseException) -> str | None:
    """A write the library did not translate (`WriteError` names what it was writing): the cause and the path."""
    if getattr(error, "errno", None) not in ENVIRONMENT_ERRNOS:
        return None
    where = f": {error.filename}" if getattr(error, "filename", None) else ""
    return (f"{error.strerror or one_line(error)}{where} ({errno.errorcode.get(error.errno, '')}). Outputs are "
            "written beside their targets and renamed into place, so the old ones are intact; fix the cause and rerun.")


def error_table() -> list[tuple[tuple[type[BaseException], ...], Callable[[BaseException], str]]]:
    """THE table of errors a user can cause and fix -> their one-line message, in priority order.

    Each row is checked against the whole chain of the error (its `__cause__`s and `__context__`s) before the next
    row, so an offline Hub is reported as such even when another error wraps it; a row whose function returns `None`
    does not apply (an `OSError` that is no environment fault). Errors in no row are bugs: they
    keep their traceback.
    """
    from datasets.exceptions import DatasetGenerationError
    from huggingface_hub.errors import HFValidationError, OfflineModeIsEnabled

    return [
        ((OfflineModeIsEnabled,), _offline),
        ((LocalNatError,), one_line),
        ((HFValidationError,), lambda e: f"Not a valid Hub repo id: {one_line(e)}"),
        ((DatasetGenerationError,), _innermost),
        ((FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError), one_line),
        ((OSError,), _environment),
    ]


def _chain(error: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    while error is not None and all(error is not seen for seen in out):
        out.append(error)
        error = error.__cause__ or error.__context__
    return out


def user_message(error: BaseException) -> str | None:
    """The one-line message for `error` from `error_table()`, or `None` when it is not a user's error (a bug)."""
    chain = _chain(error)
    for types, message in error_table():
        for link in chain:
            if isinstance(link, types) and (text := message(link)) is not None:
                return text
    return None


def one_line(error: BaseException) -> str:
    """The first line of an error's message (its type name when the message is empty)."""
    text = str(error).strip()
    if isinstance(error, KeyError) and not isinstance(error, LocalNatError) and text.startswith("'"):
        text = text.strip("'")
    if not text:
        return type(error).__name__
    first = text.splitlines()[0]
    return first if len(text.splitlines()) == 1 else f"{first} ({type(error).__name__})"


def handle_errors(command: Callable) -> Callable:
    """Turn the errors of `error_table()` into `click.ClickException` (one line, exit status 1, no traceback)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except Exception as e:
            message = user_message(e)
            if message is None:
                raise
            raise click.ClickException(message) from e

    return wrapper


def _compose(*decorators: Callable) -> Callable:
    def apply(function: Callable) -> Callable:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


overwrite_option = click.option(
    "--overwrite", is_flag=True,
    help="Replace outputs that exist: a file, or a folder localnat wrote (never done without this flag)."
)

input_options = _compose(
    click.option("--config", "config_name", default=None, metavar="NAME",
                 help="Configuration (subset) of a Hub dataset id."),
    click.option("--split", default=None, metavar="NAME",
                 help="Split of a Hub dataset id or a saved DatasetDict  [default: train, or the only split]."),
)

teacher_columns_options = _compose(
    click.option("--teacher-column", default="teacher", show_default=True, help="Column naming who wrote each row."),
    click.option("--question-column", default="question", show_default=True, help="Column with the question text."),
    click.option("--question-id-column", default="question_id", show_default=True,
                 help="Column with question ids; derived from the question text when missing."),
)

def _parse_storage_options(ctx: click.Context, param: click.Parameter, value: str | None) -> dict:
    from ..io.remote import parse_storage_options

    try:
        return parse_storage_options(value)
    except LocalNatError as e:
        raise click.ClickException(one_line(e)) from e


storage_options_option = click.option(
    "--storage-options", "storage_options", default=None, metavar="JSON", callback=_parse_storage_options,
    help="Options for the filesystem of a URL INPUT/OUTPUT (hf://, s3://, gs://, memory://), one JSON object, e.g. "
         "'{\"anon\": true}'; the same options go to every URL of the command.")
"""`--storage-options JSON` -> `storage_options: dict` (`{}` when not given); bad JSON is a one-line error."""

scored_inputs_argument = click.argument("scored", metavar="SCORED...", nargs=-1, required=True)
"""`SCORED...`: one or more scored inputs, pooled in the order given (`hf_localnat.io.pool.pool_scored`)."""


ignore_provenance_option = click.option(
    "--ignore-provenance", is_flag=True,
    help="Go on as if the input recorded no provenance (for a damaged .hf_localnat.json sidecar or Parquet footer "
         "entry): nothing is checked against it and reports say 'not recorded'.")
"""`--ignore-provenance`: the commands that read a scored input's provenance treat it as not recorded."""

def _parse_directions(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> dict[str, str]:
    from ..errors import ConfigError
    from ..scores import parse_direction

    try:
        return dict(parse_direction(text) for text in value)
    except ConfigError as error:
        raise click.BadParameter(str(error), ctx=ctx, param=param) from error


direction_option = click.option(
    "--direction", "directions", multiple=True, callback=_parse_directions, metavar="COLUMN=higher|lower",
    help="The direction in which a score column of your own is better (repeatable). This project's scores (lalp, "
         "galp, lalp_drop, galp_drop: higher; rsr: lower) need none.")
"""`--direction COLUMN=higher|lower` (repeatable) -> `directions`, a dict for `hf_localnat.scores.score_direction`."""

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines instead of a table.")

bootstrap_options = _compose(
    click.option("--resamples", type=click.IntRange(min=1), default=1000, show_default=True,
                 help="Bootstrap resamples (over questions, paired)."),
    click.option("--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95,
                 show_default=True, help="Coverage of the confidence intervals."),
    click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed."),
)


def token_option(function: Callable) -> Callable:
    """`--token`: a Hub token (default: HF_TOKEN or the logged-in one)."""
    return click.option("--token", default=None, metavar="TOKEN",
                        help="Hub token  [default: HF_TOKEN or your `hf auth login`].")(function)


def model_option(help: str = "Student: a Hub id, a local folder, or smollm2-135m-instruct  [default: the embedded "
                             "SmolLM2].") -> Callable:
    """`--model NAME`: the student model."""
    return click.option("--model", default=None, metavar="NAME", help=help)


def model_revision_option(*aliases: str,
                          help: str = "The student's Hub revision (branch, tag or commit sha)  [default: main]."
                          ) -> Callable:
    """`--model-revision REV` (also spelled as each of `aliases`): the student's Hub revision, as `model_revision`."""
    return click.option("--model-revision", *aliases, "model_revision", default=None, metavar="REV", help=help)


class WindowType(click.ParamType):
    """`K` (preceding steps, an `int`) or `P%` (a share of the preceding steps, kept as written: `"10%"`)."""

    name = "K|P%"

    def convert(self, value, param, ctx):
        from ..errors import ConfigError
        from ..scoring.prepare.windows import parse_window

        try:
            return parse_window(value)
        except ConfigError as error:
            self.fail(str(error), param, ctx)


def window_option(default: int | None = 4,
                  help: str = "Preceding steps each step is conditioned on (the paper's k), or a share of them such "
                              "as 10% (the paper's v2 setting, SPEC §12).") -> Callable:
    """`--window K` or `--window P%` -> an `int` or the share as written (`"10%"`)."""
    return click.option("--window", type=WindowType(), default=default, show_default=default is not None,
                        help=help)


def segmenter_option(default: str | None = "sentence",
                     help: str = "How responses are cut into steps ('given' reads a list column, see --steps-column)."
                     ) -> Callable:
    """`--segmenter NAME`."""
    from ..scoring.prepare.segment import SEGMENTERS

    return click.option("--segmenter", type=click.Choice(SEGMENTERS), default=default,
                        show_default=default is not None, help=help)


def prompt_format_option(default: str | None = "auto",
                         help: str = "How the question becomes the prefix (auto = chat template when the tokenizer has "
                                     "one).") -> Callable:
    """`--prompt-format NAME`."""
    from ..scoring.config import PROMPT_FORMATS

    return click.option("--prompt-format", type=click.Choice(PROMPT_FORMATS), default=default,
                        show_default=default is not None, help=help)


def response_part_option(default: str | None = "full",
                         help: str = "The part of each response that is scored: full, thinking (inside <think>…</think> "
                                     "or <|begin_of_thought|>…<|end_of_thought|>) or answer (after it).") -> Callable:
    """`--response-part {full,thinking,answer}`."""
    from ..io.parts import RESPONSE_PARTS

    return click.option("--response-part", type=click.Choice(RESPONSE_PARTS), default=default,
                        show_default=default is not None, help=help)


#: The options of agent traces (SPEC §14; `localnat score`, `localnat estimate`): the observation cap and the tools.
trace_options = _compose(
    click.option("--max-observation-tokens", type=click.IntRange(min=0), default=1024, show_default=True,
                 help="With --segmenter turns: a tool result longer than this keeps its first and last halves "
                      "(0 = no cap); part of the scoring definition."),
    click.option("--tools-column", default="tools", show_default=True, metavar="COLUMN",
                 help="With --segmenter turns: the column of tools (JSON schemas) passed to the chat template."),
)


#: The input-shape options of SPEC §9 (`localnat score`, `localnat estimate`): `io.to_long`'s arguments.
shape_options = _compose(
    click.option("--question-column", default=None, metavar="COLUMN",
                 help="The question column of flat, list or wide inputs  [default: question]."),
    click.option("--response-column", "response_columns", multiple=True, metavar="COLUMN|TEACHER=COLUMN",
                 help="The response column: texts, or lists of texts (one row per element); repeat it for one column "
                      "per response (one row per column, teacher = the column name or TEACHER)  [default: response, "
                      "else a messages/conversations column]."),
    click.option("--messages-column", default=None, metavar="COLUMN",
                 help="A column of turns (role/content or ShareGPT from/value): response = the last assistant turn, "
                      "question = the last user turn before it; with --segmenter turns every assistant turn is scored "
                      "[default: messages, conversations or trajectory, when there is no response column]."),
    click.option("--teacher-column", default=None, metavar="COLUMN", help="The column naming each row's teacher."),
    click.option("--teacher", "teacher_name", default=None, metavar="NAME",
                 help="One teacher for every row (NAME=INPUT sets it per input)."),
    click.option("--explode-with", multiple=True, metavar="COLUMN",
                 help="A list column exploded alongside a list of responses even where its lengths differ (missing "
                      "elements are null); lists of scalars whose lengths always match are exploded anyway."),
)
