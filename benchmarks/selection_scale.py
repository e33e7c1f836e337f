"""Selection at scale: `localnat rank-teachers` and `localnat select` on 10^6 scored rows, against plain pandas.

    python benchmarks/selection_scale.py                  # 10^6 rows, prints the table
    python benchmarks/selection_scale.py --rows 200000    # smaller
    python benchmarks/selection_scale.py --write           # also replace the section in benchmarks/RESULTS.md

The baseline is what a user would write by hand in pandas: read the Parquet file, keep each question's highest-LALP
row among its correct rows, and take each teacher's mean LALP. The two commands run through the real CLI (click, in
this process): they read the same file through `datasets` (a fresh cache each, so the Parquet-to-Arrow conversion is
counted), rank with 1000 bootstrap resamples / select by LALP among correct rows and write both outputs.
Target: each command at most 15x the baseline's time. Both clocks are reported; on a shared machine the CPU time of
this process (all its threads) is the steadier one.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
_CACHE = tempfile.mkdtemp(prefix="localnat-bench-cache-")
os.environ["HF_DATASETS_CACHE"] = _CACHE  # before `datasets` is imported: never the user's cache
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
START, END = "<!-- selection-scale:start (written by benchmarks/selection_scale.py) -->", "<!-- selection-scale:end -->"
TARGET = 15.0


def write_block(start: str, end: str, table: str) -> None:
    """Put `table` between the markers `start` and `end` of RESULTS.md (appended when they are missing), written to a
    temporary file beside it and renamed into place, so a killed run leaves the old file or the new one."""
    text = RESULTS.read_text(encoding="utf-8")
    block = f"{start}\n{table}\n{end}"
    if start in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    partial = RESULTS.with_name(RESULTS.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, RESULTS)


def make_scored(path: Path, rows: int, teachers: int = 4, seed: int = 0, other_scores: bool = False) -> None:
    """`rows` scored rows in the long layout (all the scorer's columns): `rows / teachers` questions, 1% unscored,
    a `correct` column with 30% False and 2% unknown, responses of ~100 characters; with `other_scores`, also the
    `--scores all` columns `rsr`, `lalp_drop` (on which the teachers are too close to order) and
    `galp_drop` (SPEC §11)."""
    rng = np.random.default_rng(seed)
    questions = rows // teachers
    q = np.repeat(np.arange(questions), teachers)[:rows]
    t = np.tile(np.arange(teachers), questions)[:rows]
    lalp = rng.normal(-1.5, 0.3, rows) + 0.05 * t
    galp = lalp + rng.normal(0, 0.1, rows)
    unscored = rng.random(rows) < 0.01
    steps = rng.integers(1, 6, rows)
    offsets = np.concatenate([[0], np.cumsum(steps)])
    correct_draw = rng.random(rows)
    qid = pa.array(np.char.add("q-", q.astype("U12")))
    table = pa.table({
        "question_id": qid,
        "question": pa.array(np.char.add("What is the answer to problem ", q.astype("U12"))),
        "teacher": pa.array(np.array([f"teacher-{i}" for i in range(teachers)])[t]),
        "response": pa.array(np.char.add("Step one. Then step two follows from it. So the answer is ",
                                         rng.integers(0, 10**6, rows).astype("U8"))),
        "correct": pa.array(correct_draw >= 0.32, mask=correct_draw < 0.02),
        "lalp": pa.array(lalp, mask=unscored),
        "galp": pa.array(galp, mask=unscored),
        "lalp_steps": pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)),
                                               pa.array(rng.normal(-1.5, 0.5, int(offsets[-1])))),
        "num_steps": pa.array(steps),
        "num_tokens": pa.array(rng.integers(50, 2000, rows)),
        "truncated": pa.array(np.zeros(rows, dtype=bool)),
        "score_error": pa.array(np.where(unscored, "no_scored_tokens", None), pa.string()),
    })
    if other_scores:
        for name, column in (("rsr", np.exp(-lalp) + rng.normal(0, 0.5, rows)),
                             ("lalp_drop", rng.normal(-1.5, 0.3, rows) + 0.0005 * t),  # teachers too close
                             ("galp_drop", galp + rng.normal(0, 0.05, rows))):
            table = table.append_column(name, pa.array(column, mask=unscored))
    pq.write_table(table, path)


def pandas_baseline(path: Path) -> tuple:
    import pandas as pd

    df = pd.read_parquet(path)
    ok = df[(df["correct"] == True) & df["lalp"].notna()]  # noqa: E712 (nullable column)
    best = df.loc[ok.groupby("question_id")["lalp"].idxmax()]
    means = df.groupby("teacher")["lalp"].mean()
    return len(best), means.to_dict()


def timed(call) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of this process, result)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def run_cli(args: list[str], cache: Path):
    """One `localnat` command in this process with a fresh `datasets` cache; raises if it fails."""
    import datasets.config
    from click.testing import CliRunner

    from hf_localnat.cli import main

    cache.mkdir(parents=True)
    datasets.config.HF_DATASETS_CACHE = cache
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    if result.exit_code != 0:
        raise SystemExit(f"localnat {' '.join(args)} failed:\n{result.output}")
    return result.output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--teachers", type=int, default=4)
    parser.add_argument("--write", action="store_true", help="replace the selection-scale section of RESULTS.md")
    args = parser.parse_args()

    import datasets  # noqa: F401  (imports outside the timings, for every variant)
    import pandas  # noqa: F401

    import hf_localnat.cli  # noqa: F401
    from hf_localnat.selection import rank, select  # noqa: F401

    work = Path(tempfile.mkdtemp(prefix="localnat-bench-"))
    scored = work / "scored.parquet"
    make_scored(scored, args.rows, args.teachers)
    size = scored.stat().st_size / 2**20
    timings = {}
    timings["pandas baseline"] = timed(lambda: pandas_baseline(scored))
    timings["localnat rank-teachers (1000 resamples)"] = timed(
        lambda: run_cli(["rank-teachers", str(scored), "--json"], work / "cache-rank"))
    timings["localnat select (by LALP, correct only)"] = timed(
        lambda: run_cli(["select", str(scored), "-o", str(work / "curated.parquet"), "--correct-column", "correct",
                         "--json"], work / "cache-select"))
    kept = pandas_baseline(scored)[0]
    selected = pq.read_metadata(work / "curated.parquet").num_rows
    if kept != selected:
        raise SystemExit(f"select kept {selected} rows, the pandas argmax {kept}")

    base_wall, base_cpu, _ = timings["pandas baseline"]
    lines = [
        f"## Selection at scale: {args.rows:,} scored rows",
        "",
        f"Command: `python benchmarks/selection_scale.py --rows {args.rows}`",
        "",
        f"Machine: {platform.processor() or platform.machine()}; {os.cpu_count()} CPU cores visible; "
        f"{platform.platform()}; Python {platform.python_version()}; pyarrow {pa.__version__}; "
        f"{datetime.date.today()}. Load average at the end: {os.getloadavg()[0]:.1f}.",
        "",
        f"Input: one Parquet file of {size:.0f} MiB, {args.rows // args.teachers:,} questions x {args.teachers} "
        f"teachers, all the scorer's columns. Both commands read it through `datasets` with a fresh cache, and "
        f"`select` writes the kept and the rejected rows ({selected:,} kept, as many as the pandas argmax).",
        "",
        f"| step | wall, s | CPU, s | wall / baseline | CPU / baseline (target <= {TARGET:g}x) |",
        "|---|---|---|---|---|",
    ]
    for name, (wall, cpu, _) in timings.items():
        lines.append(f"| {name} | {wall:.2f} | {cpu:.2f} | {wall / base_wall:.1f}x | {cpu / base_cpu:.1f}x |")
    table = "\n".join(lines)
    print(table)
    if args.write:
        write_block(START, END, table)


if __name__ == "__main__":
    main()
