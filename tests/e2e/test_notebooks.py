"""Every notebook in notebooks/ runs headlessly from top to bottom, one kernel each, in a fresh
virtual environment built from the Binder files alone (binder/requirements.txt), started the way
mybinder.org starts it (binder/start, inside a pod that has KUBERNETES_SERVICE_HOST but no API
access). Each notebook starts its own embedded control plane in a temporary data dir. A cell that
raises fails the test; the executed notebook is kept under tests/artifacts/notebooks/.

One environment serves both questions ("do the notebooks run?", "do they run on Binder?"), so the
notebooks run once per suite. It is built with pip from the configured index; `--no-compile`
and pip's own cache keep it to about a minute on 2 cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e import notebook_harness

ROOT = notebook_harness.ROOT
BINDER = ROOT / "binder"
# What a notebook prints that shows it read this checkout's own files: the GPU notebook replays
# the trace slice shipped in data/openb/, never a trace from outside the repository.
PRINTS = {"02-gpu-placement": f"trace: {ROOT / 'data' / 'openb'}\n"}


@pytest.fixture(scope="module")
def binder_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    venv = tmp_path_factory.mktemp("binder") / "venv"
    started = time.monotonic()
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-compile", "--disable-pip-version-check",
         "-r", str(BINDER / "requirements.txt")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"pip install -r binder/requirements.txt failed:\n{done.stderr}"
    print(f"\nbinder environment built in {time.monotonic() - started:.1f}s")
    return python


def test_binder_files() -> None:
    assert (BINDER / "requirements.txt").is_file()
    start = BINDER / "start"
    assert os.access(start, os.X_OK), "binder/start must be executable"
    # Where no service-account token is mounted, start hides the unreachable in-cluster API.
    env = {**os.environ, "KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    out = subprocess.run([str(start), "env"], env=env, capture_output=True, text=True,
                         check=True).stdout
    token = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
    assert ("KUBERNETES_SERVICE_HOST=" in out) == token.exists()


def test_there_are_notebooks() -> None:
    names = {p.stem for p in notebook_harness.NOTEBOOKS}
    assert {"01-quickstart", "02-gpu-placement", "03-training-jobs",
            "04-kubernetes-daskhub"} <= names, names


@pytest.mark.parametrize("notebook", notebook_harness.NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_binder(notebook: Path, binder_python: str, tmp_path: Path) -> None:
    result = notebook_harness.run(
        notebook, tmp_path, python=binder_python, wrapper=[str(BINDER / "start")],
        extra_env={"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"})
    print(f"{result.name}: {result.seconds:.1f}s")
    assert result.returncode == 0, f"{result.name} failed:\n{result.log[-8000:]}"
    expected = PRINTS.get(result.name, "")
    assert expected in result.log, \
        f"{result.name} did not print {expected!r}:\n{result.log[-4000:]}"
