"""Gang scheduling: a pod group is placed all-or-nothing.

A group (label `daskhub-lite.io/pod-group` + annotation `daskhub-lite.io/min-member`, or
Volcano's `scheduling.k8s.io/group-name`) needs `min_member` pods placed at once. The planner
tries every pending member against the live `ClusterState` (assume each, then roll all of them
back), so it sees exactly what the single-pod path sees and leaves the state as it found it.
Only when at least `min_member` members (counting ones already bound) fit does it return their
decisions; the caller then assumes and binds them. Otherwise no member is placed, and the
message says how far the group is from fitting - or that it can never fit, when even an empty
cluster of the same nodes could not hold it.

Pure with respect to the outside world: it reads and (temporarily) writes a `ClusterState`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .framework import Decision
from .podinfo import PodInfo
from .policies import make_scheduler
from .scheduler import Scheduler
from .state import ClusterState


def group_key(pod: PodInfo) -> str | None:
    """`namespace/group` for members of a pod group, else None."""
    return f"{pod.namespace}/{pod.group.name}" if pod.group is not None else None


def member_order(pod: PodInfo) -> tuple[int, int, int, int, str]:
    """Higher priority first, then biggest first (first-fit decreasing packs a gang tighter),
    then by name so every run tries the same order."""
    return (-pod.priority, -pod.gpu.total_milli, -pod.cpu, -pod.memory, pod.name)


@dataclass(frozen=True)
class GangPlan:
    """Decisions for the members to bind now, or the message every member waits with."""

    group: str
    min_member: int
    decisions: tuple[tuple[PodInfo, Decision], ...] = ()
    message: str = ""

    @property
    def placed(self) -> bool:
        return bool(self.decisions)


def trial(scheduler: Scheduler, state: ClusterState,
          members: Sequence[PodInfo]) -> tuple[list[tuple[PodInfo, Decision]], list[Decision]]:
    """Schedule `members` one after another as if each were assumed, then undo it all.

    Returns (placements, failures). `state` is unchanged afterwards (same nodes, same pods)."""
    placed: list[tuple[PodInfo, Decision]] = []
    failed: list[Decision] = []
    try:
        for member in members:
            if member.key in state.pod_nodes:
                continue  # already assumed or bound: not ours to try
            decision = scheduler.schedule_one(member, state)
            if decision.node is None:
                failed.append(decision)
                continue
            scheduler.assume(state, member, decision)
            placed.append((member, decision))
    finally:
        for member, _ in reversed(placed):
            state.forget(member.key)
    return placed, failed


def plan_gang(scheduler: Scheduler, state: ClusterState, group: str, min_member: int,
              pending: Sequence[PodInfo], bound: int) -> GangPlan:
    """Place the pending members of `group` if, with the `bound` ones, at least `min_member`
    fit now; else explain why the whole group waits."""
    name = group.partition("/")[2] or group
    present = bound + len(pending)
    if present < min_member:
        return GangPlan(group, min_member, message=(
            f'pod group "{name}": {present}/{min_member} members exist; waiting for the rest '
            f"to be created"))
    members = sorted(pending, key=member_order)
    broken = next((m for m in members if m.request_error), None)
    if broken is not None:
        return GangPlan(group, min_member, message=(
            f'pod group "{name}": member {broken.name} can never be placed, so neither can the '
            f"group: {broken.request_error}"))
    placed, failed = trial(scheduler, state, members)
    if bound + len(placed) >= min_member:
        return GangPlan(group, min_member, decisions=tuple(placed))
    detail = _first_failure(members, failed)
    capacity = fits_empty(state, members)
    if capacity < min_member - bound:
        message = (f'pod group "{name}": needs {min_member} members placed together but at most '
                   f"{bound + capacity} fit even on an empty cluster of {len(state.nodes)} "
                   f"node(s); the group is larger than the cluster")
    else:
        message = (f'pod group "{name}": {bound + len(placed)}/{min_member} members can be '
                   f"placed; waiting for the whole group")
    return GangPlan(group, min_member, message=f"{message}. {detail}" if detail else message)


def _first_failure(members: Sequence[PodInfo], failed: Sequence[Decision]) -> str:
    if not failed:
        return ""
    names = {m.key: m.name for m in members}
    first = failed[0]
    return f"{names.get(first.pod_key, first.pod_key)}: {first.message}"


def fits_empty(state: ClusterState, members: Sequence[PodInfo]) -> int:
    """How many of `members` an empty cluster of the same nodes could hold. A plain best-fit
    profile is enough: the question is capacity, not placement quality."""
    empty = ClusterState()
    for node in state.nodes.values():
        empty.add_node(node.info)
    placed, _ = trial(make_scheduler("bestfit"), empty, members)
    return len(placed)
