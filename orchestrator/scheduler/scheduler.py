"""`Scheduler.schedule_one`: filter, score and pick a node (and GPUs) for one pod.

Pure with respect to the outside world: it reads a `ClusterState` and returns a `Decision`;
the caller applies it with `ClusterState.assume` and binds through the API (live) or writes a
row (replay). Both run exactly this code.

Speed comes from node classes (see `state`): one member per class of identical nodes is
filtered and scored, and per kind of pod the results sit in a max-heap that only learns about
classes created since that kind of pod was last scheduled. Pods pinned to a node, or whose
constraints name individual nodes, take the plain per-node path.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

from . import devices as dev
from .devices import DeviceAssignment
from .filters import NodeName
from .framework import Decision, FilterPlugin, ScorePlugin, Status, WorkloadObserver, unschedulable_message
from .podinfo import PodInfo
from .state import ClassKey, ClusterState, NodeState

NO_NODES_MESSAGE = "no nodes available to schedule pods"
# Outcome of evaluating one node (class) for a pod: why not, or (score, share target).
Outcome = Status | tuple[float, int | None]


@dataclass
class _Candidates:
    """Per kind of pod: outcome per class, a max-heap of feasible classes by score, and how
    many nodes fail for each reason (kept current from `ClusterState.moves`)."""

    epoch: int
    position: int = 0
    outcomes: dict[ClassKey, Outcome] = field(default_factory=dict)
    heap: list[tuple[float, int, ClassKey]] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)


class Scheduler:
    """A profile: ordered filters and weighted scores. Higher total score wins; ties go to the
    node whose name sorts first, so every run makes the same choices."""

    def __init__(self, filters: Sequence[FilterPlugin],
                 scores: Sequence[tuple[ScorePlugin, float]]) -> None:
        self.shape_filters = [f for f in filters if f.scope == "shape"]
        self.state_filters = [f for f in filters if f.scope == "state"]
        self.scores = list(scores)
        self.observers = [s for s, _ in self.scores if isinstance(s, WorkloadObserver)]
        self._shape_status: dict[tuple[Any, int], Status | None] = {}
        self._candidates: dict[tuple[Any, Any, int], _Candidates] = {}
        self._generations: tuple[int, ...] = ()
        self._sequence = itertools.count()

    # ---- public API ----------------------------------------------------------------------
    def schedule_one(self, pod: PodInfo, state: ClusterState) -> Decision:
        """Where this pod should go now, or the kube-style reason it cannot go anywhere."""
        if pod.request_error:
            return Decision(pod.key, None, message=pod.request_error,
                            reasons={pod.request_error: len(state.nodes)})
        self._observe(pod)
        if not state.nodes:
            return Decision(pod.key, None, message=NO_NODES_MESSAGE)
        if pod.node_name or pod.uses_node_identity:
            return self._schedule_per_node(pod, state)
        return self._schedule_by_class(pod, state)

    @staticmethod
    def assume(state: ClusterState, pod: PodInfo, decision: Decision) -> None:
        if decision.node is None:
            raise ValueError(f"pod {pod.key} was not scheduled: {decision.message}")
        state.assume(pod, decision.node, decision.devices)

    @staticmethod
    def forget(state: ClusterState, pod_key: str) -> None:
        state.forget(pod_key)

    def evaluate(self, pod: PodInfo, node: NodeState) -> Outcome:
        """Filter and score one node: a `Status` saying why not, or (score, share target)."""
        status = self._shape_filter(pod, node)
        if status is not None:
            return status
        for plugin in self.state_filters:
            status = plugin.filter(pod, node)
            if status is not None:
                return status
        best: tuple[float, int | None] | None = None
        for target, devices in self._device_options(pod, node):
            total = 0.0
            for scorer, weight in self.scores:
                total += weight * scorer.score(pod, node, devices)
            if best is None or total > best[0]:
                best = (total, target)
        assert best is not None  # GpuFit passed, so at least one option exists
        return best

    # ---- internals -----------------------------------------------------------------------
    def _observe(self, pod: PodInfo) -> None:
        for observer in self.observers:
            observer.observe(pod)
        generations = tuple(o.generation for o in self.observers)
        if generations != self._generations:
            self._generations = generations
            self._candidates.clear()

    def _shape_filter(self, pod: PodInfo, node: NodeState) -> Status | None:
        if pod.uses_node_identity:
            return self._run_shape_filters(pod, node)
        key = (pod.constraint_key, node.shape_id)
        try:
            return self._shape_status[key]
        except KeyError:
            status = self._shape_status[key] = self._run_shape_filters(pod, node)
            return status

    def _run_shape_filters(self, pod: PodInfo, node: NodeState) -> Status | None:
        for plugin in self.shape_filters:
            status = plugin.filter(pod, node)
            if status is not None:
                return status
        return None

    @staticmethod
    def _device_options(pod: PodInfo, node: NodeState) -> list[tuple[int | None, DeviceAssignment]]:
        gpu = pod.gpu
        if gpu.count == 0:
            return [(None, ())]
        if gpu.shared:
            return [(free, dev.shared_device(node.gpu_free, gpu.milli, free))
                    for free in dev.shared_options(node.gpu_free, gpu.milli)]
        whole = dev.whole_devices(node.gpu_free, gpu.count)
        return [(None, whole)] if whole is not None else []

    def _decide(self, pod: PodInfo, node: NodeState, score: float, target: int | None) -> Decision:
        devices = dev.assignment_for(node.gpu_free, pod.gpu.count, pod.gpu.milli, target)
        return Decision(pod.key, node.name, devices or (), score=score)

    def _schedule_by_class(self, pod: PodInfo, state: ClusterState) -> Decision:
        # Priority is part of the kind of pod: a held node (`NominatedPods`) turns away only
        # pods of the same or lower priority.
        key = (pod.constraint_key, pod.resource_key, pod.priority)
        cands = self._candidates.get(key)
        if cands is None or cands.epoch != state.epoch or cands.position > len(state.moves):
            cands = self._candidates[key] = self._fresh_candidates(pod, state)
        else:
            self._catch_up(pod, state, cands)
        heap, classes = cands.heap, state.classes
        while heap and heap[0][2] not in classes:
            heapq.heappop(heap)
        if not heap:
            reasons = {r: n for r, n in cands.reasons.items() if n > 0}
            return Decision(pod.key, None, message=unschedulable_message(len(state.nodes), reasons),
                            reasons=reasons)
        top = heap[0][0]
        ties: list[tuple[float, int, ClassKey]] = []
        while heap and heap[0][0] == top:
            entry = heapq.heappop(heap)
            if entry[2] in classes:
                ties.append(entry)
        for entry in ties:
            heapq.heappush(heap, entry)
        best = min(ties, key=lambda e: classes[e[2]].first) if len(ties) > 1 else ties[0]
        node = state.nodes[classes[best[2]].first]
        outcome = cands.outcomes[best[2]]
        assert not isinstance(outcome, Status)
        return self._decide(pod, node, outcome[0], outcome[1])

    def _fresh_candidates(self, pod: PodInfo, state: ClusterState) -> _Candidates:
        cands = _Candidates(epoch=state.epoch, position=len(state.moves))
        for class_key, members in state.classes.items():
            outcome = self._outcome(pod, state, cands, class_key)
            if isinstance(outcome, Status):
                for reason in outcome.reasons:
                    cands.reasons[reason] += len(members.members)
        return cands

    def _catch_up(self, pod: PodInfo, state: ClusterState, cands: _Candidates) -> None:
        """Replay node moves since this kind of pod was last seen: O(changes), not O(nodes)."""
        outcomes, reasons = cands.outcomes, cands.reasons
        for old, new in state.moves[cands.position:]:
            if old is not None:
                # A class only passed through inside this window was never counted.
                outcome = outcomes.get(old)
                if isinstance(outcome, Status):
                    for reason in outcome.reasons:
                        reasons[reason] -= 1
            if new is not None:
                outcome = self._outcome(pod, state, cands, new)
                if isinstance(outcome, Status):
                    for reason in outcome.reasons:
                        reasons[reason] += 1
        cands.position = len(state.moves)

    def _outcome(self, pod: PodInfo, state: ClusterState, cands: _Candidates,
                 class_key: ClassKey) -> Outcome:
        """The cached outcome for a class; feasible classes (re)enter the heap."""
        outcome = cands.outcomes.get(class_key)
        if outcome is None:
            members = state.classes.get(class_key)
            if members is None:  # the class came and went since: evaluate it if it returns
                return Status((), "")
            outcome = cands.outcomes[class_key] = self.evaluate(pod, state.nodes[members.first])
            if not isinstance(outcome, Status):
                heapq.heappush(cands.heap, (-outcome[0], next(self._sequence), class_key))
        elif not isinstance(outcome, Status) and class_key in state.classes:
            heapq.heappush(cands.heap, (-outcome[0], next(self._sequence), class_key))
        return outcome

    def _schedule_per_node(self, pod: PodInfo, state: ClusterState) -> Decision:
        pinned = NodeName()
        reasons: Counter[str] = Counter()
        best: tuple[float, str, int | None] | None = None
        for name in sorted(state.nodes):
            node = state.nodes[name]
            outcome = pinned.filter(pod, node) or self.evaluate(pod, node)
            if isinstance(outcome, Status):
                for reason in outcome.reasons:
                    reasons[reason] += 1
            elif best is None or outcome[0] > best[0]:
                best = (outcome[0], name, outcome[1])
        if best is None:
            return Decision(pod.key, None, message=unschedulable_message(len(state.nodes), reasons),
                            reasons=dict(reasons))
        return self._decide(pod, state.nodes[best[1]], best[0], best[2])
