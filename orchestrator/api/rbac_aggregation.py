"""ClusterRole aggregation (pure): a ClusterRole with an `aggregationRule` holds the union of
the rules of every other ClusterRole its selectors match, as kube-controller-manager's
clusterrole-aggregation controller computes it: selector by selector, matching roles in name
order, each rule once (first occurrence wins), the role itself skipped."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from orchestrator.api.errors import BadRequest
from orchestrator.api.selectors import label_selector_from_dict


def selectors_of(role: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    rule = role.get("aggregationRule")
    if not isinstance(rule, Mapping):
        return []
    return [s for s in rule.get("clusterRoleSelectors") or [] if isinstance(s, Mapping)]


def is_aggregated(role: Mapping[str, Any]) -> bool:
    return bool(selectors_of(role))


def aggregated_rules(role: Mapping[str, Any], cluster_roles: Iterable[Mapping[str, Any]]
                     ) -> list[Any] | None:
    """The rules `role` should hold, or None when it aggregates nothing (no
    aggregationRule) or a selector is malformed (the controller leaves such a role alone)."""
    selectors = selectors_of(role)
    if not selectors:
        return None
    name = (role.get("metadata") or {}).get("name")
    roles = sorted(cluster_roles, key=lambda r: str((r.get("metadata") or {}).get("name")))
    rules: list[Any] = []
    for selector in selectors:
        try:
            matcher = label_selector_from_dict(selector)
        except BadRequest:
            return None
        for other in roles:
            md = other.get("metadata") or {}
            if md.get("name") == name or not matcher.matches(md.get("labels") or {}):
                continue
            rules += [r for r in other.get("rules") or [] if r not in rules]
    return rules


def plan(role: Mapping[str, Any], cluster_roles: Iterable[Mapping[str, Any]]
         ) -> list[Any] | None:
    """The rules to write to `role`, or None when it already holds them."""
    wanted = aggregated_rules(role, cluster_roles)
    if wanted is None or wanted == list(role.get("rules") or []):
        return None
    return wanted
