"""The scheduler's in-memory view of the cluster: nodes, what is bound to them, and classes of
interchangeable nodes.

Each node's free resources and per-GPU free shares are derived from the pods bound (or
assumed) on it. Nodes with the same shape and the same free state form a `NodeClass`; the
scheduler evaluates one member per class, which is what makes a 1,000-node replay fast in pure
Python. Every change of a node's state moves it between classes and appends the new class to
`moves`, so per-pod caches can catch up on just what changed.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from . import devices as dev
from . import names
from .devices import DeviceAssignment
from .nodeinfo import NodeInfo
from .podinfo import PodInfo

# Resources tracked per device rather than as node counters.
GPU_RESOURCES = (names.GPU, names.GPU_MILLI)
ClassKey = tuple[Any, ...]


class NodeState:
    """One node: static info plus what its bound pods use."""

    __slots__ = ("info", "shape_id", "requested", "pod_count", "gpu_free", "pods", "nominees",
                 "reserved_for", "free_cpu", "free_memory", "free_pods", "gpu_free_total",
                 "class_key")

    def __init__(self, info: NodeInfo, shape_id: int) -> None:
        self.info = info
        self.shape_id = shape_id
        self.requested: dict[str, int] = {}
        self.pod_count = 0
        self.gpu_free: list[int] = [names.MILLI_PER_GPU] * len(info.gpus)
        self.pods: dict[str, tuple[PodInfo, DeviceAssignment]] = {}
        # Pods that preempted here and wait for their victims to go (pod key -> priority);
        # `reserved_for` is the highest of those priorities, or None.
        self.nominees: dict[str, int] = {}
        self.reserved_for: int | None = None
        self.free_cpu = 0
        self.free_memory = 0
        self.free_pods = 0
        self.gpu_free_total = 0
        self.class_key: ClassKey = ()
        self._refresh()

    @property
    def name(self) -> str:
        return self.info.name

    def free(self, resource: str) -> int:
        return self.info.allocatable.get(resource, 0) - self.requested.get(resource, 0)

    def _refresh(self) -> None:
        self.free_cpu = self.free(names.CPU)
        self.free_memory = self.free(names.MEMORY)
        self.free_pods = self.info.allocatable.get(names.PODS, 0) // 1000 - self.pod_count
        self.gpu_free_total = sum(f for f in self.gpu_free if f > 0)
        others = tuple((r, self.free(r)) for r in sorted(set(self.requested) | set(self.info.allocatable))
                       if r not in (names.CPU, names.MEMORY, names.PODS) and r not in GPU_RESOURCES)
        self.reserved_for = max(self.nominees.values()) if self.nominees else None
        self.class_key = (self.shape_id, self.free_cpu, self.free_memory, self.free_pods,
                          tuple(sorted(self.gpu_free)), others, self.reserved_for)

    def set_nominees(self, nominees: dict[str, int]) -> None:
        self.nominees = dict(nominees)
        self._refresh()

    def add(self, pod: PodInfo, assignment: DeviceAssignment) -> None:
        for resource, amount in pod.requests.items():
            self.requested[resource] = self.requested.get(resource, 0) + amount
        self.pod_count += 1
        self.gpu_free = dev.apply(self.gpu_free, assignment)
        self.pods[pod.key] = (pod, assignment)
        self._refresh()

    def remove(self, pod_key: str) -> PodInfo | None:
        entry = self.pods.pop(pod_key, None)
        if entry is None:
            return None
        pod, assignment = entry
        for resource, amount in pod.requests.items():
            self.requested[resource] = self.requested.get(resource, 0) - amount
        self.pod_count -= 1
        self.gpu_free = dev.apply(self.gpu_free, assignment, sign=+1)
        self._refresh()
        return pod


@dataclass
class NodeClass:
    """Nodes in the same shape and free state; `first` is the deterministic tie-break.

    `first` is asked once per decision and the first member is the one that just got a pod
    (and so left the class): a heap of names with lazy deletion keeps it O(log n) instead
    of a `min` over thousands of identical empty nodes."""

    members: set[str] = field(default_factory=set)
    _order: list[str] = field(default_factory=list)  # a heap; may hold names since left

    def add(self, name: str) -> None:
        if name not in self.members:
            self.members.add(name)
            heapq.heappush(self._order, name)

    def discard(self, name: str) -> None:
        self.members.discard(name)
        if len(self._order) > 2 * len(self.members) + 32:
            self._order = sorted(self.members)  # a sorted list is a heap

    @property
    def first(self) -> str:
        order, members = self._order, self.members
        while order[0] not in members:
            heapq.heappop(order)
        return order[0]


class ClusterState:
    """Nodes and bound pods; `assume`/`forget` apply the scheduler's own decisions.

    `moves` logs every change of a node's class as (old class, new class), None for "no
    class" (node added or removed); caches replay it to stay current in O(changes)."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeState] = {}
        self.classes: dict[ClassKey, NodeClass] = {}
        self.moves: list[tuple[ClassKey | None, ClassKey | None]] = []
        self.epoch = 0  # bumped when `moves` is compacted; caches then start afresh
        self.pod_nodes: dict[str, str] = {}
        self.nominated: dict[str, str] = {}  # pod key -> the node it preempted on
        self._shapes: dict[tuple[Any, ...], int] = {}

    # ---- nodes -------------------------------------------------------------------------
    def add_node(self, info: NodeInfo) -> NodeState:
        """Add or replace a node; pods already bound to it are kept."""
        old = self.nodes.get(info.name)
        shape_id = self._shapes.setdefault(info.shape_key, len(self._shapes))
        node = NodeState(info, shape_id)
        old_key = None
        if old is not None:
            old_key = self._leave(old)
            for pod, assignment in old.pods.values():
                node.add(pod, assignment)
            if old.nominees:
                node.set_nominees(old.nominees)
        self.nodes[info.name] = node
        self._log(old_key, self._join(node))
        return node

    def remove_node(self, name: str) -> None:
        node = self.nodes.pop(name, None)
        if node is None:
            return
        self._log(self._leave(node), None)
        for key in node.pods:
            self.pod_nodes.pop(key, None)
        for key in node.nominees:
            self.nominated.pop(key, None)

    # ---- nominations (kube-scheduler's nominated pods) ----------------------------------
    def nominate(self, pod_key: str, node_name: str, priority: int) -> None:
        """Hold `node_name` for a pod that preempted there while its victims terminate:
        pods of the same or lower priority stay off the node (the `NominatedPods` filter)
        until the pod binds or its nomination goes, so the space it evicted for is not taken
        from under it."""
        node = self.nodes.get(node_name)
        if node is not None and node.nominees.get(pod_key) == priority:
            return
        self.unnominate(pod_key)
        if node is None:
            return
        self._change_nominees(node, {**node.nominees, pod_key: priority})
        self.nominated[pod_key] = node_name

    def unnominate(self, pod_key: str) -> bool:
        """Drop a pod's nomination; True if it had one."""
        node_name = self.nominated.pop(pod_key, None)
        node = self.nodes.get(node_name) if node_name is not None else None
        if node is None or pod_key not in node.nominees:
            return False
        self._change_nominees(node, {k: v for k, v in node.nominees.items() if k != pod_key})
        return True

    def _change_nominees(self, node: NodeState, nominees: dict[str, int]) -> None:
        old_key = self._leave(node)
        node.set_nominees(nominees)
        self._log(old_key, self._join(node))

    # ---- pods --------------------------------------------------------------------------
    def add_bound_pod(self, pod: PodInfo, node_name: str) -> DeviceAssignment:
        """Account a pod the API says is bound. Its devices come from its annotation; a GPU pod
        without a valid one (bound by someone else) gets devices chosen as we would."""
        assignment = pod.devices
        node = self.nodes.get(node_name)
        if node is None:
            raise KeyError(f"node {node_name!r} is not known")
        if pod.gpu.count and (len(assignment) != pod.gpu.count or
                              any(i >= len(node.gpu_free) for i, _ in assignment)):
            assignment = dev.assignment_for(node.gpu_free, pod.gpu.count, pod.gpu.milli, None) or ()
        self.assume(pod, node_name, assignment)
        return assignment

    def assume(self, pod: PodInfo, node_name: str, assignment: DeviceAssignment) -> None:
        """Record a placement before the API confirms it (kube-scheduler's assume)."""
        if pod.key in self.pod_nodes:
            self.forget(pod.key)
        node = self.nodes[node_name]
        old_key = self._leave(node)
        node.add(pod, assignment)
        self._log(old_key, self._join(node))
        self.pod_nodes[pod.key] = node_name

    def forget(self, pod_key: str) -> PodInfo | None:
        """Undo `assume` (binding failed) or drop a deleted pod."""
        node_name = self.pod_nodes.pop(pod_key, None)
        if node_name is None or node_name not in self.nodes:
            return None
        node = self.nodes[node_name]
        old_key = self._leave(node)
        pod = node.remove(pod_key)
        self._log(old_key, self._join(node))
        return pod

    def placement_of(self, pod_key: str) -> tuple[str, DeviceAssignment] | None:
        node_name = self.pod_nodes.get(pod_key)
        if node_name is None:
            return None
        return node_name, self.nodes[node_name].pods[pod_key][1]

    # ---- classes -----------------------------------------------------------------------
    def _leave(self, node: NodeState) -> ClassKey:
        key = node.class_key
        cls = self.classes.get(key)
        if cls is not None:
            cls.discard(node.name)
            if not cls.members:
                del self.classes[key]
        return key

    def _join(self, node: NodeState) -> ClassKey:
        key = node.class_key
        cls = self.classes.get(key)
        if cls is None:
            cls = self.classes[key] = NodeClass()
        cls.add(node.name)
        return key

    def _log(self, old: ClassKey | None, new: ClassKey | None) -> None:
        if old == new:
            return
        self.moves.append((old, new))
        if len(self.moves) > 200_000:  # a long-running live scheduler: let caches start afresh
            self.moves.clear()
            self.epoch += 1

    def representative(self, key: ClassKey) -> NodeState | None:
        cls = self.classes.get(key)
        return self.nodes[cls.first] if cls is not None else None
