"""`select --where` at scale: the validity filters' cost next to the selection they come before.

    python benchmarks/select_where.py                 # 10^6 rows, 3 filters
    python benchmarks/select_where.py --rows 200000

Rows: `rows / 4` questions x 4 teachers with a score and the trace columns of SPEC §14 (`repeat_share` with 5% NaN,
`error_share`, a boolean `resolved`), in memory. Timed (the best of `--repeat` runs, this process's CPU time and the
wall clock): `where.where_reasons` alone (every filter: one Arrow compute call over its column), and
`select_responses` without and with the filters (`with_messages=False`: the selection, not the conversation
column). The ratio with/without says what the filters add to a selection; it is below 1 when they leave fewer
candidates to order.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

FILTERS = ["repeat_share < 0.5", "error_share <= 0.2", "resolved"]


def make_rows(rows: int, seed: int = 0):
    from datasets import Dataset

    rng = np.random.default_rng(seed)
    q = np.repeat(np.arange(rows // 4 + 1), 4)[:rows]
    t = np.tile(np.arange(4), rows // 4 + 1)[:rows]
    repeat_share = rng.choice([0.0, 0.25, 0.5, 0.75], rows)
    repeat_share[rng.random(rows) < 0.05] = np.nan
    return Dataset(pa.table({
        "question_id": pa.array(np.char.add("q-", q.astype("U9"))),
        "teacher": pa.array(np.char.add("teacher-", t.astype("U1"))),
        "lalp": rng.normal(-1.0, 0.3, rows), "repeat_share": repeat_share, "error_share": rng.random(rows),
        "resolved": pa.array(rng.random(rows) < 0.7),
    }))


def best_of(function, repeat: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of the fastest of `repeat` runs."""
    runs = []
    for _ in range(repeat):
        cpu, wall = time.process_time(), time.perf_counter()
        function()
        runs.append((time.process_time() - cpu, time.perf_counter() - wall))
    return min(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from hf_localnat.selection.select import select_responses
    from hf_localnat.selection.where import parse_conditions, where_reasons

    dataset = make_rows(args.rows)
    conditions = parse_conditions(FILTERS)
    filters = best_of(lambda: where_reasons(dataset, conditions), args.repeat)
    plain = best_of(lambda: select_responses(dataset, with_messages=False), args.repeat)
    filtered = best_of(lambda: select_responses(dataset, with_messages=False, where=FILTERS), args.repeat)
    kept = select_responses(dataset, with_messages=False, where=FILTERS).selected.num_rows
    print(f"{args.rows} rows, filters {FILTERS}: {kept} kept")
    print(f"{'':<28}{'CPU s':>8}{'wall s':>8}")
    for name, (cpu, wall) in (("where_reasons (3 filters)", filters), ("select", plain),
                              ("select --where (3 filters)", filtered)):
        print(f"{name:<28}{cpu:>8.3f}{wall:>8.3f}")
    print(f"select --where / select: {filtered[0] / plain[0]:.2f} (CPU), {filtered[1] / plain[1]:.2f} (wall)")


if __name__ == "__main__":
    main()
