"""How fast `io.to_long` turns input shapes into long rows (SPEC §9), against a plain Python loop over the rows.

    python benchmarks/shapes.py                 # 10^6 input rows per shape (about 2 minutes, ~6 GiB of memory)
    python benchmarks/shapes.py --rows 100000   # quicker

Three shapes, each as `datasets` would hold it after reading a Parquet file:
- lists: OpenR1-style `problem`, `generations` (3 traces), parallel `correctness` and `finish_reasons` lists;
- conversations: ShareGPT `system` + `conversations` (human/gpt turns);
- wide: DeepMath-style `question`, `r1_solution_1..3`.
Each is made long by `to_long` (Arrow) and, on the first `--loop-rows` rows, by a Python loop that builds the same rows
(`Dataset.from_list` of dicts, the conversion script a user would otherwise write). Wall time per row gives the ratio.
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

import pyarrow as pa  # noqa: E402
from datasets import Dataset  # noqa: E402
from datasets.table import InMemoryTable  # noqa: E402

from hf_localnat.io import to_long  # noqa: E402

TRACE = "First we add the two numbers. Then we check the sum. So the answer is {i}.\n\n" * 3


def lists(n: int) -> Dataset:
    traces = pa.array([TRACE.format(i=i) for i in range(3)] * n)
    offsets = pa.array(range(0, 3 * n + 1, 3), pa.int32())
    return Dataset(InMemoryTable(pa.table({
        "problem": pa.array([f"Problem {i}?" for i in range(n)]),
        "generations": pa.ListArray.from_arrays(offsets, traces),
        "correctness_math_verify": pa.ListArray.from_arrays(offsets, pa.array([True, False, True] * n)),
        "finish_reasons": pa.ListArray.from_arrays(offsets, pa.array(["stop", "stop", "length"] * n)),
    })))


def conversations(n: int) -> Dataset:
    turn = pa.struct([("from", pa.string()), ("value", pa.string())])
    values = pa.StructArray.from_arrays([pa.array(["human", "gpt"] * n),
                                         pa.array([v for i in range(n) for v in (f"Problem {i}?", TRACE)])],
                                        fields=list(turn))
    offsets = pa.array(range(0, 2 * n + 1, 2), pa.int32())
    return Dataset(InMemoryTable(pa.table({"system": pa.array(["Think step by step."] * n),
                                           "conversations": pa.ListArray.from_arrays(offsets, values)})))


def wide(n: int) -> Dataset:
    return Dataset(InMemoryTable(pa.table({"question": pa.array([f"Problem {i}?" for i in range(n)]),
                                           **{f"r1_solution_{k}": pa.array([TRACE] * n) for k in (1, 2, 3)}})))


SHAPES = {
    "lists": (lists, dict(question_column="problem", response_columns=["generations"])),
    "conversations": (conversations, {}),
    "wide": (wide, dict(response_columns=["r1_solution_1", "r1_solution_2", "r1_solution_3"])),
}


def python_loop(name: str, dataset: Dataset) -> Dataset:
    """The same long rows, one Python dict at a time."""
    rows = []
    for row in dataset:
        if name == "lists":
            for j, response in enumerate(row["generations"] or []):
                rows.append({"question": row["problem"], "response": response, "generation_index": j,
                             "correctness_math_verify": row["correctness_math_verify"][j],
                             "finish_reasons": row["finish_reasons"][j]})
        elif name == "conversations":
            turns = row["conversations"]
            rows.append({"system": row["system"], "conversations": turns, "question": turns[0]["value"],
                         "response": turns[1]["value"]})
        else:
            for j in range(3):
                rows.append({"question": row["question"], "response": row[f"r1_solution_{j + 1}"],
                             "generation_index": j, "teacher": f"r1_solution_{j + 1}"})
    return Dataset.from_list(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--loop-rows", type=int, default=50_000)
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; {args.rows} input rows per shape; "
          f"the Python loop on the first {args.loop_rows}.")
    print(f"{'shape':<14} {'long rows':>10} {'to_long s':>10} {'rows/s':>12} {'loop rows/s':>12} {'ratio':>7}")
    for name, (make, options) in SHAPES.items():
        dataset = make(args.rows)
        start = time.perf_counter()
        long = to_long(dataset, **options).dataset
        seconds = time.perf_counter() - start
        few = dataset.select(range(min(args.loop_rows, args.rows)))
        start = time.perf_counter()
        python_loop(name, few)
        loop = (time.perf_counter() - start) / few.num_rows
        print(f"{name:<14} {long.num_rows:>10} {seconds:>10.2f} {args.rows / seconds:>12.0f} {1 / loop:>12.0f} "
              f"{loop * args.rows / seconds:>6.0f}x")


if __name__ == "__main__":
    main()
