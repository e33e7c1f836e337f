"""`localnat score --engine ray` on a real 2-node local Ray cluster (`ray.cluster_utils.Cluster`, CPU, the tiny
model): the same rows as one process, in input order; both nodes work; a killed actor loses nothing; an interrupted
run resumes without rescoring its finished shards."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

ray = pytest.importorskip("ray")

from hf_localnat.io import read_provenance  # noqa: E402
from hf_localnat.cli import main  # noqa: E402
from hf_localnat.io import load_input  # noqa: E402
from hf_localnat.scoring.ray_engine import score_with_ray, shard_folder  # noqa: E402
from hf_localnat.scoring.scorer import LocalNaturalnessScorer  # noqa: E402

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[1]
MB = 2**20


@pytest.fixture(scope="module")
def cluster():
    """A head node and a second node, one CPU each (so two actors must land on different nodes)."""
    from ray.cluster_utils import Cluster

    node = dict(num_cpus=1, object_store_memory=80 * MB)
    cluster = Cluster(initialize_head=True, head_node_args=dict(node, include_dashboard=False))
    cluster.add_node(**node)
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    """40 rows: varied lengths, and the bad rows every engine must give the same reasons."""
    words = "First we add the numbers. Then we check the sum. So the answer is {n}.\n\nDone."
    out = [{"question": f"What is {n} + {n}?", "response": words.format(n=n) * (1 + n % 3)} for n in range(36)]
    out[3]["response"] = ""
    out[7]["response"] = None
    out[11]["response"] = "   \n"
    out[20]["question"] = None
    return out + [{"question": "q", "response": "One step."}] * 4


@pytest.fixture(scope="module")
def data(tmp_path_factory, rows) -> Path:
    path = tmp_path_factory.mktemp("ray-data") / "traces.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def reference_path(tmp_path_factory, data, tiny_model_path) -> Path:
    """The single-process CLI's output."""
    out = tmp_path_factory.mktemp("ray-ref") / "ref.parquet"
    result = CliRunner().invoke(main, ["score", str(data), "-o", str(out), "--model", str(tiny_model_path),
                                       "--window", "2"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def reference(reference_path) -> list[dict]:
    return load_input(str(reference_path)).to_list()


def _same(got: list[dict], expected: list[dict]) -> None:
    """Row for row, in order; scores within SPEC §6's float32 tolerance, everything else equal."""
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        assert list(a) == list(b)
        for key in a:
            if key in ("lalp", "galp") and a[key] is not None and b[key] is not None:
                assert math.isclose(a[key], b[key], abs_tol=1e-4), (key, a, b)
            elif key == "lalp_steps":
                assert len(a[key]) == len(b[key])
                assert all((x is None) == (y is None) and (x is None or abs(x - y) <= 1e-4)
                           for x, y in zip(a[key], b[key], strict=True))
            else:
                assert a[key] == b[key], (key, a, b)


def test_ray_cli_equals_one_process_in_order_and_both_nodes_work(cluster, tmp_path, data, reference, reference_path,
                                                                 tiny_model_path):
    out = tmp_path / "scored.parquet"
    result = CliRunner().invoke(main, ["score", str(data), "-o", str(out), "--model", str(tiny_model_path),
                                       "--window", "2", "--engine", "ray", "--workers", "2", "--batch-size", "4",
                                       "--shard-rows", "8"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    got = load_input(str(out)).to_list()
    _same(got, reference)
    assert read_provenance(out) == read_provenance(reference_path) is not None  # same student, settings, version
    assert {r["score_error"] for r in got} >= {"empty_response", "missing_response"}
    per_node = json.loads(result.output.split("rows per node: ")[1].split("]")[0] + "]")
    assert len(per_node) == 2 and min(per_node) > 0 and sum(per_node) == len(reference)  # both nodes did work
    assert not shard_folder(out).exists()  # the resume state is gone once the output is written


def test_a_killed_actor_is_restarted_and_nothing_is_lost(cluster, tmp_path, data, reference, tiny_model_path):
    scorer = LocalNaturalnessScorer(str(tiny_model_path), window=2)
    out, stats, errors = tmp_path / "scored.jsonl", {}, []

    def run():
        try:
            score_with_ray(scorer, str(data), out, workers=2, batch_size=1, shard_rows=4, stats=stats)
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    killed = None
    deadline = time.monotonic() + 240
    while thread.is_alive() and time.monotonic() < deadline:
        workers = dict(stats.get("workers", {}))
        if workers and sum(workers.values()) >= 6:  # mid-run: some rows scored, most not
            killed = max(workers, key=workers.get)
            os.kill(killed, signal.SIGKILL)
            break
        time.sleep(0.02)
    thread.join(timeout=300)
    assert not errors, errors
    assert killed is not None, "the run finished before an actor could be killed; make it longer"
    _same(load_input(str(out)).to_list(), reference)
    assert sum(stats["workers"].values()) == len(reference)  # every row counted once
    assert len(stats["workers"]) >= 3  # the killed actor's replacement scored rows too


def test_an_interrupted_run_resumes_without_rescoring_finished_shards(cluster, tmp_path, data, reference,
                                                                     tiny_model_path):
    out = tmp_path / "scored.parquet"
    command = [sys.executable, "-c", "from hf_localnat.cli import main; main()", "score", str(data), "-o", str(out), "--model",
               str(tiny_model_path), "--window", "2", "--engine", "ray", "--ray-address", cluster.address,
               "--workers", "1", "--batch-size", "1", "--shard-rows", "4"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    driver = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    folder = shard_folder(out)
    deadline = time.monotonic() + 240
    while driver.poll() is None and time.monotonic() < deadline:
        if folder.is_dir() and len(list(folder.glob("part-*.parquet"))) >= 2:
            driver.kill()  # the driver dies mid-run, as a Ctrl-C or a lost session would
            break
        time.sleep(0.02)
    driver.wait(timeout=60)
    finished = {p.name: p.stat().st_mtime_ns for p in folder.glob("part-*.parquet")}
    assert not out.exists() and 2 <= len(finished) < 10, (len(finished), driver.stderr.read()[-2000:])

    stats: dict = {}
    score_with_ray(LocalNaturalnessScorer(str(tiny_model_path), window=2), str(data), out, shard_rows=4, stats=stats)
    assert stats["shards"] == 10 and stats["shards_reused"] == len(finished)
    assert stats["rows_scored"] == len(reference) - 4 * len(finished) == sum(stats["workers"].values())
    _same(load_input(str(out)).to_list(), reference)


def test_ray_reads_every_input_shape_like_one_process(cluster, tmp_path, rows, tiny_model_path):
    """Conversations and NAME=INPUT through the Ray engine: the same long rows and scores as the local engine."""
    turns = [[{"from": "human", "value": r["question"]}, {"from": "gpt", "value": r["response"]}] for r in rows[:12]]
    turns[5] = turns[5][:1]  # no assistant turn: invalid_conversation
    for name, part in (("a", turns[:6]), ("b", turns[6:])):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps({"conversations": c}) + "\n" for c in part))
    common = ["a=" + str(tmp_path / "a.jsonl"), "b=" + str(tmp_path / "b.jsonl"), "--model", str(tiny_model_path),
              "--window", "2"]
    local, remote = tmp_path / "local.parquet", tmp_path / "ray.parquet"
    for out, extra in ((local, []), (remote, ["--engine", "ray", "--workers", "2", "--shard-rows", "4"])):
        result = CliRunner().invoke(main, ["score", *common, "-o", str(out), *extra], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "Read conversations (ShareGPT from/value)" in result.output
    got = load_input(str(remote)).to_list()
    _same(got, load_input(str(local)).to_list())
    assert [r["teacher"] for r in got] == ["a"] * 6 + ["b"] * 6 and got[5]["score_error"] == "invalid_conversation"


def test_a_damaged_shard_is_discarded_with_one_warning_and_rescored(cluster, tmp_path, data, reference,
                                                                    tiny_model_path):
    """Shards left by an earlier run (written here from the reference rows, as the engine writes them): one is cut
    short, one holds other values; each is named in one warning line and scored again, the others are reused."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hf_localnat.io.checked import write_checked
    from hf_localnat.records import OUTPUT_COLUMNS, SCHEMA
    from hf_localnat.scoring.ray_engine import shard_key, shard_names

    scorer = LocalNaturalnessScorer(str(tiny_model_path), window=2)
    out = tmp_path / "scored.parquet"
    dataset = load_input(str(data))
    shards = shard_names(dataset.num_rows, 8, shard_key(scorer, dataset))
    folder = shard_folder(out)
    folder.mkdir(parents=True)
    for start, stop, name in shards:
        rows = [{k: r[k] for k in OUTPUT_COLUMNS} for r in reference[start:stop]]
        write_checked(pa.Table.from_pylist(rows, schema=SCHEMA), folder / name, start=start, stop=stop)
    cut, changed = folder / shards[1][2], folder / shards[3][2]
    cut.write_bytes(cut.read_bytes()[:64])
    table = pq.read_table(changed)
    pq.write_table(table.set_column(1, "galp", pa.array([-99.0] * table.num_rows, pa.float64())), changed)
    warnings: list[str] = []
    stats: dict = {}
    score_with_ray(scorer, str(data), out, shard_rows=8, stats=stats, warn=warnings.append)
    assert len(warnings) == 2 and str(cut) in warnings[0] and str(changed) in warnings[1], warnings
    assert "unreadable" in warnings[0] and "checksum" in warnings[1]
    assert stats["shards_reused"] == len(shards) - 2 and stats["rows_scored"] == 16
    _same(load_input(str(out)).to_list(), reference)


def test_an_actor_sizes_its_preparation_pool_by_the_cpus_ray_gave_it(cluster):
    """Several GPU actors share a node: `prepare_workers="auto"` counts the CPUs Ray assigned to the actor, not the
    node's cores (which would start cores/2 processes per actor)."""
    from hf_localnat.scoring.prepare.pool import auto_workers, usable_cpus

    @ray.remote(num_cpus=1)
    def sizes() -> tuple[int, int, int]:
        return usable_cpus(), auto_workers("cuda"), auto_workers("cpu")

    assert ray.get(sizes.remote()) == (1, 1, 0)
    assert usable_cpus() == len(os.sched_getaffinity(0))  # the driver: nothing assigned, the machine's cores


def test_progress_comes_with_every_returned_batch(cluster, tmp_path, data, rows, tiny_model_path):
    """The driver reports the rows of each batch the actors return (issue 30, item 2), after saying how many rows
    are left; they add up to the rows scored."""
    left: list[int] = []
    seen: list[float] = []
    scorer = LocalNaturalnessScorer(str(tiny_model_path), window=2)
    score_with_ray(scorer, str(data), tmp_path / "scored.parquet", batch_size=4, shard_rows=8,
                   before_scoring=left.append, on_rows=seen.append)
    assert left == [len(rows)] and sum(seen) == len(rows) and len(seen) >= 3 and max(seen) <= 8, seen
