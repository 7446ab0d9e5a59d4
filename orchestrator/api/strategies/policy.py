"""Strategies of policy/v1."""

from __future__ import annotations

from orchestrator.api import table_workloads as workloads
from orchestrator.api.strategy import Strategy

STRATEGIES: tuple[Strategy, ...] = (
    Strategy("policy", "PodDisruptionBudget", "poddisruptionbudgets", short_names=("pdb",),
             subresources=("status",),
             initial_status={"disruptionsAllowed": 0, "currentHealthy": 0,
                             "desiredHealthy": 0, "expectedPods": 0},
             printer=workloads.POD_DISRUPTION_BUDGET),
)
