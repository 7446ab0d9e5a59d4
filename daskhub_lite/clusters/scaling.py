"""Deciding how a worker group scales (pure; `cluster.py` acts on the answers).

The operator's own scale-down asks the scheduler for *any* n workers to retire, whichever
group they are in, and falls back to deleting the newest Deployments. We decide per group:
workers whose pods never connected (pending, e.g. waiting for a GPU) go first, since they
hold no data; then connected workers chosen by the scheduler, retired gracefully before
their Deployments are deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ScaleDown:
    """Deployments to delete at once (never connected) and workers to retire first."""
    delete_now: list[str] = field(default_factory=list)
    retire: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.delete_now) + len(self.retire)


def plan_scale_down(deployments: list[str], connected: set[str], target: int,
                    scheduler_choice: list[str] | None = None) -> ScaleDown:
    """Which of a group's worker `deployments` (oldest first) to remove to reach `target`.

    `connected`: worker names the scheduler knows (a worker's name is its Deployment's).
    `scheduler_choice`: the scheduler's preferred workers to close (fewest data first);
    connected workers not in it are taken newest first.
    """
    excess = len(deployments) - max(target, 0)
    if excess <= 0:
        return ScaleDown()
    pending = [d for d in reversed(deployments) if d not in connected]
    delete_now = pending[:excess]
    excess -= len(delete_now)
    ranked = [w for w in (scheduler_choice or []) if w in deployments and w in connected]
    ranked += [d for d in reversed(deployments) if d in connected and d not in ranked]
    return ScaleDown(delete_now=delete_now, retire=ranked[:excess])


def group_target(cluster_target: int, other_groups: int, minimum: int, maximum: int) -> int:
    """One group's adaptive target: what the cluster needs beyond the other groups' workers,
    clamped to the group's bounds."""
    return max(minimum, min(maximum, cluster_target - other_groups))


def validate_bounds(minimum: int, maximum: int | float) -> None:
    if minimum < 0:
        raise ValueError(f"minimum must be >= 0, got {minimum}")
    if maximum < minimum:
        raise ValueError(f"maximum ({maximum}) must be >= minimum ({minimum})")
