"""Strategies of apiregistration.k8s.io/v1 (kube-aggregator's APIService)."""

from __future__ import annotations

from orchestrator.api import apiservices
from orchestrator.api import table_cluster as cluster
from orchestrator.api.strategy import EXTENSIONS, Strategy

_KEY = (apiservices.GROUP, apiservices.KIND)

STRATEGIES: tuple[Strategy, ...] = (
    Strategy(apiservices.GROUP, apiservices.KIND, "apiservices", namespaced=False,
             categories=EXTENSIONS, subresources=("status",),
             name_rule="path-segment",  # `<version>.<group>`, `v1.` for core
             defaults=apiservices.DEFAULTERS[_KEY],
             validate=apiservices.CAUSES[_KEY], initial_status={},
             required_checked_here=apiservices.REQUIRED_CHECKED_HERE,
             printer=cluster.API_SERVICE),
)
