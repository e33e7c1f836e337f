"""The input/output layer: everything that reads data, changes its shape, or writes it, one job a module.

- `read`: any input (a file, a `save_to_disk` folder, a Hub id, an fsspec URL) -> `datasets.Dataset`, and the
  provenance recorded with a scored one (`read_provenance`).
- `shapes`: every input shape (flat, conversations, lists of responses, one column per response, several inputs)
  -> long rows, one per response (SPEC §9): `to_long`; `read_inputs` for `NAME=INPUT` lists.
- `parts`: the scored part of a response (`full`, the `<think>` block, or the answer after it).
- `pool`: several scored inputs -> one dataset, refusing inputs scored under different definitions.
- `columns`: the columns an operation needs.
- `write`: a dataset -> a file or folder, atomically, never replacing what this project did not write.
- `checked`: state files (checkpoints, shards) written with their row range and a checksum, and checked on reading.
- `remote`: the fsspec side of reading and writing URLs.
"""

from .columns import require_columns
from .read import FILE_BUILDERS, load_input, read_provenance
from .pool import pool_provenance, pool_scored
from .shapes import LongRows, ShapeError, read_inputs, split_named_input, to_long
from .faults import translated_os_errors, write_error
from .write import (OUTPUT_MARKER, atomic_output, atomic_outputs, check_output, check_target, clean_stale,
                    output_exists, save_output, save_outputs, write_parquet)

__all__ = [
    "FILE_BUILDERS", "OUTPUT_MARKER", "LongRows", "ShapeError", "atomic_output", "atomic_outputs", "check_output",
    "check_target", "clean_stale", "load_input", "output_exists", "pool_provenance", "pool_scored", "read_inputs",
    "read_provenance", "require_columns", "save_output", "save_outputs", "split_named_input", "to_long", "translated_os_errors",
    "write_error", "write_parquet",
]
