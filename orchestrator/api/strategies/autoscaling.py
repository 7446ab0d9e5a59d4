"""Strategies of autoscaling/v2: kube's pkg/registry/autoscaling/<kind>."""

from __future__ import annotations

from orchestrator.api import defaults
from orchestrator.api.strategy import Strategy

STRATEGIES: tuple[Strategy, ...] = (
    Strategy("autoscaling", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
             defaults=defaults.horizontal_pod_autoscaler,
             initial_status={"desiredReplicas": 0, "currentMetrics": None}),
)
