"""Strategies of scheduling.k8s.io/v1."""

from __future__ import annotations

from orchestrator.api import table_resources as resources
from orchestrator.api.strategy import Strategy

STRATEGIES: tuple[Strategy, ...] = (
    Strategy("scheduling.k8s.io", "PriorityClass", "priorityclasses", namespaced=False,
             short_names=("pc",), printer=resources.PRIORITY_CLASS),
)
