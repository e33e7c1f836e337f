"""`rank-teachers` with the ranking evidence (SPEC §13) on 10^6 scored rows, 8 teachers and 1,000 resamples, beside
today's `rank-teachers` (without the evidence) in the same run.

    python benchmarks/rank_evidence.py                    # 10^6 rows, 8 teachers, 1000 resamples
    python benchmarks/rank_evidence.py --rows 200000      # smaller

Rows come from `selection_scale.make_scored` (the scorer's columns; 1% unscored). Timed on the same loaded dataset
(the evidence is what differs): `rank_teachers` as it was before the evidence (commit b246848, loaded from git; the
current code with `evidence=False` when git cannot give it), and the current `rank_teachers` with every figure of
SPEC §13 for LALP and GALP; then the whole command `localnat rank-teachers FILE` through click, reading the file.
Goal: the evidence run under a minute. Wall and CPU time of this process are both reported; on a shared machine,
rerun before trusting a ratio.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from selection_scale import make_scored  # noqa: E402  (sets a fresh datasets cache before `datasets` loads)

BEFORE = "b246848"  # the commit before the evidence


def old_rank_teachers():
    """`rank_teachers` as of `BEFORE`, loaded into the package from git (`None` when git cannot give it)."""
    try:
        source = subprocess.run(["git", "show", f"{BEFORE}:hf_localnat/selection/rank.py"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    spec = importlib.util.spec_from_loader("hf_localnat.selection._rank_before", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "hf_localnat.selection"
    sys.modules[spec.name] = module
    exec(compile(source, f"{BEFORE}:rank.py", "exec"), module.__dict__)
    return module.rank_teachers


def timed(call):
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--teachers", type=int, default=8)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()

    from click.testing import CliRunner
    from datasets import load_dataset

    from hf_localnat.cli import main as cli
    from hf_localnat.selection.rank import rank_teachers

    with tempfile.TemporaryDirectory(prefix="localnat-bench-") as tmp:
        path = Path(tmp) / "scored.parquet"
        make_scored(path, args.rows, teachers=args.teachers)
        dataset = load_dataset("parquet", data_files=str(path), split="train")
        before = old_rank_teachers()
        label = f"today's rank_teachers ({BEFORE}, no evidence)" if before else "rank_teachers(evidence=False)"
        before = before or (lambda ds, **kw: rank_teachers(ds, evidence=False, **kw))
        old, old_wall, old_cpu = timed(lambda: before(dataset, num_resamples=args.resamples, seed=0))
        new, new_wall, new_cpu = timed(lambda: rank_teachers(dataset, num_resamples=args.resamples, seed=0))
        assert [t.teacher for t in old.teachers] == [t.teacher for t in new.teachers]
        result, cli_wall, cli_cpu = timed(lambda: CliRunner().invoke(
            cli, ["rank-teachers", str(path), "--resamples", str(args.resamples)]))
        assert result.exit_code == 0, result.output
    print(f"Machine: {platform.processor() or platform.machine()}, {platform.python_version()}; "
          f"{args.rows} rows, {args.teachers} teachers, {new.num_questions} questions, {args.resamples} resamples.")
    print(f"{label}: {old_wall:.1f} s wall ({old_cpu:.1f} s CPU)")
    print(f"rank_teachers with the evidence (LALP, GALP): {new_wall:.1f} s wall ({new_cpu:.1f} s CPU); "
          f"evidence costs {new_wall - old_wall:+.1f} s")
    print(f"localnat rank-teachers FILE (read + rank + evidence + print): {cli_wall:.1f} s wall ({cli_cpu:.1f} s CPU)")
    print("Verdicts: " + " | ".join(new.verdicts))


if __name__ == "__main__":
    main()
