"""Admission's quota check, pure: given a namespace's quotas and one create or update, either
the quotas' new `status.used` (the request's charge added) or a refusal with kube's message
(the ResourceQuota admission plugin's CheckRequest).

A quota takes part when its `status.hard` names a resource the object can be charged and the
object matches every one of its scopes. Quotas the controller has not yet filled in
(`status.hard` empty) constrain nothing, as in Kubernetes. An update is charged only what it
adds (the new object's usage minus the old one's, never below zero).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Sequence

from orchestrator.api.quota import amounts
from orchestrator.api.quota.amounts import ResourceList
from orchestrator.api.quota.evaluators import Evaluator

Obj = Mapping[str, Any]


class QuotaRefused(Exception):
    """The request does not fit; `str()` is kube's reason (`exceeded quota: ...`)."""


@dataclass(frozen=True)
class Charge:
    """A quota whose usage the request changes, and its new `status.used`."""

    quota: Obj
    used: ResourceList


def scope_selectors(quota: Obj) -> list[dict[str, Any]]:
    """`spec.scopes` (each an Exists requirement) and `spec.scopeSelector`'s expressions."""
    spec = quota.get("spec") or {}
    out: list[dict[str, Any]] = [{"scopeName": s, "operator": "Exists"}
                                 for s in spec.get("scopes") or []]
    selector = spec.get("scopeSelector") or {}
    out += [dict(e) for e in selector.get("matchExpressions") or [] if isinstance(e, Mapping)]
    return out


def hard_of(quota: Obj) -> ResourceList:
    return amounts.parse_list((quota.get("status") or {}).get("hard"))


def used_of(quota: Obj) -> ResourceList:
    return amounts.parse_list((quota.get("status") or {}).get("used"))


def matches(evaluator: Evaluator, quota: Obj, obj: Obj, hard: Mapping[str, Any]) -> bool:
    """generic.Matches: the quota limits something the object can be charged, and the
    object is in every one of the quota's scopes."""
    if not evaluator.matching_resources(hard):
        return False
    return all(evaluator.matches_scope(s, obj) for s in scope_selectors(quota))


def check_request(quotas: Sequence[Obj], evaluator: Evaluator, operation: str, obj: Obj,
                  old: Obj | None, now: datetime) -> list[Charge]:
    """The charges to record, or QuotaRefused. `operation` is CREATE or UPDATE."""
    interesting: list[tuple[Obj, ResourceList, ResourceList]] = []
    for quota in quotas:
        hard = hard_of(quota)
        if not matches(evaluator, quota, obj, hard):
            continue
        restricted = evaluator.matching_resources(hard)
        problem = evaluator.constraints(restricted, obj)
        name = (quota.get("metadata") or {}).get("name", "")
        if problem:
            raise QuotaRefused(f"failed quota: {name}: {problem}")
        used = used_of(quota)
        if any(r not in used for r in restricted):
            raise QuotaRefused(f"status unknown for quota: {name}, resources: "
                               f"{','.join(sorted(restricted))}")
        interesting.append((quota, hard, used))
    if not interesting:
        return []
    usage = evaluator.usage(obj, now)
    negative = amounts.negative(usage)
    if negative:
        raise QuotaRefused("quota usage is negative for resource(s): " + ",".join(negative))
    charges: list[Charge] = []
    for quota, hard, used in interesting:
        delta = usage
        if operation == "UPDATE" and old is not None and \
                (old.get("metadata") or {}).get("resourceVersion") and \
                matches(evaluator, quota, old, hard):
            delta = amounts.subtract_non_negative(usage, evaluator.usage(old, now))
        requested = amounts.mask(amounts.remove_zeros(delta), hard)
        if not requested:
            continue
        new_used = amounts.add(used, requested)
        over = amounts.exceeded(amounts.mask(new_used, requested), hard)
        if over:
            raise QuotaRefused(
                f"exceeded quota: {(quota.get('metadata') or {}).get('name', '')}, requested: "
                f"{amounts.pretty(amounts.mask(requested, over))}, used: "
                f"{amounts.pretty(amounts.mask(used, over))}, limited: "
                f"{amounts.pretty(amounts.mask(hard, over))}")
        charges.append(Charge(quota, new_used))
    return charges
