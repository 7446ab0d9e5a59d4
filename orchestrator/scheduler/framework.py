"""The scheduling framework's contracts: plugin protocols, filter statuses and decisions.

Filters say *why not* with kube-scheduler's reason strings; the scheduler turns a histogram of
those into the familiar `0/3 nodes are available: ...` message. Scores are floats, higher is
better, combined as a weighted sum.

Caching contract (what makes replays fast): a filter declares the `scope` of what it reads.
  "shape": the node's labels, taints, allocatable and GPU models (not its name);
  "state": the above plus the node's free resources and per-GPU free shares.
Score plugins read at most the "state" scope plus the device assignment being considered, so
the scheduler evaluates one node per class of identical nodes and caches the result.
A score plugin whose opinion changes over time (it learns the workload) exposes `generation`
and bumps it; the scheduler then drops its cached scores.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal, Mapping, Protocol, runtime_checkable

from .devices import DeviceAssignment, format_device_annotation
from .podinfo import PodInfo
from .state import NodeState

Scope = Literal["shape", "state"]


@dataclass(frozen=True, slots=True)
class Status:
    """Why a node cannot take a pod; `reasons` are counted one node each in the message."""

    reasons: tuple[str, ...]
    plugin: str = ""
    # True when evicting pods could not help (affinity, taints): preemption skips such nodes.
    unresolvable: bool = False


@runtime_checkable
class FilterPlugin(Protocol):
    name: str
    scope: Scope

    def filter(self, pod: PodInfo, node: NodeState) -> Status | None: ...


@runtime_checkable
class ScorePlugin(Protocol):
    name: str

    def score(self, pod: PodInfo, node: NodeState, devices: DeviceAssignment) -> float: ...


@runtime_checkable
class WorkloadObserver(Protocol):
    """A plugin that learns from the pods it is asked about (e.g. the workload mix)."""

    generation: int

    def observe(self, pod: PodInfo) -> None: ...


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one scheduling attempt: where, on which GPUs, or why not."""

    pod_key: str
    node: str | None
    devices: DeviceAssignment = ()
    message: str = ""
    reasons: Mapping[str, int] = field(default_factory=dict)
    score: float = 0.0

    @property
    def scheduled(self) -> bool:
        return self.node is not None

    @property
    def device_annotation(self) -> str:
        return format_device_annotation(self.devices)


def unschedulable_message(total_nodes: int, reasons: Counter[str] | Mapping[str, int]) -> str:
    """kube-scheduler's FitError text: reasons as `<count> <reason>`, sorted as strings."""
    parts = sorted(f"{count} {reason}" for reason, count in reasons.items())
    message = f"0/{total_nodes} nodes are available"
    return f"{message}: {', '.join(parts)}." if parts else f"{message}."
