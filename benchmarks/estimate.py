"""What `localnat estimate` costs against scoring the same rows (issue: under a tenth on a CPU machine).

    python benchmarks/estimate.py              # the first 8 rows of the bundled sample, the embedded SmolLM2
    python benchmarks/estimate.py --rows 32    # the whole sample (a few CPU-minutes of scoring)

Both run in this process, side by side, on the same rows and definition: `scoring.estimate.estimate_rows` (tokenizer and
config only) and `LocalNaturalnessScorer.score` (the model; loaded before the clock starts, like the estimate's
tokenizer is not). Wall time, and the ratio.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hf_localnat import LocalNaturalnessScorer  # noqa: E402
from hf_localnat.scoring.estimate import estimate_rows  # noqa: E402
from hf_localnat.io import load_input  # noqa: E402
from hf_localnat.sample import SAMPLE_PATH  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    rows = load_input(str(SAMPLE_PATH)).select(range(args.rows))
    options = dict(window=4, segmenter="sentence", prompt_format="auto", max_length=None, response_part="full")
    estimate_rows(rows.select([0]), model=args.model, revision=None, **options)  # warm: load once
    start = time.perf_counter()
    counts, _ = estimate_rows(rows, model=args.model, revision=None, **options)
    estimate = time.perf_counter() - start
    scorer = LocalNaturalnessScorer(args.model, **{k: v for k, v in options.items()})
    scorer.score(["Warm up."], ["?"])
    start = time.perf_counter()
    scorer.score(rows["response"], rows["question"])
    scoring = time.perf_counter() - start
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; {args.rows} rows, "
          f"{counts.response_tokens} response tokens, {counts.window_tokens} window tokens")
    print(f"estimate {estimate:.3f} s; score {scoring:.1f} s; estimate / score = {estimate / scoring:.4f}")


if __name__ == "__main__":
    main()
