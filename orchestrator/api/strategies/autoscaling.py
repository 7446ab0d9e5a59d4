"""Strategies of autoscaling/v2: kube's pkg/registry/autoscaling/<kind>."""

from __future__ import annotations

from orchestrator.api import defaults
from orchestrator.api.strategy import ALL, Strategy

STRATEGIES: tuple[Strategy, ...] = (
    Strategy("autoscaling", "HorizontalPodAutoscaler", "horizontalpodautoscalers", version="v2",
             short_names=("hpa",), categories=ALL, subresources=("status",),
             defaults=defaults.horizontal_pod_autoscaler,
             initial_status={"desiredReplicas": 0, "currentMetrics": None}),
)
