"""The registry of built-in kinds (`orchestrator.api.strategy.Strategy`).

Each module below lists the strategies of its API group (or groups) in `STRATEGIES`; this
module joins them, in `_MODULES`' order, into every built-in kind the API serves
(`orchestrator.api.kinds.BUILTIN_TYPES` is their `resource_type`s, in this order, which is
the order discovery lists a group's resources in), and answers lookups by resource key
(what the server has: `ResourceType.key`) and by group and kind (what defaults,
validation, printing and field selectors are keyed by). Custom resources get `GENERIC`:
no hooks.

Adding a built-in kind: its `Strategy` in its group's module; a new group (or a kind kept
apart): a new module here, with its rules, printer and strategies, and a line in
`_MODULES`. A new group sorts after the groups in `kinds.GROUP_ORDER` in discovery.
"""

from __future__ import annotations

from orchestrator.api.resource_type import ResourceType
from orchestrator.api.strategies import (
    admissionregistration,
    apiextensions,
    apiregistration,
    apps,
    autoscaling,
    batch,
    certificates,
    coordination,
    core,
    events,
    networking,
    policy,
    rbac,
    resource,
    reviews,
    scheduling,
    storage,
)
from orchestrator.api.strategy import GENERIC, Strategy

_MODULES = (
    core,
    apps,
    batch,
    autoscaling,
    networking,  # and discovery.k8s.io
    coordination,
    events,
    rbac,
    scheduling,
    policy,
    storage,
    certificates,
    apiregistration,
    admissionregistration,
    reviews,  # authorization.k8s.io, authentication.k8s.io
    apiextensions,
    resource,
)

STRATEGIES: tuple[Strategy, ...] = tuple(s for module in _MODULES for s in module.STRATEGIES)
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
