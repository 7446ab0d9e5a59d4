"""Preemption: which lower-priority pods to evict, on which one node, so a pod fits.

As kube-scheduler's DefaultPreemption: on each node, take away every pod of lower priority;
if the preemptor still does not fit, the node cannot help. Otherwise put pods back
("reprieve") most important first while the preemptor still fits; what cannot come back is
the victim set. Differences, both deliberate:

- PodDisruptionBudgets are respected, not just preferred: victims are evicted through the
  `pods/eviction` subresource, which refuses to break a budget, so a victim set that would
  exceed some budget's `disruptionsAllowed` is not a candidate at all.
- Among nodes, after "the least important victims", the choice minimises the node's
  increase of expected GPU fragmentation (the same measure placement scores with), then
  the number of victims. Two reprieve orders are tried per node (big pods kept first, small
  pods kept first) and the better victim set wins, since which pods go decides which GPU
  devices end up free.

Pods already terminating are counted as gone (their space is on its way back) and are never
victims. Pure: reads a `ClusterState`, builds what-if copies of nodes, returns a plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Collection, Iterable, Mapping, Sequence

from . import devices as dev
from . import names
from .devices import DeviceAssignment
from .framework import Decision, Status
from .podinfo import PodInfo
from .scheduler import Scheduler
from .state import ClusterState, NodeState

# pod key -> names of the disruption budgets that cover it
BudgetsOf = Callable[[str], Sequence[str]]


@dataclass(frozen=True)
class PreemptionPlan:
    """Evict `victims` from `node`; the preemptor then fits there (as `decision` says)."""

    node: str
    victims: tuple[PodInfo, ...]
    decision: Decision
    fragmentation_delta: float = 0.0

    @property
    def victim_keys(self) -> tuple[str, ...]:
        return tuple(v.key for v in self.victims)


def _fragmentation(scheduler: Scheduler) -> Callable[[NodeState], float]:
    """The node fragmentation measure of the scheduler's profile (milli-GPU), or a plain one:
    free GPU left on partly used devices."""
    for scorer, _ in scheduler.scores:
        measure = getattr(scorer, "node_fragmentation", None)
        if measure is not None:
            def frag(node: NodeState, measure: Callable[..., float] = measure) -> float:
                if not node.info.gpus:
                    return 0.0
                return float(measure((node.info.gpu_model, node.free_cpu, node.free_memory,
                                      tuple(sorted(node.gpu_free)))))
            return frag
    return lambda node: float(sum(f for f in node.gpu_free if 0 < f < names.MILLI_PER_GPU))


def _what_if(node: NodeState, keep: Iterable[tuple[PodInfo, DeviceAssignment]]) -> NodeState:
    copy = NodeState(node.info, node.shape_id)
    for pod, assignment in keep:
        copy.add(pod, assignment)
    if node.nominees:  # a node held for another preemptor stays held in the what-if
        copy.set_nominees(node.nominees)
    return copy


def _fits(scheduler: Scheduler, pod: PodInfo, node: NodeState) -> tuple[float, int | None] | None:
    outcome = scheduler.evaluate(pod, node)
    return None if isinstance(outcome, Status) else outcome


def _within_budgets(victims: Sequence[PodInfo], budgets_of: BudgetsOf,
                    allowed: Mapping[str, int]) -> bool:
    used: dict[str, int] = {}
    for victim in victims:
        for budget in budgets_of(victim.key):
            used[budget] = used.get(budget, 0) + 1
            if used[budget] > allowed.get(budget, 0):
                return False
    return True


def _victims_on(scheduler: Scheduler, pod: PodInfo, node: NodeState,
                terminating: Collection[str], budgets_of: BudgetsOf,
                allowed: Mapping[str, int]) -> PreemptionPlan | None:
    staying: list[tuple[PodInfo, DeviceAssignment]] = []
    removable: list[tuple[PodInfo, DeviceAssignment]] = []
    for key, (other, assignment) in node.pods.items():
        if key in terminating:
            continue
        (removable if other.priority < pod.priority else staying).append((other, assignment))
    if not removable:
        return None
    if _fits(scheduler, pod, _what_if(node, staying)) is None:
        return None  # even without every lower-priority pod it does not fit
    before = _fragmentation(scheduler)(node)
    best: PreemptionPlan | None = None
    for bigger_first in (True, False):
        order = sorted(removable, key=lambda e: (-e[0].priority,
                                                 -e[0].gpu.total_milli if bigger_first
                                                 else e[0].gpu.total_milli,
                                                 e[0].key))
        kept = list(staying)
        victims: list[PodInfo] = []
        for entry in order:
            if _fits(scheduler, pod, _what_if(node, kept + [entry])) is not None:
                kept.append(entry)
            else:
                victims.append(entry[0])
        if not victims or not _within_budgets(victims, budgets_of, allowed):
            continue
        after = _what_if(node, kept)
        outcome = _fits(scheduler, pod, after)
        assert outcome is not None
        devices = dev.assignment_for(after.gpu_free, pod.gpu.count, pod.gpu.milli, outcome[1])
        after.add(pod, devices or ())
        plan = PreemptionPlan(node.name, tuple(victims),
                              Decision(pod.key, node.name, devices or (), score=outcome[0]),
                              _fragmentation(scheduler)(after) - before)
        if best is None or _rank(plan) < _rank(best):
            best = plan
    return best


def _rank(plan: PreemptionPlan) -> tuple[int, float, int, int, str]:
    """Least important victims first, then least fragmentation, fewest victims, name."""
    return (max(v.priority for v in plan.victims), round(plan.fragmentation_delta, 6),
            len(plan.victims), sum(v.priority for v in plan.victims), plan.node)


def plan_preemption(scheduler: Scheduler, state: ClusterState, pod: PodInfo, *,
                    terminating: Collection[str] = (),
                    budgets_of: BudgetsOf = lambda key: (),
                    allowed: Mapping[str, int] | None = None) -> PreemptionPlan | None:
    """The best node and victims for `pod`, or None when evicting lower-priority pods
    cannot make room anywhere (or would break a disruption budget)."""
    if pod.request_error:
        return None
    allowed = allowed or {}
    best: PreemptionPlan | None = None
    for name in sorted(state.nodes):
        node = state.nodes[name]
        if not node.pods:
            continue
        plan = _victims_on(scheduler, pod, node, terminating, budgets_of, allowed)
        if plan is not None and (best is None or _rank(plan) < _rank(best)):
            best = plan
    return best


def waiting_on_terminating(state: ClusterState, pod: PodInfo, node_name: str,
                           terminating: Collection[str]) -> bool:
    """kube's eligibility rule: a pod nominated to a node where lower-priority pods are still
    terminating waits for them instead of preempting again."""
    node = state.nodes.get(node_name)
    if node is None:
        return False
    return any(key in terminating and other.priority < pod.priority
               for key, (other, _) in node.pods.items())


@dataclass(frozen=True)
class GangPreemptionPlan:
    """Evict `victims` so that the members in `placements` fit at the same time; each
    member is nominated to its node while the victims go."""

    victims: tuple[tuple[PodInfo, str], ...]  # (victim, its node)
    placements: tuple[tuple[PodInfo, Decision], ...]


def plan_gang_preemption(scheduler: Scheduler, state: ClusterState,
                         members: Sequence[PodInfo], needed: int, *,
                         terminating: Collection[str] = (),
                         budgets_of: BudgetsOf = lambda key: (),
                         allowed: Mapping[str, int] | None = None) -> GangPreemptionPlan | None:
    """Room for `needed` of a pod group's pending `members` at once, by evicting pods of
    lower priority; None when that cannot be done (or would break a disruption budget).

    Members are taken in the gang order; each one goes where it fits, else where
    `plan_preemption` would put it, its victims then counted as gone for the next members.
    Everything is tried on `state` and undone, as `gang.trial` does, so members see the
    space earlier members freed or took. Budgets are spent across the whole group."""
    allowed_left = dict(allowed or {})
    gone = set(terminating)
    placed: list[tuple[PodInfo, Decision]] = []
    evicted: list[tuple[PodInfo, str, DeviceAssignment]] = []
    # Pods already terminating count as gone here as in `plan_preemption`, so the state the
    # members are assumed into agrees with the what-ifs the plans were made on.
    set_aside: list[tuple[PodInfo, str, DeviceAssignment]] = []
    try:
        for key in sorted(gone & state.pod_nodes.keys()):
            node_name = state.pod_nodes[key]
            pod, assignment = state.nodes[node_name].pods[key]
            state.forget(key)
            set_aside.append((pod, node_name, assignment))
        for member in members:
            if len(placed) >= needed:
                break
            if member.request_error or member.key in state.pod_nodes:
                continue
            decision = scheduler.schedule_one(member, state)
            if decision.node is None:
                plan = plan_preemption(scheduler, state, member, terminating=gone,
                                       budgets_of=budgets_of, allowed=allowed_left)
                if plan is None:
                    continue
                for victim in plan.victims:
                    for budget in budgets_of(victim.key):
                        allowed_left[budget] = allowed_left.get(budget, 0) - 1
                    assignment = state.nodes[plan.node].pods[victim.key][1]
                    state.forget(victim.key)
                    gone.add(victim.key)
                    evicted.append((victim, plan.node, assignment))
                decision = plan.decision
            scheduler.assume(state, member, decision)
            placed.append((member, decision))
    finally:
        for member, _ in reversed(placed):
            state.forget(member.key)
        for victim, node, assignment in reversed(evicted + set_aside):
            state.assume(victim, node, assignment)
    if len(placed) < needed or not evicted:
        return None
    return GangPreemptionPlan(tuple((v, node) for v, node, _ in evicted), tuple(placed))
