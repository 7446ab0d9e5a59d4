"""GPU-aware placement on the embedded control plane, through real kubectl: pod groups land
whole or not at all, shared GPUs pack onto one device, CPU pods stay off GPU nodes while
they can, priority preemption happens and is explained by Events, and bad requests stay
Pending with a message saying exactly why. Nodes come from a nodes file (simulated runtime:
pods become Running without processes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from orchestrator import ControlPlane
from tests.conftest import Kubectl, wait_for

NODES = {"nodes": [
    {"name": "a100", "runtime": "simulated", "count": 2,
     "capacity": {"cpu": "32", "memory": "128Gi", "pods": "110", "nvidia.com/gpu": "4"},
     "labels": {"nvidia.com/gpu.product": "A100-SXM4-40GB", "nvidia.com/gpu.memory": "40960"},
     "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]},
    {"name": "cpu", "runtime": "simulated", "count": 2,
     "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"}},
]}
GPU_NODES = {"a100-0", "a100-1"}


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    data = tmp_path_factory.mktemp("gpu-cp")
    nodes_file = Path(data) / "nodes.yaml"
    nodes_file.write_text(yaml.safe_dump(NODES))
    with ControlPlane(data_dir=data / "state", nodes=str(nodes_file)) as cp:
        yield cp


def pod(name: str, *, labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None, priority_class: str = "",
        **requests: str) -> dict[str, Any]:
    resources = {"cpu": "1", "memory": "1Gi"}
    resources.update({{"gpu": "nvidia.com/gpu", "gpu_milli": "daskhub-lite.io/gpu-milli"}
                      .get(k, k): v for k, v in requests.items()})
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": "python",
                                            "command": ["sleep", "3600"],
                                            "resources": {"requests": resources,
                                                          "limits": resources}}]}
    if priority_class:
        spec["priorityClassName"] = priority_class
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"test": "gpu", **(labels or {})},
                         "annotations": annotations or {}},
            "spec": spec}


def apply(kubectl: Kubectl, *objs: dict[str, Any]) -> None:
    kubectl.run("apply", "-f", "-", input="\n---\n".join(json.dumps(o) for o in objs))


def pods(kubectl: Kubectl) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p for p in kubectl.json("get", "pods")["items"]}


def node_of(kubectl: Kubectl, name: str) -> str:
    return str(kubectl.json("get", "pod", name)["spec"].get("nodeName") or "")


def scheduled_message(pod_obj: dict[str, Any]) -> str:
    for condition in (pod_obj.get("status") or {}).get("conditions") or []:
        if condition["type"] == "PodScheduled" and condition["status"] == "False":
            return str(condition.get("message", ""))
    return ""


def wait_message(kubectl: Kubectl, name: str, timeout: float = 20) -> str:
    return str(wait_for(lambda: scheduled_message(kubectl.json("get", "pod", name)),
                        timeout=timeout))


def priority_classes(kubectl: Kubectl) -> None:
    """batch-low (10) and interactive-high (1000), as a DaskHub would define them."""
    apply(kubectl, *[{"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                      "metadata": {"name": name}, "value": value}
                     for name, value in (("batch-low", 10), ("interactive-high", 1000))])


@pytest.fixture(autouse=True)
def clean(kubectl: Kubectl) -> Iterator[None]:
    yield
    kubectl.run("delete", "pods,pdb", "--all", "--wait=false")
    wait_for(lambda: not kubectl.json("get", "pods")["items"], timeout=30)


def test_a_dask_worker_group_lands_whole_or_not_at_all(kubectl: Kubectl) -> None:
    apply(kubectl, pod("squatter", gpu="1"))
    wait_for(lambda: node_of(kubectl, "squatter"), timeout=20)
    group = {"daskhub-lite.io/pod-group": "dask-x"}
    workers = [pod(f"dask-x-worker-{i}", labels=group,
                   annotations={"daskhub-lite.io/min-member": "4"}, gpu="2") for i in range(4)]
    apply(kubectl, *workers)
    for i in range(4):
        message = wait_message(kubectl, f"dask-x-worker-{i}")
        assert message.startswith(
            'pod group "dask-x": 3/4 members can be placed; waiting for the whole group.'), message
    assert not any(p["spec"].get("nodeName") for n, p in pods(kubectl).items()
                   if n.startswith("dask-x")), "a member was bound while the group waited"

    kubectl.run("delete", "pod", "squatter", "--wait=false")
    for i in range(4):
        wait_for(lambda i=i: node_of(kubectl, f"dask-x-worker-{i}"), timeout=30)
    placed = pods(kubectl)
    devices = [(p["spec"]["nodeName"], p["metadata"]["annotations"]["daskhub-lite.io/gpu-devices"])
               for n, p in placed.items() if n.startswith("dask-x")]
    assert {node for node, _ in devices} == GPU_NODES
    used = [(node, d.split(":")[0]) for node, ann in devices for d in ann.split(",")]
    assert len(used) == len(set(used)) == 8  # every GPU once, none twice


def test_a_shared_gpu_pair_lands_on_one_device(kubectl: Kubectl) -> None:
    apply(kubectl, pod("share-a", gpu_milli="500"), pod("share-b", gpu_milli="500"))
    for name in ("share-a", "share-b"):
        wait_for(lambda name=name: node_of(kubectl, name), timeout=20)
    placed = pods(kubectl)
    where = {(p["spec"]["nodeName"], p["metadata"]["annotations"]["daskhub-lite.io/gpu-devices"])
             for p in placed.values()}
    assert len(where) == 1
    node, devices = where.pop()
    assert node in GPU_NODES and devices.endswith(":500")


def test_a_cpu_pod_avoids_gpu_nodes_while_cpu_nodes_have_room(kubectl: Kubectl) -> None:
    apply(kubectl, *[pod(f"cpu-{i}", cpu="3") for i in range(4)])
    for i in range(4):
        assert wait_for(lambda i=i: node_of(kubectl, f"cpu-{i}"), timeout=20) in {"cpu-0", "cpu-1"}
    # The CPU nodes are full now (2 x 3 of 8 cores each, 2 left): the next goes where it fits,
    # and GPU nodes only tolerate it if it tolerates their taint.
    tolerant = pod("cpu-tolerant", cpu="4")
    tolerant["spec"]["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists"}]
    apply(kubectl, tolerant, pod("cpu-stuck", cpu="4"))
    assert wait_for(lambda: node_of(kubectl, "cpu-tolerant"), timeout=20) in GPU_NODES
    message = wait_message(kubectl, "cpu-stuck")
    assert message == ("0/4 nodes are available: 2 Insufficient cpu, 2 node(s) had untolerated "
                       "taint {nvidia.com/gpu: present}.")


def test_preemption_evicts_lower_priority_pods_respecting_budgets(kubectl: Kubectl) -> None:
    priority_classes(kubectl)
    low = [pod(f"low-{i}", labels={"app": "guarded" if i < 4 else "batch"},
               priority_class="batch-low", gpu="1") for i in range(8)]
    apply(kubectl, *low)
    for i in range(8):
        wait_for(lambda i=i: node_of(kubectl, f"low-{i}"), timeout=20)
    assert kubectl.json("get", "pod", "low-0")["spec"]["priority"] == 10
    apply(kubectl, {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                    "metadata": {"name": "guarded"},
                    "spec": {"minAvailable": 4, "selector": {"matchLabels": {"app": "guarded"}}}})
    wait_for(lambda: (kubectl.json("get", "pdb", "guarded").get("status") or {})
             .get("currentHealthy") == 4, timeout=20)

    apply(kubectl, pod("urgent", priority_class="interactive-high", gpu="2"))
    node = wait_for(lambda: node_of(kubectl, "urgent"), timeout=30)
    urgent = kubectl.json("get", "pod", "urgent")
    assert urgent["spec"]["priority"] == 1000
    assert urgent["status"].get("nominatedNodeName") == node

    events = [e for e in kubectl.json("get", "events")["items"] if e["reason"] == "Preempted"]
    victims = {e["involvedObject"]["name"] for e in events}
    assert len(victims) == 2 and all(v in {f"low-{i}" for i in range(4, 8)} for v in victims)
    for event in events:
        assert event["message"] == f"Preempted by pod {urgent['metadata']['uid']} on node {node}"
    remaining = pods(kubectl)
    assert victims.isdisjoint(remaining)
    assert all(f"low-{i}" in remaining for i in range(4))  # the budget held


HOLD = "daskhub-lite.io/test-hold"  # a finalizer: victims stay Terminating until it goes


def test_the_node_a_pod_preempted_on_is_held_for_it(kubectl: Kubectl) -> None:
    priority_classes(kubectl)
    fill = [pod(f"fill-{i}", priority_class="batch-low", gpu="1") for i in range(8)]
    for obj in fill:
        obj["metadata"]["finalizers"] = [HOLD]
    apply(kubectl, *fill)
    try:
        for i in range(8):
            wait_for(lambda i=i: node_of(kubectl, f"fill-{i}"), timeout=20)
        apply(kubectl, pod("urgent", priority_class="interactive-high", gpu="2"))
        held = wait_for(lambda: kubectl.json("get", "pod", "urgent")["status"]
                        .get("nominatedNodeName"), timeout=30)
        victims = wait_for(lambda: sorted(n for n, p in pods(kubectl).items()
                                          if p["metadata"].get("deletionTimestamp")), timeout=20)
        assert len(victims) == 2 and {node_of(kubectl, v) for v in victims} == {held}

        # One victim goes: one GPU is free on the held node, and nowhere else.
        kubectl.run("patch", "pod", victims[0], "--type=merge", "-p",
                    '{"metadata": {"finalizers": null}}')
        wait_for(lambda: victims[0] not in pods(kubectl), timeout=20)
        sneaky = pod("sneaky", priority_class="batch-low", gpu="1")
        sneaky["spec"]["preemptionPolicy"] = "Never"
        apply(kubectl, sneaky)
        message = wait_message(kubectl, "sneaky")
        assert message == ("0/4 nodes are available: 1 node(s) were held for a preempting pod "
                           "of equal or higher priority, 3 Insufficient nvidia.com/gpu."), message
        assert not node_of(kubectl, "urgent") and not node_of(kubectl, "sneaky")

        # The other victim goes: the preemptor binds where it preempted; the hold is over.
        kubectl.run("patch", "pod", victims[1], "--type=merge", "-p",
                    '{"metadata": {"finalizers": null}}')
        assert wait_for(lambda: node_of(kubectl, "urgent"), timeout=30) == held
        wait_for(lambda: scheduled_message(kubectl.json("get", "pod", "sneaky")) ==
                 "0/4 nodes are available: 4 Insufficient nvidia.com/gpu.", timeout=20)
    finally:
        for obj in fill:
            kubectl.run("patch", "pod", obj["metadata"]["name"], "--type=merge", "-p",
                        '{"metadata": {"finalizers": null}}', check=False)


def test_a_pod_group_of_higher_priority_preempts_as_a_whole(kubectl: Kubectl) -> None:
    priority_classes(kubectl)
    apply(kubectl, *[pod(f"batch-{i}", priority_class="batch-low", gpu="1") for i in range(7)])
    for i in range(7):
        wait_for(lambda i=i: node_of(kubectl, f"batch-{i}"), timeout=20)
    group = {"daskhub-lite.io/pod-group": "dask-y"}
    workers = [pod(f"dask-y-worker-{i}", labels=group, priority_class="interactive-high",
                   annotations={"daskhub-lite.io/min-member": "3"}, gpu="2") for i in range(3)]
    apply(kubectl, *workers)
    for i in range(3):
        wait_for(lambda i=i: node_of(kubectl, f"dask-y-worker-{i}"), timeout=30)
    placed = pods(kubectl)
    preempted = {e["involvedObject"]["name"] for e in kubectl.json("get", "events")["items"]
                 if e["reason"] == "Preempted"
                 and e["involvedObject"]["name"].startswith("batch-")}
    # Six of the eight GPUs for the group: five batch pods had to go, two stay.
    assert len(preempted) == 5 and preempted <= {f"batch-{i}" for i in range(7)}
    assert preempted.isdisjoint(placed)
    assert sum(1 for n in placed if n.startswith("batch-")) == 2
    used = [(p["spec"]["nodeName"], d.split(":")[0]) for p in placed.values()
            for d in p["metadata"]["annotations"]["daskhub-lite.io/gpu-devices"].split(",")]
    assert len(used) == len(set(used)) == 8  # every GPU once, none twice


def test_bad_requests_stay_pending_with_exact_messages(kubectl: Kubectl) -> None:
    apply(kubectl,
          pod("half-mig", **{"nvidia.com/mig-1g.5gb": "500m"}),
          pod("too-much-share", gpu_milli="1500"),
          pod("wrong-model", annotations={"daskhub-lite.io/gpu-models": "H100"}, gpu="1"),
          *[pod(f"huge-{i}", labels={"daskhub-lite.io/pod-group": "huge"},
                annotations={"daskhub-lite.io/min-member": "3"}, gpu="4") for i in range(3)])
    assert wait_message(kubectl, "half-mig") == (
        "nvidia.com/mig-1g.5gb: 500m is not a whole number of MIG slices; a MIG slice cannot be "
        "shared, request 1 or more")
    assert wait_message(kubectl, "too-much-share") == (
        "daskhub-lite.io/gpu-milli: 1500 is more than one GPU; a shared-GPU request must be "
        "1..1000 (1000 = one whole GPU), request whole GPUs with nvidia.com/gpu instead")
    assert wait_message(kubectl, "wrong-model") == (
        "0/4 nodes are available: 4 node(s) didn't have the requested GPU model (H100).")
    for i in range(3):
        message = wait_message(kubectl, f"huge-{i}")
        assert message.startswith(
            'pod group "huge": needs 3 members placed together but at most 2 fit even on an '
            "empty cluster of 4 node(s); the group is larger than the cluster."), message
    assert not any(p["spec"].get("nodeName") for p in pods(kubectl).values())


def test_priority_classes_are_resolved_at_admission(kubectl: Kubectl) -> None:
    refused = kubectl.run("apply", "-f", "-", check=False,
                          input=json.dumps(pod("nope", priority_class="no-such-class")))
    assert refused.returncode != 0
    assert "no PriorityClass with name no-such-class was found" in refused.stderr
    apply(kubectl, {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                    "metadata": {"name": "everyday"}, "value": 7, "globalDefault": True,
                    "preemptionPolicy": "Never"})
    try:
        apply(kubectl, pod("plain"))
        spec = kubectl.json("get", "pod", "plain")["spec"]
        assert (spec["priority"], spec["priorityClassName"], spec["preemptionPolicy"]) == (
            7, "everyday", "Never")
    finally:
        kubectl.run("delete", "priorityclass", "everyday")
