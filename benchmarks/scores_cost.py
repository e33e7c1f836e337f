"""What `--scores all` (rsr, galp_drop, lalp_drop from the same passes, SPEC §11) costs over the default scores.

    python benchmarks/scores_cost.py                         # the bundled sample (32 rows), embedded student, CPU
    python benchmarks/scores_cost.py --rows 64 --rounds 7 --device cuda --model Qwen/Qwen2.5-1.5B-Instruct

One process, one loaded student, two scorers on it: the default (`lalp,galp`) and `scores="all"`. Each scores the
same rows once to warm up, then the two run alternately `--rounds` times (default first, then all, then default, ...),
so that drifts of a shared machine fall on both; the report gives each one's median wall time and their ratio
(the goal: within 5%), and checks that LALP and GALP are the same numbers in both runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="student (default: the embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--rows", type=int, default=32, help="rows: the bundled sample, repeated")
    parser.add_argument("--rounds", type=int, default=5, help="timed runs of each, alternated")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--dtype", default="auto", help="auto = float32 on CPU, bfloat16 on GPU")
    parser.add_argument("--json", action="store_true", help="print one JSON record instead of lines")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    import torch

    from hf_localnat import LocalNaturalnessScorer
    from hf_localnat.sample import SAMPLE_PATH

    sample = [json.loads(line) for line in SAMPLE_PATH.read_text().splitlines() if line.strip()]
    rows = [sample[i % len(sample)] for i in range(args.rows)]
    responses, questions = [r["response"] for r in rows], [r["question"] for r in rows]
    default = LocalNaturalnessScorer(args.model, dtype=args.dtype, device=args.device)
    every = LocalNaturalnessScorer(default.model, default.tokenizer, scores="all", device=args.device)
    device = next(default.model.parameters()).device

    def timed(scorer) -> tuple[float, list[dict]]:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = scorer.score(responses, questions, progress=False)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start, out

    _, base = timed(default)  # warm-up (kernels, allocator, caches)
    _, full = timed(every)
    times: dict[str, list[float]] = {"default": [], "all": []}
    for i in range(args.rounds):
        times["default"].append(timed(default)[0])
        times["all"].append(timed(every)[0])
        print(f"round {i + 1}: default {times['default'][-1]:.2f} s, all {times['all'][-1]:.2f} s", file=sys.stderr,
              flush=True)
    diff = max(abs(a[k] - b[k]) for a, b in zip(base, full, strict=True) for k in ("lalp", "galp")
               if a[k] is not None)
    medians = {name: statistics.median(values) for name, values in times.items()}
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.processor() or 'cpu'}, " \
        f"{torch.get_num_threads()} threads)"
    record = {"device": name, "model": args.model or "smollm2-135m-instruct (embedded)", "rows": args.rows,
              "response_tokens": sum(r["num_tokens"] for r in base), "rounds": args.rounds,
              "seconds_default": medians["default"], "seconds_all": medians["all"],
              "ratio_all_over_default": medians["all"] / medians["default"], "runs": times,
              "max_abs_lalp_galp_difference": diff}
    if args.json:
        print(json.dumps(record, indent=2))
        return
    print(f"{record['device']}, {record['model']}, {args.rows} rows ({record['response_tokens']} response tokens), "
          f"{args.rounds} alternated rounds")
    print(f"default (lalp,galp): median {medians['default']:.2f} s  {[round(t, 2) for t in times['default']]}")
    print(f"--scores all:        median {medians['all']:.2f} s  {[round(t, 2) for t in times['all']]}")
    print(f"ratio all / default: {record['ratio_all_over_default']:.3f} (goal: <= 1.05); LALP and GALP differ by at "
          f"most {diff:.1e} between the two")


if __name__ == "__main__":
    main()
