"""`install --wait` → a client computes; needs pods that run (the node runtime). Until the
runtime lands these fail with Helm's wait timeout and our progress lines naming the
workloads that are not ready."""

from __future__ import annotations

import re
import socket
import time

import pytest

from tests.conftest import wait_for
from tests.e2e.charts_helpers import CLI


@pytest.fixture(scope="module")
def cli(control_plane, tmp_path_factory) -> CLI:
    return CLI(control_plane.kubeconfig, tmp_path_factory.mktemp("helm-home"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _workers(address: str) -> int:
    from dask.distributed import Client

    with Client(address, timeout=30) as client:
        return len(client.scheduler_info()["workers"])


def test_install_wait_compute_upgrade_rollback(cli: CLI, kubectl) -> None:
    proc = cli("install", "wd", "dask", "--set", "worker.replicas=2", "--wait",
               "--timeout", "180s", ok=False, timeout=400)
    assert re.search(r"deployment/wd-dask-(scheduler|worker): ", proc.stderr), proc.stderr
    assert proc.returncode == 0, proc.stderr
    port = _free_port()
    forward = kubectl.popen("port-forward", "svc/wd-dask-scheduler", f"{port}:8786")
    try:
        address = f"tcp://127.0.0.1:{port}"
        from dask.distributed import Client

        def compute() -> bool:
            try:
                with Client(address, timeout=10) as client:
                    client.wait_for_workers(2, timeout=60)
                    import dask.array as da

                    return float(da.ones((1000, 1000), chunks=100).sum().compute()) == 1e6
            except OSError:
                return False

        assert wait_for(compute, timeout=120, interval=2)
        cli("upgrade", "wd", "dask", "--set", "worker.replicas=4", "--wait", "--timeout", "180s",
            timeout=400)
        assert wait_for(lambda: _workers(address) == 4, timeout=120, interval=2)
        cli("rollback", "wd", "1", "--wait", "--timeout", "180s", timeout=400)
        assert wait_for(lambda: _workers(address) == 2, timeout=120, interval=2)
    finally:
        forward.terminate()
        forward.wait(timeout=10)
    cli("uninstall", "wd", "--wait", "--timeout", "120s")
    assert wait_for(lambda: kubectl.json("get", "pods", "-l",
                                         "app.kubernetes.io/instance=wd")["items"] == [],
                    timeout=60)


def test_daskhub_reaches_ready(cli: CLI) -> None:
    start = time.monotonic()
    cli("install", "hubw", "daskhub", "-n", "hubw", "--create-namespace", "--wait",
        "--timeout", "240s", timeout=400)
    print(f"daskhub ready in {time.monotonic() - start:.1f}s")
    cli("uninstall", "hubw", "-n", "hubw")
