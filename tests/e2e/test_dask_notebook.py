"""notebooks/01-quickstart.ipynb, executed headlessly against the embedded control plane
(found through KUBECONFIG, as a user's current context would be)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from orchestrator import ControlPlane
from tests.e2e import dask_harness

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "01-quickstart.ipynb"


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    yield from dask_harness.start(tmp_path_factory.mktemp("cp"))


def test_quickstart_notebook_runs(cp: ControlPlane, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("KUBECONFIG", cp.kubeconfig)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "names" in outputs and "4 workers" in outputs and "1 worker" in outputs
    assert dask_harness.kubectl(cp, "get", "daskclusters", "-o", "name").strip() in (
        "", "No resources found in default namespace.")
