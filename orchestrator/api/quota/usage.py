"""What the quota controller writes: a quota's `status` recounted from the objects in its
namespace (kube's quota.CalculateUsage and the controller's syncResourceQuota). Pure.

`status.hard` is `spec.hard`; `status.used` has one entry per hard resource: the sum over
the objects that match the quota's scopes, zero when none do. A resource no evaluator knows
keeps what it had (nothing can charge it, so nothing can be refused for it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Mapping

from orchestrator.api.quota import amounts
from orchestrator.api.quota.amounts import ZERO, ResourceList
from orchestrator.api.quota.check import scope_selectors
from orchestrator.api.quota.evaluators import evaluator_for, group_resources_for

Obj = Mapping[str, Any]


def tracked(quota: Obj) -> set[str]:
    """The kinds of object (`pods`, `deployments.apps`) this quota counts."""
    return group_resources_for(((quota.get("spec") or {}).get("hard") or {}).keys())


def calculate_used(quota: Obj, objects: Mapping[str, Iterable[Obj]],
                   now: datetime) -> ResourceList:
    """`objects`: the namespace's objects by group resource (at least those `tracked`)."""
    hard = amounts.parse_list((quota.get("spec") or {}).get("hard"))
    used = amounts.mask(amounts.parse_list((quota.get("status") or {}).get("used")), hard)
    selectors = scope_selectors(quota)
    for group_resource in sorted(tracked(quota)):
        evaluator = evaluator_for(group_resource)
        names = evaluator.matching_resources(hard)
        total: ResourceList = {name: ZERO for name in names}
        for obj in objects.get(group_resource, ()):
            if all(evaluator.matches_scope(s, obj) for s in selectors):
                total = amounts.add(total, amounts.mask(evaluator.usage(obj, now), names))
        used.update(total)
    return used


def desired_status(quota: Obj, objects: Mapping[str, Iterable[Obj]],
                   now: datetime) -> dict[str, dict[str, str]]:
    hard = amounts.parse_list((quota.get("spec") or {}).get("hard"))
    return {"hard": amounts.render(hard),
            "used": amounts.render(calculate_used(quota, objects, now))}


def status_current(quota: Obj, desired: Mapping[str, Mapping[str, str]]) -> bool:
    """Whether the stored status already says this (quantities compared by value)."""
    status = quota.get("status") or {}
    return all(amounts.equal(amounts.parse_list(status.get(key)),
                             amounts.parse_list(desired[key]))
               and set(status.get(key) or {}) == set(desired[key]) for key in ("hard", "used"))
