"""Faults a Dask cluster on the embedded control plane lives through: a killed worker process,
a killed operator pod, a control plane that crashes and comes back. (A dead notebook kernel:
`test_dask_clusters.py::test_dead_client_cluster_is_reaped`; no work lost on graceful
scale-down: `test_compute_scale_up_and_graceful_scale_down`.)"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from daskhub_lite import DaskCluster
from orchestrator import ControlPlane
from tests.e2e import dask_harness
from tests.e2e.dask_harness import poll
from tests.e2e.runtime_harness import FAST_BACKOFF, pids_with, runtime_env

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # kr8s: untested k8s version
WORKERS_TIMEOUT = 60


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with runtime_env():  # restarts after a crash within seconds, not a minute
        yield from dask_harness.start(tmp_path_factory.mktemp("cp"))


def _square_sum(client: object) -> int:
    futures = client.map(lambda x: x * x, range(20), pure=False)  # type: ignore[attr-defined]
    return int(client.submit(sum, futures).result(timeout=30))  # type: ignore[attr-defined]


def _dask_worker_pids(name: str) -> list[int]:
    """The `dask worker --name <name>…` processes (not the container shims naming the pod)."""
    return [pid for pid in pids_with(name)
            if b"--name" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def test_killed_worker_process_is_replaced_and_rejoins(cp: ControlPlane) -> None:
    with DaskCluster("kw", n_workers=1, kubeconfig=cp.kubeconfig, idle_timeout=0) as cluster:
        client = cluster.get_client()
        client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
        before = set(client.scheduler_info()["workers"])
        pids = poll(lambda: _dask_worker_pids("kw-default-worker"))
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        poll(lambda: set(client.scheduler_info()["workers"]) - before, WORKERS_TIMEOUT)
        assert _square_sum(client) == 2470
        restarts = dask_harness.kubectl(
            cp, "get", "pods", "-l", "dask.org/cluster-name=kw,dask.org/component=worker",
            "-o", "jsonpath={.items[0].status.containerStatuses[0].restartCount}")
        assert restarts.strip() not in ("", "0"), restarts
        client.close()


def test_killed_operator_pod_clusters_keep_computing_operator_resumes(
        cp: ControlPlane) -> None:
    with DaskCluster("ko", n_workers=1, kubeconfig=cp.kubeconfig, idle_timeout=0) as cluster:
        client = cluster.get_client()
        client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
        out = dask_harness.kubectl(cp, "delete", "pods", "-n", "dask-operator", "--all",
                                   "--wait=false")
        assert "deleted" in out, out
        assert _square_sum(client) == 2470  # no operator needed to compute
        poll(lambda: "Running" in dask_harness.kubectl(
            cp, "get", "pods", "-n", "dask-operator",
            "-o", "jsonpath={.items[*].status.phase}"), 60)
        cluster.scale(2)  # only the (new) operator makes worker Deployments
        client.wait_for_workers(2, timeout=WORKERS_TIMEOUT)
        client.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SCHEDULER = "/dask/default/survivor"  # its --dashboard-prefix: only the scheduler says it


def test_restarted_control_plane_clusters_survive(tmp_path: Path) -> None:
    data, port, ingress = tmp_path / "data", _free_port(), _free_port()
    up = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "up", "--foreground",
                           "--data-dir", str(data), "--port", str(port), "--ingress-port",
                           str(ingress)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True, env={**os.environ, **FAST_BACKOFF}, start_new_session=True)
    assert up.stdout is not None
    try:
        assert any(line.startswith("export KUBECONFIG") for line in up.stdout)
        kubeconfig = str(data / "kubeconfig")
        from daskhub_lite.clusters import target

        target.ensure_operator(kubeconfig)
        cluster = DaskCluster("survivor", n_workers=1, kubeconfig=kubeconfig, idle_timeout=0)
        with cluster.get_client() as client:
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
            assert _square_sum(client) == 2470
        scheduler = pids_with(SCHEDULER)
        cluster.shutdown_on_close = False
        cluster.close()
    finally:
        up.send_signal(signal.SIGKILL)  # a crash: pods are left running
        up.wait(10)
    (data / "controlplane.pid").unlink(missing_ok=True)
    assert scheduler and pids_with(SCHEDULER) == scheduler
    with runtime_env(), ControlPlane(data_dir=data, port=port, ingress_port=ingress):
        again = DaskCluster.from_name("survivor", kubeconfig=kubeconfig, shutdown_on_close=True)
        with again.get_client() as client:
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
            assert _square_sum(client) == 2470
        assert pids_with(SCHEDULER) == scheduler  # adopted, not restarted
        again.close()
    poll(lambda: not pids_with(SCHEDULER) and not pids_with("survivor-default"), 15)
