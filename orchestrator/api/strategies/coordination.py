"""Strategies of coordination.k8s.io/v1."""

from __future__ import annotations

from orchestrator.api import table_resources as resources
from orchestrator.api.strategy import Strategy

STRATEGIES: tuple[Strategy, ...] = (
    Strategy("coordination.k8s.io", "Lease", "leases", printer=resources.LEASE),
)
