"""The DataTrove step against `localnat score` on the same rows: documents per second of each, and their ratio.

    python benchmarks/datatrove_step.py                          # the bundled sample (32 rows), embedded student
    python benchmarks/datatrove_step.py --rows 128 --model ./my-student --batch-size 64

Both run as a fresh process, each with its own empty `datasets` cache, so each wall clock counts the interpreter,
the imports, the model load and the writing: `localnat score IN.jsonl -o OUT.parquet` (one process, `Dataset.map`),
and `JsonlReader -> hf_localnat.datatrove.LocalNaturalnessScorer -> JsonlWriter` on a `LocalPipelineExecutor` with
`--tasks` tasks, one at a time (`workers=1`, so both use the same cores). The scores of the two are compared by row
(SPEC §6: float32 within 1e-4). One run each: on a shared machine, rerun before trusting a ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STEP = """
import sys
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
from hf_localnat.datatrove import LocalNaturalnessScorer
source, out, logs, model, tasks, batch_size = sys.argv[1:7]
LocalPipelineExecutor([
    JsonlReader(source, text_key="response"),
    LocalNaturalnessScorer(model or None, output_folder=out, batch_size=int(batch_size)),
    JsonlWriter(out, expand_metadata=True),
], tasks=int(tasks), workers=1, logging_dir=logs).run()
"""


def _timed(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[:3])} ... failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="", help="student (default: the embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--rows", type=int, default=32, help="rows: the bundled sample, repeated")
    parser.add_argument("--tasks", type=int, default=1, help="DataTrove tasks (input files), run one at a time")
    parser.add_argument("--batch-size", type=int, default=64, help="documents per scoring call of the step")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from hf_localnat.sample import SAMPLE_PATH

    sample = [json.loads(line) for line in SAMPLE_PATH.read_text().splitlines() if line.strip()]
    rows = [dict(sample[i % len(sample)], id=f"row-{i}") for i in range(args.rows)]
    with tempfile.TemporaryDirectory(prefix="localnat-dt-bench-") as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        for task in range(args.tasks):
            (tmp / "in" / f"part{task:03d}.jsonl").write_text(
                "".join(json.dumps(r) + "\n" for r in rows[task::args.tasks]))
        (tmp / "all.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                   HF_DATASETS_DISABLE_PROGRESS_BARS="1")
        model_flag = ["--model", args.model] if args.model else []
        cli = _timed([sys.executable, "-m", "hf_localnat.cli", "score", str(tmp / "all.jsonl"), "-o",
                      str(tmp / "cli.parquet"), *model_flag], dict(env, HF_DATASETS_CACHE=str(tmp / "cache-cli")))
        step = _timed([sys.executable, "-c", STEP, str(tmp / "in"), str(tmp / "dt"), str(tmp / "logs"), args.model,
                       str(args.tasks), str(args.batch_size)], dict(env, HF_DATASETS_CACHE=str(tmp / "cache-dt")))
        os.environ["HF_DATASETS_CACHE"] = str(tmp / "cache-read")
        from hf_localnat.io import load_input

        by_id = {r["id"]: r["lalp"] for r in load_input(str(tmp / "cli.parquet"))}
        scored = load_input(str(tmp / "dt"))
        gap = max(abs(a - by_id[i]) for i, a in zip(scored["id"], scored["lalp"]) if a is not None)
        tokens = sum(scored["num_tokens"])
    print(f"rows {args.rows}, response tokens {tokens}, model {args.model or 'smollm2-135m-instruct (embedded)'}, "
          f"{os.cpu_count()} CPUs{', ' + str(args.tasks) + ' tasks' if args.tasks > 1 else ''}")
    print(f"localnat score : {cli:7.1f} s  {args.rows / cli:7.2f} docs/s")
    print(f"datatrove step : {step:7.1f} s  {args.rows / step:7.2f} docs/s")
    print(f"ratio (step / localnat score docs/s): {cli / step:.2f}; max |lalp difference| {gap:.2e}")


if __name__ == "__main__":
    main()
