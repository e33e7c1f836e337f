"""examples/quickstart.ipynb runs from top to bottom in a real Jupyter kernel (nbclient + ipykernel): a failing cell
fails the test, and the results show themselves (HTML) where the notebook says they do."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"
#: Seconds one cell may take (scoring 8 rows with the embedded student on a busy 2-core CPU takes a few minutes).
CELL_TIMEOUT_S = 1200


def test_the_notebook_is_stored_without_outputs():
    """Stored clean: no outputs or execution counts (they would go stale), and a kernel any Jupyter has."""
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)
    assert notebook.metadata.kernelspec.name == "python3"


@pytest.mark.slow
def test_quickstart_notebook_runs(tmp_path, embedded_path, hub_server):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from jupyter_client.kernelspec import KernelSpecManager

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # The kernel is this interpreter (ipykernel's own spec), with this checkout first on its path; it inherits this
    # session's environment (its HF_HOME, the local Hub's HF_ENDPOINT: nothing reaches the network).
    spec = KernelSpecManager().get_kernel_spec("python3")
    assert Path(spec.argv[0]).name.startswith("python")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    client = nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=env)  # raises CellExecutionError, with the cell and its traceback, when a cell fails

    outputs = {i: cell.outputs for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"}
    assert not [o for cells in outputs.values() for o in cells if o.output_type == "error"]
    html = [o["data"]["text/html"] for cells in outputs.values() for o in cells if "text/html" in o.get("data", {})]
    ranking = [page for page in html if "How sure is the order" in page]
    assert ranking, "the ranking shows its evidence (SPEC §13)"
    assert "clear" in ranking[0] and "terse" in ranking[0] and "p_top" in ranking[0]
    assert "too few" in ranking[0]  # 4 questions: below the floor of 20, nothing projected, and it says so
    assert any("<iframe srcdoc=" in page for page in html), "the step report shows itself"
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                     for cells in outputs.values() for o in cells)
    assert "Dataset(" in text and "messages" in text, "the published folder loads as a dataset"
    assert sys.executable  # the kernel ran this interpreter's packages (the spec above)
