"""`localnat score --num-proc 2` on CPU: two processes, each with its own model, give the rows one process gives."""

from __future__ import annotations

import json
import math

from click.testing import CliRunner

from hf_localnat.cli import main
from hf_localnat.io import load_input


def test_num_proc_2_equals_one_process(tmp_path, tiny_model_path):
    rows = [{"question": f"What is {n} * 3?", "response": f"We multiply. {n} * 3 = {3 * n}. The answer is {3 * n}."}
            for n in range(10)] + [{"question": "q", "response": ""}]
    data = tmp_path / "traces.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    outputs = {}
    for procs in (1, 2):
        out = tmp_path / f"scored-{procs}.parquet"
        result = CliRunner().invoke(main, ["score", str(data), "-o", str(out), "--model", str(tiny_model_path),
                                           "--map-batch-size", "3", "--num-proc", str(procs)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        outputs[procs] = load_input(str(out)).to_list()
    assert len(outputs[2]) == len(rows) and outputs[2][-1]["score_error"] == "empty_response"
    for one, two in zip(outputs[1], outputs[2], strict=True):
        assert one["response"] == two["response"] and one["score_error"] == two["score_error"]
        assert one["num_tokens"] == two["num_tokens"] and one["num_steps"] == two["num_steps"]
        for key in ("lalp", "galp"):
            assert (one[key] is None) == (two[key] is None)
            assert one[key] is None or math.isclose(one[key], two[key], abs_tol=1e-4)
