"""Two control planes on one host (two users' `daskhub-lite up`, or tests side by side), each
with the real runtime and pod network: each takes its own loopback pod and service ranges
(orchestrator.planeranges), so both `kubernetes` Services bind, pod IPs never clash, and a
Deployment behind a Service (reached from a pod by DNS name, on a port below 1024) and a
Dask cluster work on both at once. A restart keeps a plane's ranges."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Iterator

import pytest

from orchestrator import ControlPlane
from orchestrator.planeranges import RECORD_NAME, RangesError, held_slots, recorded_ranges
from tests.conftest import Kubectl
from tests.e2e.network_harness import http_get, poll
from tests.e2e.runtime_harness import runtime_env
from tests.e2e.test_network_cluster import apply, netapp, ready_pods, rollout, service

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def planes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ControlPlane]]:
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]
    with ExitStack() as stack:
        stack.enter_context(runtime_env())
        out = [stack.enter_context(ControlPlane(data_dir=tmp_path_factory.mktemp(f"plane-{n}")))
               for n in ("a", "b")]
        yield out


def kubectl_of(cp: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(cp, tmp_path_factory.mktemp("kubectl-cache"))


def test_each_plane_has_its_own_ranges(planes: list[ControlPlane],
                                       tmp_path_factory: pytest.TempPathFactory) -> None:
    a, b = (cp.ranges for cp in planes)
    assert a is not None and b is not None
    assert not a.pod_cidr.overlaps(b.pod_cidr) and not a.service_cidr.overlaps(b.service_cidr)
    assert {a.slot, b.slot} <= set(held_slots())
    assert planes[1].shared_host
    for cp in planes:
        assert cp.ranges is not None
        kubectl = kubectl_of(cp, tmp_path_factory)
        svc = kubectl.json("get", "service", "kubernetes")
        assert svc["spec"]["clusterIP"] == cp.ranges.kubernetes_ip
        # Both bound: the service proxy answers TLS on each plane's kubernetes Service.
        events = kubectl.json("get", "events", "-A")["items"]
        assert not [e for e in events if e["reason"] == "FailedToBindPort"], events


def test_deployment_behind_a_service_reached_by_dns_on_both(
        planes: list[ControlPlane], tmp_path_factory: pytest.TempPathFactory) -> None:
    kubectls = [kubectl_of(cp, tmp_path_factory) for cp in planes]
    for n, kubectl in enumerate(kubectls):
        # Port 80: below 1024, so the hook's privileged-port mapping must know each range.
        apply(kubectl, netapp("web", f"plane-{n}", 8080), service("web", "web", 80))
    for kubectl in kubectls:
        rollout(kubectl, "web")
    pod_ips = []
    for n, (cp, kubectl) in enumerate(zip(planes, kubectls)):
        assert cp.ranges is not None
        pod = ready_pods(kubectl, "web")[0]
        ip = pod["status"]["podIP"]
        pod_ips.append(ip)
        assert ipaddress.ip_address(ip) in cp.ranges.pod_cidr
        cluster_ip = kubectl.json("get", "service", "web")["spec"]["clusterIP"]
        assert ipaddress.ip_address(cluster_ip) in cp.ranges.service_cidr
        # From inside the pod, by the Service's DNS name.
        url = f"http://{ip}:8080/get?url=http://web.default.svc.cluster.local/"
        assert poll(lambda url=url: http_get(url) == f"plane-{n}", timeout=30)
    assert pod_ips[0] != pod_ips[1]


def test_dask_cluster_on_both(planes: list[ControlPlane]) -> None:
    from daskhub_lite import DaskCluster
    from daskhub_lite.clusters import target

    with ExitStack() as stack:
        clients = []
        for n, cp in enumerate(planes):
            target.ensure_operator(cp.kubeconfig)
            cluster = stack.enter_context(
                DaskCluster(f"sum-{n}", n_workers=1, kubeconfig=cp.kubeconfig))
            clients.append((cp, cluster.get_client()))
        for n, (cp, client) in enumerate(clients):
            assert cp.ranges is not None
            client.wait_for_workers(1, timeout=120)
            workers = client.scheduler_info()["workers"]
            assert all(ipaddress.ip_address(w.split("://")[1].rsplit(":", 1)[0])
                       in cp.ranges.pod_cidr for w in workers), workers
            futures = client.map(lambda x, n=n: x * x + n, range(50))
            assert client.submit(sum, futures).result(timeout=60) == sum(
                x * x + n for x in range(50))


def test_restart_keeps_its_ranges(planes: list[ControlPlane], tmp_path: Path) -> None:
    network_only = ("network",)
    first = ControlPlane(data_dir=tmp_path / "c", components=network_only).start()
    second = ControlPlane(data_dir=tmp_path / "d", components=network_only).start()
    assert first.ranges is not None and second.ranges is not None
    kept, taken = first.ranges, second.ranges
    assert kept != taken
    first.stop()
    # Another plane takes the slot `c` just freed (its data dir names it), so `c` may not
    # restart on it: its stored objects use those addresses.
    (tmp_path / "e").mkdir(mode=0o700)
    (tmp_path / "e" / RECORD_NAME).write_text(f'{{"slot": {kept.slot}}}')
    with ControlPlane(data_dir=tmp_path / "e", components=network_only) as other:
        assert other.ranges == kept
        refused = ControlPlane(data_dir=tmp_path / "c", components=network_only)
        with pytest.raises(RangesError, match="held by another control plane"):
            refused.start()
        second.stop()
        with ControlPlane(data_dir=tmp_path / "d", components=network_only) as again:
            assert again.ranges == taken
    with ControlPlane(data_dir=tmp_path / "c", components=network_only) as restarted:
        assert restarted.ranges == kept
        svc = Kubectl(restarted, tmp_path / "cache").json("get", "service", "kubernetes")
        assert svc["spec"]["clusterIP"] == kept.kubernetes_ip


def test_up_says_which_ranges_it_took(planes: list[ControlPlane], tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "orchestrator.cli"]
    data = str(tmp_path / "cli-plane")
    up = subprocess.run([*cli, "up", "--data-dir", data, "--components", "network",
                         "--ingress-port", "0"], capture_output=True, text=True, timeout=60)
    try:
        assert up.returncode == 0, up.stderr
        lines = [line for line in up.stdout.splitlines() if "control plane runs" in line]
        assert len(lines) == 1 and lines[0].startswith(
            "another control plane runs on this host: this one took the ranges pods 127."), up
        taken = recorded_ranges(Path(data))
        assert lines[0].endswith(taken.describe())
        assert taken not in [cp.ranges for cp in planes]
    finally:
        down = subprocess.run([*cli, "down", "--data-dir", data], capture_output=True,
                              text=True, timeout=60)
        assert down.returncode == 0, down.stderr
