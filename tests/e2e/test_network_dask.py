"""A Dask scheduler and two workers as pods behind a hand-written Service, on the pod
network; a distributed.Client in the test process computes a sum through the Service."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Iterator

import pytest

from orchestrator import ControlPlane, network
from tests.e2e.network_harness import NetworkHarness, poll

distributed = pytest.importorskip("distributed")
DASK = str(Path(sys.executable).parent / "dask")


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetworkHarness]:
    # No nodes or scheduler: the harness plays the runtime (see network_harness.py).
    with ControlPlane(data_dir=tmp_path_factory.mktemp("cp"), components=()) as cp:
        harness = NetworkHarness(cp, ingress_port=None).start()
        try:
            yield harness
        finally:
            harness.stop()


def test_dask_cluster_over_services(net: NetworkHarness) -> None:
    # Two schedulers on the same ports, side by side: each pod has its own IP.
    for name in ("sched", "other-sched"):
        pod = net.create_pod(name, {"app": name}, ports=[
            {"name": "comm", "containerPort": 8786}, {"name": "dash", "containerPort": 8787}])
        ip, _ = net.start_process(pod, [DASK, "scheduler"], wait_line=None)
        # Ready once it listens, as a tcpSocket readiness probe would say.
        poll(lambda ip=ip: socket.create_connection((ip, 8786), timeout=1).close() or True,
             timeout=60)
        net.set_status(pod, ip, True)
        net.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                   "spec": {"selector": {"app": name},
                            "ports": [{"name": "comm", "port": 8786, "targetPort": "comm"}]}})
    for i in range(2):
        pod = net.create_pod(f"worker-{i}", {"app": "worker"})
        ip, _ = net.start_process(pod, [DASK, "worker", "tcp://sched.default:8786",
                                        "--nthreads", "1", "--no-nanny"], wait_line=None)
        net.set_status(pod, ip, True)
    network.use_cluster_dns(net.cp.kubeconfig)
    try:
        with distributed.Client("tcp://sched.default:8786", timeout=30) as client:
            poll(lambda: len(client.scheduler_info()["workers"]) == 2, timeout=60)
            futures = client.map(lambda x: x * x, range(100))
            assert client.submit(sum, futures).result(timeout=30) == sum(x * x for x in range(100))
        with distributed.Client("tcp://other-sched:8786", timeout=30) as other:
            assert other.scheduler_info()["workers"] == {}
    finally:
        network.stop_cluster_dns()
