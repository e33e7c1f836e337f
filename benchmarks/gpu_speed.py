"""The GPU speed record of issue 20: the CLI default path against today's dense path, random-init students in bf16.

For each architecture and trace length it scores the same synthetic traces (sentences of the bundled sample, about
2K, 8K and 16K response tokens) twice in one process:
- `default`: `LocalNaturalnessScorer` with no options on a student loaded as `localnat score` loads it on CUDA
  (`models.GPU_ATTENTION`): packed windows, each question's prompt once per pack, preparation in worker processes;
- `dense`: the same weights on SDPA, which scores in dense padded batches (the CUDA default before).
Each record has the SPEC §10 counts per second (`estimate.count_tokens`), the MFU of the model tokens
(2 x N x model_tokens against the matmul rate measured in this run), the share of wall time the model waited for
prepared rows, the peak memory, and the largest |difference| of step scores and GALP against the plain per-step path
(dense, no reuse of any kind) on the first rows. A warm-up call (kernel compilation) is left out of the timings.

    python benchmarks/gpu_speed.py --output $OUT/gpu.json                                  # on a GPU, <= 8 min
    python benchmarks/gpu_speed.py --arch qwen2-tiny --lengths 256 --device cpu --output /tmp/gpu.json   # smoke test
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch  # noqa: E402

from hf_localnat import LocalNaturalnessScorer  # noqa: E402
from hf_localnat.scoring.estimate import count_tokens, non_embedding_parameters  # noqa: E402
from hf_localnat.scoring.models import GPU_ATTENTION, convert_embedded_model  # noqa: E402
from run import ARCHS, matmul_peak, synthetic_traces  # noqa: E402

ARCHS = {**ARCHS, "qwen2.5-7b": ARCHS["qwen2-7b"]}
# Rows per trace length, so that each (student, length) holds about the same number of response tokens.
ROWS = {2048: 24, 8192: 6, 16384: 3}
PLAIN = dict(prefix_reuse=False, packing=False, bucket_ratio=0.0, reuse_galp=False, prepare_workers=0)


def score_timed(scorer, responses, questions, device) -> tuple[list[dict], float, float | None]:
    """Records, wall seconds and peak extra memory (MiB; `None` off CUDA) of one `score` call."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    start = time.perf_counter()
    out = scorer.score(responses, questions=questions, progress=False)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated() - base) / 2**20 if device.type == "cuda" else None
    return out, seconds, peak


def max_abs_diff(got: list[dict], want: list[dict]) -> float:
    """Largest |difference| of GALP and every step score between two runs over the same rows."""
    worst = 0.0
    for a, b in zip(got, want, strict=True):
        pairs = [(a["galp"], b["galp"]), *zip(a["lalp_steps"], b["lalp_steps"], strict=True)]
        worst = max([worst, *(abs(x - y) for x, y in pairs if x is not None and y is not None)])
    return worst


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="qwen2-1.5b,qwen2.5-7b", help="comma-separated, from benchmarks/run.py")
    parser.add_argument("--lengths", default="2048,8192,16384", help="trace lengths in response tokens")
    parser.add_argument("--rows-scale", type=float, default=1.0, help="multiply the rows per length")
    parser.add_argument("--check-rows", type=int, default=2, help="rows compared with the plain per-step path")
    parser.add_argument("--tokenizer", help="tokenizer folder (default: the embedded model's)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--budget-s", type=float, default=420, help="skip what would start after this many seconds")
    parser.add_argument("--output", required=True, help="JSON file: a list of records, rewritten after each one")
    args = parser.parse_args(argv)

    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    began = time.perf_counter()
    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer or convert_embedded_model())
    peak = matmul_peak(device, dtype)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)"
    print(f"{name}; torch {torch.__version__}; matmul peak {peak / 1e12:.1f} TFLOP/s ({dtype})", flush=True)
    records: list[dict] = []
    lengths = [int(n) for n in args.lengths.split(",")]
    for arch in args.arch.split(","):
        config = AutoConfig.for_model("qwen2", **ARCHS[arch])
        params = non_embedding_parameters(config)
        torch.manual_seed(0)
        implementation = GPU_ATTENTION if device.type == "cuda" else "sdpa"
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=implementation).to(device).eval()
        for length in lengths:
            if time.perf_counter() - began > args.budget_s:
                print(f"skipped {arch} at {length} tokens: past --budget-s", flush=True)
                continue
            rows = max(1, round(ROWS.get(length, 4) * args.rows_scale))
            responses, questions = synthetic_traces(tokenizer, [length], rows, seed=length)
            for path in ("default", "dense"):
                model.set_attn_implementation(implementation if path == "default" else "sdpa")
                scorer = LocalNaturalnessScorer(model, tokenizer)
                counts = count_tokens(tokenizer, scorer.config, scorer.max_length, responses, questions)
                scorer.score(responses[:1], questions=questions[:1], progress=False)  # warm-up: kernels compile
                out, seconds, peak_mib = score_timed(scorer, responses, questions, device)
                check = args.check_rows
                plain = LocalNaturalnessScorer(model, tokenizer, **PLAIN)
                model.set_attn_implementation("sdpa")
                want = plain.score(responses[:check], questions=questions[:check], progress=False)
                record = {
                    "device": name, "arch": arch, "params": params, "dtype": str(dtype).removeprefix("torch."),
                    "path": path, "ran": scorer.path, "trace_tokens": length, "rows": rows, "seconds": round(seconds, 3),
                    "response_tokens_per_s": round(counts.response_tokens / seconds),
                    "window_tokens_per_s": round(counts.window_tokens / seconds),
                    "model_tokens_per_s": round(counts.model_tokens / seconds),
                    "mfu": round(2 * params * counts.model_tokens / seconds / peak, 4),
                    "prep_share": round(scorer.last_run.prepare_wait_seconds / seconds, 4),
                    "peak_mem_mib": None if peak_mib is None else round(peak_mib, 1),
                    "max_abs_diff": round(max_abs_diff(out[:check], want), 5),
                    "matmul_peak_tflops": round(peak / 1e12, 1), "torch": torch.__version__,
                    "date": datetime.date.today().isoformat(),
                }
                records.append(record)
                print(json.dumps(record), flush=True)
                partial = Path(f"{args.output}.partial")  # beside the target, renamed in: never half a file
                partial.write_text(json.dumps(records, indent=1) + "\n")
                os.replace(partial, args.output)
                if scorer._pool is not None:
                    scorer._pool.close()
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    print(f"{len(records)} records in {time.perf_counter() - began:.0f} s -> {args.output}", flush=True)


if __name__ == "__main__":
    main()
