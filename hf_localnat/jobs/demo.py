"""`localnat demo` as one call: score real multi-teacher traces with the embedded student, rank, select, write the
step report and the would-be Hub repo folder, offline."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..wording import counted
from .results import Result


@dataclass(repr=False)
class Demo(Result):
    """What `demo` did: the scored rows, the curation (`hub.curate.Curated`), the folder and the report written.

    Attributes:
        scored (`datasets.Dataset`): every response with its scores.
        curated (`hub.curate.Curated`): the ranking, the selections and the mix report.
        folder (`Path`): the would-be Hub repo; report (`Path`): its step report.
        text (`list[str]`): the lines `localnat demo` prints, in order.
    """

    scored: Any
    curated: Any
    folder: Path
    report: Path
    text: list[str] = field(default_factory=list)

    title = "localnat demo"

    def __str__(self) -> str:
        return "\n".join(self.text)

    def to_dict(self) -> dict[str, Any]:
        """The folder, the report, the configs' rows and the ranking."""
        return {"folder": str(self.folder), "report": str(self.report),
                "configs": {name: len(ds) for name, ds in self.curated.configs.items()},
                "ranking": self.curated.ranking.to_dict()}


def demo_dataset(data: str, problems: int, *, echo: Callable[[str], None] | None = None):
    """The demo's input rows, its source text for the card, and its license.

    `champ`: `problems` CHAMP problems (one per category in turn, answers the judge can read) x the four models,
    0-shot, with `correct` judged as `hf_localnat.champ` documents (the counts are echoed). `sample`: the bundled
    synthetic sample.
    """
    if data == "sample":
        from ..sample import SAMPLE_PATH, load_sample

        return load_sample(), f"hf_localnat/data/{SAMPLE_PATH.name} (bundled, synthetic)", "apache-2.0"
    from ..champ import champ_long_format, demo_problem_ids, format_correct_counts

    ids = demo_problem_ids(problems)
    dataset = champ_long_format(problem_ids=ids)
    if echo is not None:
        echo(f"CHAMP: {counted(len(ids), 'problem')} x {counted(len(set(dataset['teacher'])), 'model')}, 0-shot "
             f"({', '.join(ids)}).")
        echo(format_correct_counts(dataset["correct_reason"]) + "\n")
    source = f"CHAMP v0 (PyPI champ-dataset==1.0.0, MIT), 0-Shot setting, problems {', '.join(ids)}"
    return dataset, source, "mit"


def demo(output: str = "localnat-demo", *, window: int | str = 4, data: str = "champ", problems: int = 5,
         overwrite: bool = False, echo: Callable[[str], None] | None = None,
         log: Callable[[str], None] | None = None, on_rows: Callable[[int], None] | None = None, progress: Callable[[float], None] | None = None) -> Demo:
    """Curate real multi-teacher traces with the embedded SmolLM2-135M-Instruct, offline: score every response
    (LALP and GALP), rank the teachers with the evidence of SPEC §13, keep per question the correct response with
    the highest LALP (and the GALP baseline), write the step report and the repo folder `localnat publish` would
    push.

    Args:
        output (`str`): the folder written (refused when it exists and localnat did not write it).
        window, data, problems, overwrite: as the flags of `localnat demo`.
        echo (`Callable[[str], None]`, *optional*): each line of the demo's text as it comes (minutes of scoring
            sit between them); the result's text holds them all.
        log (`Callable[[str], None]`, *optional*): where progress lines go (what is being scored).
        on_rows (`Callable[[int], None]`, *optional*): called once with the rows to score; progress
            (`Callable[[float], None]`, *optional*) then with each share of rows done (a progress bar's calls).

    Returns:
        `Demo`: its text is what `localnat demo` prints.
    """
    from ..hub.curate import curate_to_folder, report
    from ..hub.repo_folder import check_repo_folder
    from ..report import build_report, write_report
    from ..scoring.scorer import LocalNaturalnessScorer

    say = log or (lambda line: None)
    text: list[str] = []

    def emit(line: str) -> None:
        text.append(line)
        if echo is not None:
            echo(line)

    folder = check_repo_folder(output, overwrite=overwrite)  # before the minutes of scoring
    dataset, source, license_ = demo_dataset(data, problems, echo=emit)
    scorer = LocalNaturalnessScorer(window=window)
    scorer.model  # load (and convert, the first time) the embedded student now
    say(f"Scoring {counted(len(dataset), 'response')} from {counted(len(set(dataset['teacher'])), 'teacher')} with "
        "the embedded student "
        f"({scorer.source.model_id}) on this machine...")
    start = time.perf_counter()
    if on_rows is not None:
        on_rows(len(dataset))
    scorer.progress_callback = progress
    try:
        scored = scorer.map(dataset, batch_size=8, keep_in_memory=True, desc="Scoring (LALP/GALP)")
    finally:
        scorer.progress_callback = None
    seconds = time.perf_counter() - start
    tokens = sum(scored["num_tokens"])
    emit(f"Scored {counted(len(scored), 'response')} ({counted(tokens, 'token')}) in {seconds:.1f} s. Higher = more natural to the "
                "student.\n")
    command = ["localnat", "demo"] + (["--window", str(window)] if window != 4 else []) + (
        ["--data", data] if data != "champ" else []) + (["--problems", str(problems)] if problems != 5 else [])
    curated = curate_to_folder(
        scored, folder, scorer.provenance(), correct_column="correct",
        pretty_name="hf-localnat demo: curated multi-teacher reasoning traces",
        source_dataset=source, license=license_, reproduce_command=shlex.join(command), overwrite=overwrite)
    emit(report(curated, verdicts=False))  # the verdicts end the demo, once
    html = build_report(scored, correct_column="correct", provenance=scorer.provenance(), source=source,
                        title="hf-localnat demo: where the teachers' traces stop being natural")
    page = write_report(folder / "report.html", html, overwrite=True)  # the folder was just written by us
    emit("How sure is the ranking (SPEC §13; docs/evidence.md):")
    for line in curated.ranking.verdicts:
        emit(f"  {line}")
    emit(f"Wrote the step report to {page} (open it in a browser; it needs no network).")
    counts = ", ".join(f"{name} {len(ds)}" for name, ds in curated.configs.items() if len(ds))
    emit(f"Wrote the would-be Hub repo to {folder}/ (README.md card, images/, data/: {counts} rows).")
    emit(f'Load it:    load_dataset("{output}", "lalp")')
    scored_file = next((folder / "data" / "scored").glob("*.parquet"))
    emit(f"Publish it: localnat publish {shlex.quote(str(scored_file))} --repo-id NS/NAME --correct-column "
                "correct --dry-run")
    return Demo(scored, curated, folder, page, text)
