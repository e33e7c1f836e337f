"""Can preparation keep up with a GPU? Rows prepared per second (segment, tokenize, windows) in one thread and in a
`PreparePool` of worker processes, side by side, plus the main process's own share (pack layouts), as window tokens
per second, against the model-token rate a GPU would need them at.

    python benchmarks/prep_rate.py --workers 2 --gpu-rate 135000   # 1.5B at 50% MFU of an H100: ~135K tokens/s
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from transformers import AutoTokenizer  # noqa: E402

from hf_localnat.scoring.compute.packing import pack_layout, pack_length  # noqa: E402
from hf_localnat.scoring.config import ScoringConfig  # noqa: E402
from hf_localnat.scoring.models import convert_embedded_model  # noqa: E402
from hf_localnat.scoring.prepare.pool import PreparePool, prepare_rows  # noqa: E402
from run import synthetic_traces  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--length", type=int, default=8192, help="response tokens per trace")
    parser.add_argument("--gpu-rate", type=float, default=135000, help="model tokens/s the GPU runs")
    args = parser.parse_args(argv)
    tokenizer = AutoTokenizer.from_pretrained(convert_embedded_model())
    config = ScoringConfig()
    responses, questions = synthetic_traces(tokenizer, [args.length], args.rows)
    rows = [(i, r, q, None, None) for i, (r, q) in enumerate(zip(responses, questions, strict=True))]
    chunks = [rows[i : i + 4] for i in range(0, len(rows), 4)]

    start = time.perf_counter()
    prepared = [row for chunk in chunks for row in prepare_rows(tokenizer, config, 32768, chunk, {})]
    one_thread = time.perf_counter() - start
    windows = [w for row in prepared for w in (row.galp, *row.steps)]
    window_tokens = sum(len(w) for w in windows)

    pool = PreparePool(tokenizer, config, 32768, args.workers)
    for future in [pool.submit(rows[:1]) for _ in range(4 * args.workers)]:  # every worker started and warm
        future.result()
    start = time.perf_counter()
    futures = [pool.submit(chunk) for chunk in chunks]
    pooled = [row for f in futures for row in f.result()]
    in_pool = time.perf_counter() - start
    pool.close()
    assert [r.galp.input_ids for r in pooled] == [r.galp.input_ids for r in prepared]

    start = time.perf_counter()
    prefix_lengths = [row.prefix_length for row in prepared for _ in (row.galp, *row.steps)]
    step, total = 64, 0
    for i in range(0, len(windows), step):  # packs of about 64 windows, as the engine lays them out
        layout = pack_layout(windows[i : i + step], prefix_lengths[i : i + step])
        total += len(layout)
    layouts = time.perf_counter() - start
    need = window_tokens / args.gpu_rate  # seconds the GPU would take (window tokens bound model tokens from above)
    print(f"{args.rows} traces of ~{args.length} tokens: {window_tokens} window tokens")
    print(f"prepare, 1 thread:      {window_tokens / one_thread:10.0f} window tokens/s  ({one_thread:.2f} s)")
    print(f"prepare, {args.workers} processes:   {window_tokens / in_pool:10.0f} window tokens/s  ({in_pool:.2f} s, "
          f"{one_thread / in_pool:.2f}x)")
    print(f"pack layouts (main):    {window_tokens / layouts:10.0f} window tokens/s  ({layouts:.2f} s)")
    print(f"at {args.gpu_rate:.0f} tokens/s the GPU needs {need:.2f} s: preparation per worker is "
          f"{one_thread / need:.2f}x that (workers needed to hide it: {one_thread / need:.1f}); the main process's "
          f"pack layouts take {layouts / need:.1%} of it")


if __name__ == "__main__":
    main()
