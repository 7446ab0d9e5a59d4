"""Strategies of policy/v1, scheduling.k8s.io/v1 and coordination.k8s.io/v1."""

from __future__ import annotations

from orchestrator.api import table_resources as resources
from orchestrator.api import table_workloads as workloads
from orchestrator.api.strategy import Strategy

STRATEGIES: tuple[Strategy, ...] = (
    Strategy("policy", "PodDisruptionBudget", "poddisruptionbudgets",
             initial_status={"disruptionsAllowed": 0, "currentHealthy": 0,
                             "desiredHealthy": 0, "expectedPods": 0},
             printer=workloads.POD_DISRUPTION_BUDGET),
    Strategy("scheduling.k8s.io", "PriorityClass", "priorityclasses",
             printer=resources.PRIORITY_CLASS),
    Strategy("coordination.k8s.io", "Lease", "leases", printer=resources.LEASE),
)
