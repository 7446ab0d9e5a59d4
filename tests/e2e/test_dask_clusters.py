"""Dask clusters on the embedded control plane, through the dask-kubernetes operator.

Tests that need workers to reach their scheduler (compute, scale, adapt, GPU group,
KubeCluster) depend on the pod network (per-pod IPs and cluster DNS inside pods)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Iterator

import pytest

from daskhub_lite import DaskCluster
from orchestrator import ControlPlane
from tests.e2e import dask_harness
from tests.e2e.dask_harness import objects, poll, processes

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # kr8s: untested k8s version
WORKERS_TIMEOUT = 45


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    yield from dask_harness.start(tmp_path_factory.mktemp("cp"))


def test_compute_scale_up_and_graceful_scale_down(cp: ControlPlane) -> None:
    with DaskCluster("compute", n_workers=2, kubeconfig=cp.kubeconfig) as cluster:
        assert "embedded control plane" in repr(cluster)
        client = cluster.get_client()
        client.wait_for_workers(2, timeout=WORKERS_TIMEOUT)
        futures = client.map(lambda x: x * x, range(100))
        assert client.submit(sum, futures).result(timeout=30) == 328350
        cluster.scale(4)
        client.wait_for_workers(4, timeout=WORKERS_TIMEOUT)
        data = client.scatter(list(range(10_000)), broadcast=False)
        cluster.scale(1)
        poll(lambda: len(client.scheduler_info()["workers"]) == 1, WORKERS_TIMEOUT)
        assert client.submit(len, data).result(timeout=30) == 10_000  # nothing lost
        poll(lambda: len(cluster.plan) == 1, 10)
        client.close()


def test_dashboard_link_goes_through_the_ingress(cp: ControlPlane) -> None:
    import urllib.request

    with DaskCluster("dash", n_workers=0, kubeconfig=cp.kubeconfig) as cluster:
        link = cluster.dashboard_link
        assert link.endswith("/dask/default/dash/status"), link
        assert f"dashboard {link}" in repr(cluster)
        ingress = dask_harness.kubectl(cp, "get", "ingress", "dash-dashboard", "-o",
                                       "jsonpath={.status.loadBalancer.ingress[0]}")
        assert ingress and link.startswith("http://127.0.0.1:"), ingress
        with urllib.request.urlopen(link, timeout=10) as answer:
            assert answer.status == 200 and b"Dask" in answer.read()
        again = DaskCluster.from_name("dash", kubeconfig=cp.kubeconfig)
        assert again.dashboard_link == link
        again.close()
    assert objects(cp, "dash") == []


def test_adapt_grows_under_load_and_shrinks_when_idle(cp: ControlPlane) -> None:
    import dask

    with dask.config.set({"distributed.adaptive.wait-count": 1,
                          "distributed.adaptive.interval": "500ms",
                          "distributed.scheduler.default-task-durations": {"slow": "2s"}}):
        with DaskCluster("adapt", n_workers=1, kubeconfig=cp.kubeconfig) as cluster:
            client = cluster.get_client()
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
            cluster.adapt(minimum=1, maximum=4)

            def slow(i: int) -> int:
                time.sleep(2)
                return i

            futures = client.map(slow, range(40), key=[f"slow-{i}" for i in range(40)])
            poll(lambda: len(client.scheduler_info()["workers"]) > 1, WORKERS_TIMEOUT)
            assert sum(client.gather(futures)) == sum(range(40))
            del futures
            poll(lambda: len(client.scheduler_info()["workers"]) == 1, 60)
            client.close()


def test_gpu_worker_group_gets_devices_and_resource(cp: ControlPlane) -> None:
    with DaskCluster("gpus", n_workers=0, kubeconfig=cp.kubeconfig) as cluster:
        cluster.add_worker_group("gpu", n_workers=1, profile="gpu", cores=1, memory="2Gi")
        out = dask_harness.kubectl(cp, "get", "pods", "-l",
                                   "dask.org/component=scheduler,dask.org/cluster-name=gpus",
                                   "-o", "jsonpath={.items[0].spec.containers[0].resources}")
        assert "nvidia.com/gpu" not in out, out
        client = cluster.get_client()
        client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
        info = next(iter(client.scheduler_info()["workers"].values()))
        assert info["resources"] == {"GPU": 1}
        env = client.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES"))
        assert list(env.values())[0] in ("0", "1")
        assert client.submit(lambda: 42, resources={"GPU": 1}).result(timeout=30) == 42
        client.close()


def test_gpu_request_no_node_can_satisfy_is_refused_fast(cp: ControlPlane) -> None:
    start = time.monotonic()
    with pytest.raises(ValueError, match="most any node has is 2"):
        DaskCluster("toomany", gpus=3, kubeconfig=cp.kubeconfig)
    assert time.monotonic() - start < 10
    assert objects(cp, "toomany") == []


def test_unknown_profile_and_negative_workers() -> None:
    from daskhub_lite.clusters.profiles import ProfileError

    with pytest.raises(ProfileError, match="does not exist"):
        DaskCluster("nope", profile="huge")
    with pytest.raises(ValueError, match="n_workers"):
        DaskCluster("nope", n_workers=-1)


def test_close_leaves_no_object_and_no_process(cp: ControlPlane) -> None:
    cluster = DaskCluster("closing", n_workers=2, kubeconfig=cp.kubeconfig)
    poll(lambda: len(cluster.plan) == 2, 30)
    assert processes("closing-default-worker")
    cluster.close()
    assert objects(cp, "closing") == []
    poll(lambda: not processes("closing-default-worker") and not processes("closing-sched"),
         15)


def test_from_name_reconnects_and_keeps_cluster(cp: ControlPlane) -> None:
    first = DaskCluster("again", n_workers=1, kubeconfig=cp.kubeconfig)
    try:
        first.add_worker_group("extra", n_workers=0)
        second = DaskCluster.from_name("again", kubeconfig=cp.kubeconfig)
        assert second.worker_groups == {"default": 1, "extra": 0}
        assert second.scheduler_address == first.scheduler_address
        second.close()  # reconnected clusters are not shut down by default
        assert "daskclusters.kubernetes.dask.org/again" in objects(cp, "again")
    finally:
        first.close()
    with pytest.raises(ValueError, match="no DaskCluster 'again'"):
        DaskCluster.from_name("again", kubeconfig=cp.kubeconfig, timeout=5)


def test_dead_client_cluster_is_reaped(cp: ControlPlane) -> None:
    script = ("import sys, time\nfrom daskhub_lite import DaskCluster\n"
              f"c = DaskCluster('orphan', kubeconfig={cp.kubeconfig!r}, idle_timeout=4)\n"
              "print('up', flush=True)\ntime.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
        os.kill(proc.pid, signal.SIGKILL)  # a crashed kernel: no close()
    finally:
        proc.wait(10)
    poll(lambda: "daskclusters.kubernetes.dask.org/orphan" not in objects(cp, "orphan"), 40)


def test_kubecluster_unmodified_works(cp: ControlPlane, monkeypatch: pytest.MonkeyPatch) -> None:
    from dask_kubernetes.operator import KubeCluster, make_cluster_spec

    monkeypatch.setenv("KUBECONFIG", cp.kubeconfig)
    spec = make_cluster_spec("plain", n_workers=1)
    # A correct spec for distributed >= 2026.6: the commands it has, not dask-scheduler.
    for role in ("scheduler", "worker"):
        container = spec["spec"][role]["spec"]["containers"][0]
        args = container.pop("args")
        container["command"] = ["dask", args[0].split("-", 1)[1]]
        container["args"] = args[1:]
    with KubeCluster(custom_cluster_spec=spec, namespace="default",
                     resource_timeout=60) as cluster:
        with cluster.get_client() as client:
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
            assert client.submit(lambda: 1 + 1).result(timeout=30) == 2
