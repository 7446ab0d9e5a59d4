"""Strategies of networking.k8s.io/v1 and discovery.k8s.io/v1."""

from __future__ import annotations

from orchestrator.api.strategy import Strategy

_NET = "networking.k8s.io"
STRATEGIES: tuple[Strategy, ...] = (
    Strategy(_NET, "Ingress", "ingresses", initial_status={"loadBalancer": {}}),
    Strategy(_NET, "IngressClass", "ingressclasses"),
    Strategy(_NET, "NetworkPolicy", "networkpolicies"),
    Strategy("discovery.k8s.io", "EndpointSlice", "endpointslices"),
)
