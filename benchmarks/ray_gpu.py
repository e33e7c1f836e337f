"""`localnat score --engine ray --gpus-per-worker 1` against the local engine, on the same GPU, the same student and
the same traces: end-to-end wall time of each command (process start, model load, Ray start and scoring included)
and the largest difference between their scores (SPEC §6: within 0.05 in bfloat16).

    python benchmarks/ray_gpu.py --arch qwen2-1.5b --tokenizer TOKENIZER_DIR --output results.md

The student is a random-initialised real architecture (same FLOPs as trained weights), saved once as a folder so
that both commands load the same weights the way a user's student loads. Traces are the synthetic long traces of
`benchmarks/run.py` (sentences of the bundled sample, shuffled, lengths spread over [n/4, n] tokens).
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
sys.path.insert(0, str(ROOT))

import pyarrow.parquet as pq  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from run import ARCHS, synthetic_traces  # noqa: E402  (benchmarks/run.py)


def build_student(arch: str, tokenizer_dir: str, folder: Path) -> None:
    """Save a random-initialised `arch` (bfloat16) with the tokenizer of `tokenizer_dir` as a model folder."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    config = AutoConfig.for_model("qwen2", **ARCHS[arch])
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(folder)


def run(label: str, args: list[str], env: dict) -> float:
    """Run `localnat score ...` in a fresh process; its wall time in seconds."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "hf_localnat.cli", "score", *args], env=env, text=True,
                          capture_output=True)
    seconds = time.perf_counter() - start
    print(f"--- {label}: rc {done.returncode}, {seconds:.1f} s\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}", flush=True)
    if done.returncode:
        raise SystemExit(f"{label} failed")
    return seconds


def largest_difference(a: Path, b: Path) -> dict:
    """Row-for-row comparison of two scored Parquet files: the largest |difference| of lalp, galp and step scores,
    and whether their errors and provenance agree."""
    ta, tb = pq.read_table(a), pq.read_table(b)
    worst = {"lalp": 0.0, "galp": 0.0, "lalp_steps": 0.0}
    for name in worst:
        for x, y in zip(ta.column(name).to_pylist(), tb.column(name).to_pylist(), strict=True):
            pairs = zip(x, y, strict=True) if name == "lalp_steps" else [(x, y)]
            for u, v in pairs:
                if (u is None) != (v is None):
                    raise SystemExit(f"{name}: one side scored, the other not")
                if u is not None:
                    worst[name] = max(worst[name], abs(u - v))
    same_errors = ta.column("score_error").to_pylist() == tb.column("score_error").to_pylist()
    meta = lambda t: json.loads(t.schema.metadata[b"hf_localnat"])  # noqa: E731
    return {**worst, "same_errors": same_errors, "same_provenance": meta(ta) == meta(tb), "rows": ta.num_rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="qwen2-1.5b", choices=sorted(ARCHS))
    parser.add_argument("--tokenizer", required=True, help="tokenizer folder")
    parser.add_argument("--synthetic", default="1024,4096", help="comma-separated longest response lengths")
    parser.add_argument("--per-length", type=int, default=32)
    parser.add_argument("--gpus-per-worker", default="1", help="0 for a CPU smoke test of this script")
    parser.add_argument("--output", default="ray_gpu.md")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ray-gpu-"))
    build_student(args.arch, args.tokenizer, work / "student")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    lengths = [int(n) for n in args.synthetic.split(",")]
    responses, questions = synthetic_traces(tokenizer, lengths, args.per_length)
    traces = work / "traces.jsonl"
    traces.write_text("".join(json.dumps({"question": q, "response": r}) + "\n" for q, r in zip(questions, responses)))
    tokens = sum(len(tokenizer(r, add_special_tokens=False)["input_ids"]) for r in responses)

    env = {**os.environ, "HF_DATASETS_CACHE": str(work / "cache"), "PYTHONUNBUFFERED": "1"}
    common = ["--model", str(work / "student"), "--dtype", "bfloat16"]
    local = run("local", [str(traces), "-o", str(work / "local.parquet"), *common], env)
    ray = run("ray", [str(traces), "-o", str(work / "ray.parquet"), *common, "--engine", "ray", "--workers", "1",
                      "--gpus-per-worker", args.gpus_per_worker], env)
    diff = largest_difference(work / "local.parquet", work / "ray.parquet")
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    body = "\n".join([
        f"Machine: {name}; torch {torch.__version__}. Student: random-init {args.arch}, bfloat16, saved as a folder.",
        f"Traces: {len(responses)} synthetic, longest {args.synthetic} tokens ({tokens} response tokens in all).",
        "",
        "| command | wall (s, process start to file written) | ratio |",
        "|---|---|---|",
        f"| `localnat score` (local engine) | {local:.1f} | 1.00 |",
        f"| `localnat score --engine ray --workers 1 --gpus-per-worker {args.gpus_per_worker}` | {ray:.1f} | {ray / local:.2f} |",
        "",
        f"Largest |difference| ray vs local over {diff['rows']} rows: lalp {diff['lalp']:.2e}, galp {diff['galp']:.2e},"
        f" step scores {diff['lalp_steps']:.2e} (SPEC §6 bfloat16 tolerance 0.05); same score_error per row: "
        f"{diff['same_errors']}; same provenance: {diff['same_provenance']}.",
    ])
    print(body)
    Path(args.output).write_text(body + "\n")


if __name__ == "__main__":
    main()
