"""The registry of built-in kinds' strategies (`orchestrator.api.strategy.Strategy`).

One module per API group lists its kinds' strategies; this module joins them and answers
lookups by resource key (what the server has: `ResourceType.key`) and by group and kind
(what defaults, validation, printing and field selectors are keyed by). A kind without a
strategy here, and every custom resource, gets `GENERIC`: no hooks.

Adding a built-in kind: its `ResourceType` in `api/kinds.py` `BUILTIN_TYPES`, and its
`Strategy` in the group's module below (a new group: a new module and a line in `_GROUPS`).
"""

from __future__ import annotations

from orchestrator.api.kinds import ResourceType
from orchestrator.api.strategies import (
    admissionregistration,
    apiextensions,
    apiregistration,
    apps,
    autoscaling,
    batch,
    certificates,
    core,
    events,
    networking,
    policy,
    rbac,
    storage,
)
from orchestrator.api.strategy import GENERIC, Strategy

_GROUPS = (core, apps, batch, autoscaling, networking, events, rbac, policy, storage,
           certificates, apiregistration, admissionregistration, apiextensions)

STRATEGIES: tuple[Strategy, ...] = tuple(s for group in _GROUPS for s in group.STRATEGIES)
_BY_KEY: dict[str, Strategy] = {s.key: s for s in STRATEGIES}
_BY_KIND: dict[tuple[str, str], Strategy] = {(s.group, s.kind): s for s in STRATEGIES}


def for_resource(rt: ResourceType) -> Strategy:
    """The strategy the server applies to writes of `rt` (GENERIC for custom resources)."""
    if rt.custom:
        return GENERIC
    return _BY_KEY.get(rt.key, GENERIC)


def for_kind(group: str, kind: str) -> Strategy | None:
    """A built-in kind's strategy by group ("" for core) and kind, or None."""
    return _BY_KIND.get((group, kind))


__all__ = ["GENERIC", "STRATEGIES", "Strategy", "for_kind", "for_resource"]
