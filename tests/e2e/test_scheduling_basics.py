"""The default scheduler on three process nodes from a nodes file (one with a GPU label and
taint), through real kubectl: pods land where their selectors, tolerations and requests say
and their processes run there; an unschedulable pod says why, and is placed once room frees.
(DaemonSet pinning: test_daemonsets.py; GPU packing and preemption on simulated nodes:
test_gpu_placement.py.)"""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
import yaml

from orchestrator import ControlPlane
from tests.conftest import Kubectl, wait_for
from tests.e2e.runtime_harness import PY, control_plane, wait_phase

NODES = {"nodes": [
    {"name": "cpu-a", "runtime": "process", "capacity": {"cpu": "4", "memory": "8Gi"},
     "labels": {"zone": "a"}},
    {"name": "cpu-b", "runtime": "process", "capacity": {"cpu": "2", "memory": "8Gi"},
     "labels": {"zone": "b"}},
    {"name": "gpu-a", "runtime": "process",
     "capacity": {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "2"},
     "labels": {"zone": "a", "nvidia.com/gpu.product": "A100-SXM4-40GB"},
     "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]},
]}
TOLERATE_GPU = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
TAINTED = "1 node(s) had untolerated taint {nvidia.com/gpu: present}"


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    folder = tmp_path_factory.mktemp("sched")
    path = folder / "nodes.yaml"
    path.write_text(yaml.safe_dump(NODES))
    with control_plane(folder / "data", nodes=str(path)) as plane:
        yield plane


@pytest.fixture(scope="module")
def kubectl(cp: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(cp, tmp_path_factory.mktemp("kubectl-cache"))


def pod(name: str, cpu: str = "1", gpu: int = 0, **spec: Any) -> dict[str, Any]:
    requests = {"cpu": cpu, "memory": "100Mi", **({"nvidia.com/gpu": str(gpu)} if gpu else {})}
    code = "import os, time; print(os.environ.get('CUDA_VISIBLE_DEVICES')); time.sleep(600)"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                "name": "main", "image": "python", "command": [PY, "-u", "-c", code],
                "resources": {"requests": requests, "limits": requests}}], **spec}}


def apply(kubectl: Kubectl, *objs: dict[str, Any]) -> None:
    kubectl.run("apply", "-f", "-", input="\n---\n".join(json.dumps(o) for o in objs))


def node_of(kubectl: Kubectl, name: str) -> str:
    return str(kubectl.json("get", "pod", name)["spec"].get("nodeName") or "")


def unschedulable(kubectl: Kubectl, name: str) -> str:
    for c in kubectl.json("get", "pod", name).get("status", {}).get("conditions") or []:
        if c["type"] == "PodScheduled" and c["status"] == "False":
            assert c["reason"] == "Unschedulable"
            return str(c["message"])
    return ""


def test_pods_land_where_selectors_tolerations_and_requests_say(kubectl: Kubectl) -> None:
    apply(kubectl,
          pod("in-zone-b", nodeSelector={"zone": "b"}),
          pod("three-cpus", cpu="3"),  # only cpu-a has room; gpu-a is tainted
          pod("trainer", gpu=1, tolerations=TOLERATE_GPU,
              nodeSelector={"nvidia.com/gpu.product": "A100-SXM4-40GB"}))
    expected = {"in-zone-b": "cpu-b", "three-cpus": "cpu-a", "trainer": "gpu-a"}
    for name, node in expected.items():
        assert wait_for(lambda: node_of(kubectl, name), timeout=20) == node
        wait_phase(kubectl, name, "Running")
    # The process on the GPU node sees the device the scheduler chose.
    trainer = kubectl.json("get", "pod", "trainer")
    device = trainer["metadata"]["annotations"]["daskhub-lite.io/gpu-devices"].split(":")[0]
    wait_for(lambda: kubectl.run("logs", "trainer").stdout == f"{device}\n", timeout=10)
    assert kubectl.run("logs", "three-cpus").stdout == "None\n"


def test_unschedulable_pod_explains_why_and_is_placed_when_room_frees(kubectl: Kubectl) -> None:
    # GPU pods tolerate GPU taints without saying so (ExtendedResourceToleration), so the
    # GPU node only lacks room: `trainer` holds one of its two GPUs.
    apply(kubectl, pod("too-big", cpu="3"), pod("two-gpus", gpu=2),
          pod("nowhere", nodeSelector={"zone": "c"}))
    assert wait_for(lambda: unschedulable(kubectl, "too-big"), timeout=20) == (
        f"0/3 nodes are available: {TAINTED}, 2 Insufficient cpu.")
    assert wait_for(lambda: unschedulable(kubectl, "two-gpus"), timeout=20) == (
        "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")
    assert wait_for(lambda: unschedulable(kubectl, "nowhere"), timeout=20) == (
        f"0/3 nodes are available: {TAINTED}, "
        "2 node(s) didn't match Pod's node affinity/selector.")
    events = kubectl.json("get", "events", "--field-selector",
                          "involvedObject.name=too-big")["items"]
    assert any(e["reason"] == "FailedScheduling" and e["type"] == "Warning" for e in events)
    assert kubectl.json("get", "pod", "too-big")["status"]["phase"] == "Pending"

    kubectl.run("delete", "pod", "three-cpus", timeout=30)
    assert wait_for(lambda: node_of(kubectl, "too-big"), timeout=30) == "cpu-a"
    wait_phase(kubectl, "too-big", "Running")
    assert not node_of(kubectl, "two-gpus") and not node_of(kubectl, "nowhere")
