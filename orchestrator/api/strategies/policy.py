"""Strategies of policy/v1, scheduling.k8s.io/v1 and coordination.k8s.io/v1."""

from __future__ import annotations

from orchestrator.api.strategy import Strategy

STRATEGIES: tuple[Strategy, ...] = (
    Strategy("policy", "PodDisruptionBudget", "poddisruptionbudgets",
             initial_status={"disruptionsAllowed": 0, "currentHealthy": 0,
                             "desiredHealthy": 0, "expectedPods": 0}),
    Strategy("scheduling.k8s.io", "PriorityClass", "priorityclasses"),
    Strategy("coordination.k8s.io", "Lease", "leases"),
)
