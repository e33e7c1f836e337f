"""`localnat rank-teachers` with its evidence (SPEC §13) and `localnat select` at 10^5 and 10^6 scored rows, against a
plain pandas per-teacher mean read from the same file, in one run, as ratios, with each command's peak memory.

    python benchmarks/rank_evidence.py                        # 10^5 and 10^6 rows, 8 teachers, 1000 resamples
    python benchmarks/rank_evidence.py --rows 100000          # one size
    python benchmarks/rank_evidence.py --write                # also replace the section in benchmarks/RESULTS.md

Rows come from `selection_scale.make_scored` (the scorer's columns and the `--scores all` ones; 1% unscored). Every
step runs in a fresh Python process of its own (so its peak RSS is its own), with a fresh `datasets` cache (the
Parquet-to-Arrow conversion is counted); the clock starts after the imports. The baseline is what a user would type:
`pd.read_parquet(FILE).groupby("teacher")["lalp"].mean()`. Targets (issue 36): every rank-teachers run at most 15x
the baseline, whatever --by, and under 2 GiB peak RSS. Both clocks are reported; on a shared machine the CPU time of
each process is the steadier one.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
START, END = "<!-- rank-evidence:start (written by benchmarks/rank_evidence.py) -->", "<!-- rank-evidence:end -->"
TARGET, MEMORY_GIB = 15.0, 2.0
FOUR = ["--by", "lalp", "--by", "galp", "--by", "rsr", "--by", "lalp_drop"]


def child(spec: dict) -> None:
    """Run one step in this (fresh) process and print its wall, CPU and peak RSS as JSON."""
    os.environ["HF_DATASETS_CACHE"] = spec["cache"]
    os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
    sys.path.insert(0, spec.get("root") or str(ROOT))
    import pandas as pd

    if spec["args"] is None:
        call = lambda: pd.read_parquet(spec["file"]).groupby("teacher")["lalp"].mean()  # noqa: E731
    else:
        import datasets  # noqa: F401
        import scipy.sparse  # noqa: F401
        import scipy.stats  # noqa: F401
        from click.testing import CliRunner

        from hf_localnat.cli import main as cli
        from hf_localnat.selection import evidence, rank, select  # noqa: F401

        def call():
            result = CliRunner().invoke(cli, spec["args"], catch_exceptions=False)
            if result.exit_code != 0:
                raise SystemExit(f"localnat {' '.join(spec['args'])} failed:\n{result.output}")
            return result.output
    wall, cpu = time.perf_counter(), time.process_time()
    output = call()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    verdicts = [line for line in str(output).splitlines()
                if line.startswith(("LALP:", "GALP:", "RSR:", "LALP_DROP:")) and "p_order(n)" not in line]
    print(json.dumps({"wall": wall, "cpu": cpu, "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "verdicts": verdicts}))


def run_step(file: Path, args: list[str] | None, work: Path, root: Path | None = None) -> dict:
    cache = tempfile.mkdtemp(prefix="cache-", dir=work)
    spec = {"file": str(file), "args": args, "cache": cache, "root": root and str(root)}
    done = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(done.stdout + done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="rows (repeatable)  [default: 10^5 and 10^6]")
    parser.add_argument("--teachers", type=int, default=8)
    parser.add_argument("--write", action="store_true", help="replace the rank-evidence section of RESULTS.md")
    parser.add_argument("--before", metavar="COMMIT", help="also time rank-teachers with 4 scores as of COMMIT (git)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(json.loads(args.child))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from selection_scale import make_scored

    sizes = args.rows or [100_000, 1_000_000]
    truth = [f"--truth=teacher-{i}={i}" for i in range(args.teachers)]
    work = Path(tempfile.mkdtemp(prefix="localnat-bench-"))
    before = None
    if args.before:  # the package as of that commit, unpacked beside the inputs
        before = work / "before"
        before.mkdir()
        archive = subprocess.run(["git", "archive", args.before, "hf_localnat"], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
    results: dict[int, dict[str, dict]] = {}
    for rows in sizes:
        file = work / f"scored-{rows}.parquet"
        make_scored(file, rows, teachers=args.teachers, other_scores=True)
        steps = {
            "pandas: read + per-teacher mean LALP": None,
            "rank-teachers --by lalp": ["rank-teachers", str(file), "--by", "lalp"],
            "rank-teachers, 4 scores": ["rank-teachers", str(file), *FOUR],
            "rank-teachers --by lalp --truth": ["rank-teachers", str(file), "--by", "lalp", *truth],
            "rank-teachers, 4 scores --truth": ["rank-teachers", str(file), *FOUR, *truth],
            "select (by LALP, correct only)": ["select", str(file), "-o", str(work / f"curated-{rows}.parquet"),
                                               "--correct-column", "correct", "--overwrite"],
        }
        results[rows] = {name: run_step(file, step, work) for name, step in steps.items()}
        if before:
            results[rows][f"rank-teachers, 4 scores, as of {args.before}"] = run_step(
                file, steps["rank-teachers, 4 scores"], work, before)
        for name, r in results[rows].items():
            print(f"{rows:>9,} rows | {name:<36} {r['wall']:7.2f} s wall {r['cpu']:7.2f} s CPU "
                  f"{r['rss_mib']:7.0f} MiB", flush=True)

    lines = [
        f"## Ranking evidence and select at {' and '.join(f'{n:,}' for n in sizes)} scored rows",
        "",
        f"Command: `python benchmarks/rank_evidence.py{''.join(f' --rows {n}' for n in args.rows or [])}"
        f"{f' --before {args.before}' if args.before else ''}`",
        "",
        f"Machine: {platform.processor() or platform.machine()}; {os.cpu_count()} CPU cores visible; "
        f"{platform.platform()}; Python {platform.python_version()}; {datetime.date.today()}. Load average at the "
        f"end: {os.getloadavg()[0]:.1f}.",
        "",
        f"{args.teachers} teachers, 1,000 resamples (the default); 4 scores = LALP, GALP, RSR, LALP_DROP (on which the teachers are too close to order, so the projection runs wherever the questions are fewer than 100,000); --truth gives "
        "each teacher a value. Each step is a fresh process timed after its imports; RSS is its peak resident memory "
        f"(target under {MEMORY_GIB:g} GiB). Ratios are to the pandas baseline of the same size "
        f"(target <= {TARGET:g}x).",
        "",
        "| rows | step | wall, s | CPU, s | wall / baseline | CPU / baseline | peak RSS, MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for rows, steps in results.items():
        base = steps["pandas: read + per-teacher mean LALP"]
        for name, r in steps.items():
            lines.append(f"| {rows:,} | {name} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['wall'] / base['wall']:.1f}x "
                         f"| {r['cpu'] / base['cpu']:.1f}x | {r['rss_mib']:.0f} |")
    if len(results) > 1:
        small, large = min(results), max(results)
        lines += ["", f"Growth from {small:,} to {large:,} rows (x{large // small}), CPU time:"]
        for name in results[small]:
            lines.append(f"- {name}: x{results[large][name]['cpu'] / results[small][name]['cpu']:.1f}")
    verdicts = results[max(results)]["rank-teachers, 4 scores"]["verdicts"]
    lines += ["", "Verdicts at the largest size: " + " | ".join(verdicts)]
    table = "\n".join(lines)
    print(table)
    if args.write:
        from selection_scale import write_block

        write_block(START, END, table)


if __name__ == "__main__":
    main()
