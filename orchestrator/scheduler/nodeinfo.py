"""`NodeInfo`: the static side of a node (labels, taints, allocatable, GPU devices).

What changes as pods come and go lives in `state.NodeState`. Nodes that agree on everything
here except their name and hostname label share a `shape_key`, which lets the scheduler filter
and score a whole class of identical nodes once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from orchestrator.api.taints import Taint, taints_of

from . import names
from .quantity import milli


@dataclass(frozen=True, slots=True)
class GpuDevice:
    index: int
    model: str
    memory_mib: int


@dataclass(frozen=True, slots=True)
class NodeInfo:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    allocatable: Mapping[str, int] = field(default_factory=dict)
    gpus: tuple[GpuDevice, ...] = ()
    unschedulable: bool = False

    @property
    def gpu_model(self) -> str:
        return self.gpus[0].model if self.gpus else ""

    @property
    def shape_key(self) -> tuple[Any, ...]:
        labels = tuple(sorted((k, v) for k, v in self.labels.items() if k != names.HOSTNAME_LABEL))
        return (labels, self.taints, tuple(sorted(self.allocatable.items())), self.gpus,
                self.unschedulable)

    @classmethod
    def from_node(cls, node: Mapping[str, Any]) -> "NodeInfo":
        meta = node.get("metadata") or {}
        spec = node.get("spec") or {}
        status = node.get("status") or {}
        labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
        raw = status.get("allocatable") or status.get("capacity") or {}
        allocatable: dict[str, int] = {}
        for resource, quantity in raw.items():
            try:
                allocatable[str(resource)] = milli(quantity)
            except ValueError:
                continue  # a node with one garbled resource still offers the others
        taints = taints_of(spec.get("taints"))
        count = allocatable.get(names.GPU, 0) // 1000
        model = labels.get(names.GPU_PRODUCT_LABEL, "")
        try:
            memory = int(labels.get(names.GPU_MEMORY_LABEL, "0") or 0)
        except ValueError:
            memory = 0
        gpus = tuple(GpuDevice(i, model, memory) for i in range(count))
        return cls(
            name=str(meta.get("name") or ""),
            labels=labels,
            taints=taints,
            allocatable=allocatable,
            gpus=gpus,
            unschedulable=bool(spec.get("unschedulable")),
        )
