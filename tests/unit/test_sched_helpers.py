"""Builders for the scheduler tests: real Kubernetes Node and Pod dicts, as the API serves them.

(A `test_` module so it sits with the scheduler tests; it holds one smoke test of its own.)
"""

from __future__ import annotations

from typing import Any

from orchestrator.scheduler.nodeinfo import NodeInfo
from orchestrator.scheduler.podinfo import PodInfo
from orchestrator.scheduler.policies import make_scheduler
from orchestrator.scheduler.scheduler import Scheduler
from orchestrator.scheduler.state import ClusterState


def node(name: str, cpu: str = "8", memory: str = "32Gi", gpus: int = 0, model: str = "",
         taints: list[dict[str, str]] | None = None, labels: dict[str, str] | None = None,
         unschedulable: bool = False, extra: dict[str, str] | None = None) -> dict[str, Any]:
    allocatable = {"cpu": cpu, "memory": memory, "pods": "110", **(extra or {})}
    all_labels = {"kubernetes.io/hostname": name, **(labels or {})}
    if gpus:
        allocatable["nvidia.com/gpu"] = str(gpus)
        all_labels["nvidia.com/gpu.product"] = model or "A100-SXM4-40GB"
        all_labels["nvidia.com/gpu.memory"] = "40960"
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": all_labels},
            "spec": spec, "status": {"capacity": dict(allocatable), "allocatable": allocatable}}


GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}


def pod(name: str, cpu: str = "1", memory: str = "1Gi", annotations: dict[str, str] | None = None,
        labels: dict[str, str] | None = None, spec: dict[str, Any] | None = None,
        **resources: str) -> dict[str, Any]:
    """`pod("p", gpu="2")`, `pod("p", gpu_milli="460")`, `pod("p", **{"nvidia.com/mig-1g.5gb": "1"})`."""
    requests = {"cpu": cpu, "memory": memory}
    for key, value in resources.items():
        name_map = {"gpu": "nvidia.com/gpu", "gpu_milli": "daskhub-lite.io/gpu-milli"}
        requests[name_map.get(key, key)] = value
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if annotations:
        meta["annotations"] = annotations
    if labels:
        meta["labels"] = labels
    full_spec = {"containers": [{"name": "main", "image": "x", "resources": {"requests": requests}}]}
    full_spec.update(spec or {})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": full_spec}


def cluster(*nodes: dict[str, Any]) -> ClusterState:
    state = ClusterState()
    for raw in nodes:
        state.add_node(NodeInfo.from_node(raw))
    return state


def place(scheduler: Scheduler, state: ClusterState, raw: dict[str, Any]) -> tuple[str | None, str, str]:
    """Schedule and assume one pod: (node, device annotation, message)."""
    info = PodInfo.from_pod(raw)
    decision = scheduler.schedule_one(info, state)
    if decision.node is not None:
        scheduler.assume(state, info, decision)
    return decision.node, decision.device_annotation, decision.message


def test_builders_make_a_schedulable_pair() -> None:
    state = cluster(node("n1", gpus=1))
    assert place(make_scheduler(), state, pod("p", gpu="1")) == ("n1", "0:1000", "")
