"""Strategies of networking.k8s.io/v1 and discovery.k8s.io/v1."""

from __future__ import annotations

from orchestrator.api import table_resources as resources
from orchestrator.api.strategy import Strategy

_NET = "networking.k8s.io"
STRATEGIES: tuple[Strategy, ...] = (
    Strategy(_NET, "Ingress", "ingresses", short_names=("ing",), subresources=("status",),
             initial_status={"loadBalancer": {}},
             printer=resources.INGRESS),
    Strategy(_NET, "IngressClass", "ingressclasses", namespaced=False,
             printer=resources.INGRESS_CLASS),
    Strategy(_NET, "NetworkPolicy", "networkpolicies", short_names=("netpol",),
             printer=resources.NETWORK_POLICY),
    Strategy("discovery.k8s.io", "EndpointSlice", "endpointslices",
             printer=resources.ENDPOINT_SLICE),
)
