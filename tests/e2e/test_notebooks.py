"""Every notebook in notebooks/ runs headlessly from top to bottom, one kernel each, as a user
with no cluster configured runs it: each starts its own embedded control plane in a temporary
data dir. A cell that raises fails the test (the log shows the cell and the notebook's output;
the executed notebook is kept under tests/artifacts/notebooks/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import notebook_harness


def test_there_are_notebooks() -> None:
    names = {p.stem for p in notebook_harness.NOTEBOOKS}
    assert {"02-gpu-placement", "04-kubernetes-daskhub"} <= names, names


@pytest.mark.parametrize("notebook", notebook_harness.NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(notebook: Path, tmp_path: Path) -> None:
    result = notebook_harness.run(notebook, tmp_path)
    print(f"{result.name}: {result.seconds:.1f}s")
    assert result.returncode == 0, f"{result.name} failed:\n{result.log[-8000:]}"
