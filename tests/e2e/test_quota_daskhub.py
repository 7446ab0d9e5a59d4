"""A DaskHub user held to one GPU (issue 14): the chart gives each user namespace the quota
in `singleuser.userNamespaces.quota`; in the user's own notebook kernel a Dask cluster with
one GPU worker and a CPU training Job run, a second GPU worker is refused with a warning that
names the quota, a GPU Job waits with `JobRefused` naming it too, and runs once the GPU is
given back. The hub spawns the server; everything after goes through the user's own token."""

from __future__ import annotations

import base64
from typing import Any, Iterator

import pytest
import requests
import yaml

from orchestrator import ControlPlane
from tests.conftest import Kubectl, wait_for
from tests.e2e.charts_helpers import CLI
from tests.e2e.daskhub_harness import Hub, Kernel

NS = "qhub"
RELEASE = "qhub"
USER_NS = f"{NS}-alice"
NODES = [
    {"name": "cpu-node", "runtime": "process"},
    {"name": "gpu-node", "runtime": "process",
     "capacity": {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "2", "pods": "110"},
     "labels": {"nvidia.com/gpu.product": "virtual"}},
]
VALUES = {
    "singleuser": {
        "cpu": {"guarantee": 0.05, "limit": 2},
        "memory": {"guarantee": "256M", "limit": "4G"},
        "userNamespaces": {"quota": {"requests.nvidia.com/gpu": "1", "count/jobs.batch": "4"},
                           "limitRange": [{"type": "Container",
                                           "defaultRequest": {"cpu": "50m"}}]},
        "profileList": [{"display_name": "CPU", "slug": "cpu", "default": True}],
    },
    "proxy": {"routeCheckSeconds": 5},
}
REFUSAL = ("exceeded quota: user-quota, requested: requests.nvidia.com/gpu=1, used: "
           "requests.nvidia.com/gpu=1, limited: requests.nvidia.com/gpu=1")


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(data_dir=tmp_path_factory.mktemp("quota-hub"), nodes=NODES,
                      ingress_port=0) as plane:
        yield plane


@pytest.fixture(scope="module")
def kubectl(cp: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(cp, tmp_path_factory.mktemp("kubectl-cache"))


@pytest.fixture(scope="module")
def alice(cp: ControlPlane, kubectl: Kubectl,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    home = tmp_path_factory.mktemp("helm-home")
    values = home / "values.yaml"
    values.write_text(yaml.safe_dump(VALUES))
    CLI(cp.kubeconfig, home)("install", RELEASE, "daskhub", "-n", NS, "--create-namespace",
                             "-f", str(values), "--wait", "--timeout", "240s", timeout=400)
    ingress = kubectl.json("get", "ingress", "-n", NS, RELEASE + "-daskhub")
    port = ingress["status"]["loadBalancer"]["ingress"][0]["ports"][0]["port"]
    hub = Hub(f"http://127.0.0.1:{port}")
    wait_for(lambda: _answers(hub.base), timeout=60)
    password = base64.b64decode(kubectl.json("get", "secret", "-n", NS, f"{RELEASE}-daskhub-hub")[
        "data"]["admin-password"]).decode()
    hub.login_token("admin", password)
    hub.ensure_user("alice")
    hub.spawn("alice")
    kernel = Kernel(hub, "alice")
    yield kernel
    kernel.shutdown()


def _answers(base: str) -> bool:
    try:
        return requests.get(f"{base}/hub/api/", timeout=5).status_code == 200
    except OSError:
        return False


def _quota(kubectl: Kubectl) -> dict[str, Any]:
    return dict(kubectl.json("get", "resourcequota", "user-quota", "-n", USER_NS))


def test_the_users_namespace_gets_the_charts_quota_and_limits(alice: Kernel,
                                                              kubectl: Kubectl) -> None:
    quota = _quota(kubectl)
    assert quota["spec"]["hard"] == {"requests.nvidia.com/gpu": "1", "count/jobs.batch": "4"}
    # Taken up before the server started (the spawn waits for it), and charged for nothing
    # the server asks: it needs no GPU.
    assert quota["status"]["used"] == {"requests.nvidia.com/gpu": "0", "count/jobs.batch": "0"}
    limits = kubectl.json("get", "limitrange", "user-limits", "-n", USER_NS)
    assert limits["spec"]["limits"][0]["defaultRequest"] == {"cpu": "50m"}


def test_one_gpu_worker_runs_the_second_is_refused_naming_the_quota(
        alice: Kernel, kubectl: Kubectl) -> None:
    out = alice.run(
        "import warnings, daskhub_lite\n"
        "from daskhub_lite.clusters import WorkersRefused\n"
        "cluster = daskhub_lite.DaskCluster('gpus', n_workers=0, cores=0.1, memory='1G', "
        "quiet=True)\n"
        "cluster.add_worker_group('gpu', n_workers=1, profile='gpu', cores=0.1, memory='1G')\n"
        "client = cluster.get_client()\n"
        "client.wait_for_workers(1, timeout=120)\n"
        "print('gpu workers', len(client.scheduler_info()['workers']))\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    cluster.scale(2, worker_group='gpu')\n"
        "print('warned', [str(w.message) for w in caught if w.category is WorkersRefused])\n"
        "print('refusals', cluster.refusals())\n", timeout=300)
    lines = out.strip().splitlines()
    assert "gpu workers 1" in lines, out
    warned = next(line for line in lines if line.startswith("warned"))
    assert REFUSAL in warned and 'pods "gpus-gpu-' in warned, warned
    assert REFUSAL in next(line for line in lines if line.startswith("refusals"))
    assert _quota(kubectl)["status"]["used"]["requests.nvidia.com/gpu"] == "1"
    # The RBAC view of the same refusal: the ReplicaSet's FailedCreate event.
    events = kubectl.json("get", "events", "-n", USER_NS,
                          "--field-selector", "reason=FailedCreate")["items"]
    assert any(REFUSAL in e["message"] and e["involvedObject"]["kind"] == "ReplicaSet"
               for e in events), [e["message"] for e in events]


def test_jobs_run_within_the_quota_and_wait_naming_it_beyond(alice: Kernel,
                                                             kubectl: Kubectl) -> None:
    out = alice.run(
        "import pathlib, tempfile\n"
        "from daskhub_lite import jobs\n"
        "code = pathlib.Path(tempfile.mkdtemp())\n"
        "(code / 'train.py').write_text('print(\"trained\")')\n"
        "cpu = jobs.submit('python train.py', code=code, name='cpu-train', outputs=False)\n"
        "print('cpu', cpu.wait(timeout=120, progress=False).phase, cpu.logs().strip())\n"
        "gpu = jobs.submit('python train.py', code=code, name='gpu-train', gpus=1, "
        "outputs=False)\n"
        "try:\n"
        "    gpu.wait(timeout=120, progress=False, pending_timeout=3)\n"
        "except jobs.JobRefused as exc:\n"
        "    print('refused', exc)\n"
        "print('line', gpu.status().line())\n", timeout=300)
    lines = out.strip().splitlines()
    assert "cpu Succeeded trained" in lines, out
    refused = next(line for line in lines if line.startswith("refused"))
    assert refused.startswith('refused job gpu-train cannot start: pods "gpu-train-') and \
        REFUSAL in refused, refused
    assert REFUSAL in next(line for line in lines if line.startswith("line"))
    # Giving the GPU back (the Dask GPU workers go) lets the waiting job run.
    out = alice.run(
        "cluster.scale(0, worker_group='gpu')\n"
        "print('gpu', gpu.wait(timeout=150, progress=False, pending_timeout=None).phase)\n"
        "client.close(); cluster.close()\n", timeout=240)
    assert out.strip().splitlines()[-1] == "gpu Succeeded", out
    wait_for(lambda: _quota(kubectl)["status"]["used"] == {
        "requests.nvidia.com/gpu": "0", "count/jobs.batch": "2"}, timeout=30)
