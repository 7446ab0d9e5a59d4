"""Dask clusters, training Jobs (with their outputs helper) and DaskJobs in a namespace that
enforces the restricted Pod Security Standard, as DaskHub's user namespaces do: the pods
daskhub_lite generates carry what restricted asks for, so they are admitted and run, and
nothing in the namespace is even audited; a pod without those settings is refused there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from daskhub_lite import DaskCluster, jobs
from daskhub_lite.jobs.kube import Cluster, connect
from orchestrator import ControlPlane
from tests.e2e import dask_harness
from tests.e2e.dask_harness import kubectl

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # kr8s: untested k8s version
NS = "restricted-user"
LABELS = [f"pod-security.kubernetes.io/{mode}=restricted" for mode in ("enforce", "warn",
                                                                       "audit")]


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    for plane in dask_harness.start(tmp_path_factory.mktemp("cp")):
        kubectl(plane, "create", "namespace", NS)
        kubectl(plane, "label", "namespace", NS, *LABELS)
        yield plane


@pytest.fixture(scope="module")
def cluster(cp: ControlPlane) -> Cluster:
    return connect(cp.kubeconfig)


def _audited_in_namespace(cp: ControlPlane) -> list[str]:
    log = Path(cp.data_dir) / "audit.log"
    events = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    # What admission flagged there, beside the pod refused on purpose below.
    return [f"{e['objectRef']['resource']}/{e['objectRef']['name']}: {e['annotations']}"
            for e in events if e["objectRef"].get("namespace") == NS
            and e["objectRef"]["name"] != "plain"]


def test_an_unhardened_pod_is_refused_there(cp: ControlPlane) -> None:
    refused = kubectl(cp, "run", "plain", "-n", NS, "--image", "x", "--restart", "Never",
                      "--", "true")
    assert 'pods "plain" is forbidden: violates PodSecurity "restricted:latest": ' \
           "allowPrivilegeEscalation != false" in refused
    assert "NotFound" in kubectl(cp, "get", "pod", "plain", "-n", NS)


def test_a_dask_cluster_computes_in_a_restricted_namespace(cp: ControlPlane) -> None:
    with DaskCluster("locked", n_workers=1, namespace=NS, kubeconfig=cp.kubeconfig) as dc:
        client = dc.get_client()
        client.wait_for_workers(1, timeout=60)
        assert client.submit(sum, range(10)).result(timeout=30) == 45
        pods = json.loads(kubectl(cp, "get", "pods", "-n", NS, "-l",
                                  "dask.org/cluster-name=locked", "-o", "json"))["items"]
        assert {p["metadata"]["labels"]["dask.org/component"] for p in pods} == {
            "scheduler", "worker"}
        assert all(p["spec"]["securityContext"]["runAsNonRoot"] for p in pods)
        client.close()
    assert _audited_in_namespace(cp) == []


def test_a_training_job_and_its_outputs_in_a_restricted_namespace(
        cp: ControlPlane, cluster: Cluster, tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text(
        "import os\n"
        "open(os.path.join(os.environ['OUTPUT_DIR'], 'model.txt'), 'w').write('weights')\n"
        "print('trained')\n")
    job = jobs.submit("python train.py", code=code, cluster=cluster, namespace=NS,
                      name="locked-train")
    state = job.wait(timeout=90, progress=False)
    assert state.phase == "Succeeded", state
    assert "trained" in (job.logs() or "")
    assert job.outputs(tmp_path / "out") == ["model.txt"]  # the helper pod is admitted too
    job.delete()
    assert _audited_in_namespace(cp) == []


def test_a_dask_job_in_a_restricted_namespace(cp: ControlPlane, cluster: Cluster,
                                              tmp_path: Path) -> None:
    code = tmp_path / "dask"
    code.mkdir()
    (code / "sweep.py").write_text(
        "import os\n"
        "from dask.distributed import Client\n"
        "with Client(os.environ['DASK_SCHEDULER_ADDRESS']) as client:\n"
        "    client.wait_for_workers(1, timeout=60)\n"
        "    print('sum', sum(client.gather(client.map(lambda x: x * x, range(10)))))\n")
    job = jobs.submit("python sweep.py", code=code, cluster=cluster, namespace=NS,
                      dask_workers=1, name="locked-sweep", outputs=False)
    state = job.wait(timeout=120, progress=False, pending_timeout=60)
    assert state.phase == "Succeeded", state
    assert "sum 285" in (job.logs() or "")
    job.delete()
    assert _audited_in_namespace(cp) == []
