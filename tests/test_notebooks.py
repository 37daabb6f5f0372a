"""Every notebook in notebooks/ runs top to bottom without an error (executed with nbclient, outputs discarded)."""
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient", reason="nbclient is needed to run the notebooks (pip install mixjax[test])")
nbformat = pytest.importorskip("nbformat", reason="nbformat is needed to run the notebooks (pip install mixjax[test])")
pytest.importorskip("ipykernel", reason="ipykernel is needed to run the notebooks (pip install mixjax[test])")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_notebook_runs(path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")  # the kernel inherits this process's environment
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=600,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell errors


def test_notebooks_found():
    assert PATHS, f"no notebooks found in {NOTEBOOKS}"
