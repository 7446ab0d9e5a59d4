"""Strategies of apiregistration.k8s.io/v1 (kube-aggregator's APIService)."""

from __future__ import annotations

from orchestrator.api.strategy import Strategy

STRATEGIES: tuple[Strategy, ...] = (
    Strategy("apiregistration.k8s.io", "APIService", "apiservices", initial_status={}),
)
