"""The checks of pkg/apis/core/validation that ResourceQuota and LimitRange writers meet
first, so that a quota or range that could never work is refused (422) instead of silently
enforcing nothing: unknown scopes and selector operators, negative limits, a LimitRange whose
min is over its max or whose defaults fall outside them.

Quantities in the messages print as their canonical strings (kube prints the Go value).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Callable, Mapping

from orchestrator.api.errors import Cause, forbidden, invalid, not_supported, required
from orchestrator.api.quantity import QuantityError, canonical_quantity, parse_quantity
from orchestrator.api.quota.pods import POD_SCOPES

SCOPE_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def _map(value: Any) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()} if isinstance(value, Mapping) else {}


def _amounts(value: Any) -> dict[str, tuple[Decimal, str]]:
    """Parsable quantities only: what does not parse is the schema walk's to report."""
    out = {}
    for name, text in _map(value).items():
        try:
            out[name] = (parse_quantity(text), canonical_quantity(text))
        except QuantityError:
            continue
    return out


def quota_causes(obj: Mapping[str, Any]) -> list[Cause]:
    spec = obj.get("spec") if isinstance(obj.get("spec"), Mapping) else {}
    assert isinstance(spec, Mapping)
    out: list[Cause] = []
    for name, (value, text) in sorted(_amounts(spec.get("hard")).items()):
        if value < 0:
            out.append(invalid(f"spec.hard[{name}]", text, "must be greater than or equal to 0"))
    for i, scope in enumerate(spec.get("scopes") or []):
        if scope not in POD_SCOPES:
            out.append(not_supported(f"spec.scopes[{i}]", scope, sorted(POD_SCOPES)))
    selector = spec.get("scopeSelector") if isinstance(spec.get("scopeSelector"), Mapping) else {}
    assert isinstance(selector, Mapping)
    for i, expression in enumerate(selector.get("matchExpressions") or []):
        if not isinstance(expression, Mapping):
            continue
        here = f"spec.scopeSelector.matchExpressions[{i}]"
        if expression.get("scopeName") not in POD_SCOPES:
            out.append(not_supported(f"{here}.scopeName", expression.get("scopeName"),
                                     sorted(POD_SCOPES)))
        operator, values = expression.get("operator"), expression.get("values") or []
        if operator not in SCOPE_OPERATORS:
            out.append(invalid(f"{here}.operator", operator, "not a valid selector operator"))
        elif operator in ("In", "NotIn") and not values:
            out.append(required(f"{here}.values", "must be at least one value when `operator` "
                                "is 'In' or 'NotIn' for scope selector"))
        elif operator in ("Exists", "DoesNotExist") and values:
            out.append(invalid(f"{here}.values", values, "must be no value when `operator` is "
                               "'Exist' or 'DoesNotExist' for scope selector"))
    return out


def limit_range_causes(obj: Mapping[str, Any]) -> list[Cause]:
    spec = obj.get("spec") if isinstance(obj.get("spec"), Mapping) else {}
    assert isinstance(spec, Mapping)
    out: list[Cause] = []
    for i, item in enumerate(spec.get("limits") or []):
        if not isinstance(item, Mapping):
            continue
        here = f"spec.limits[{i}]"
        kind = item.get("type")
        if not kind:
            out.append(required(f"{here}.type"))
        elif kind == "Pod":
            for key in ("default", "defaultRequest"):
                if _map(item.get(key)):
                    out.append(forbidden(f"{here}.{key}",
                                         "may not be specified when `type` is 'Pod'"))
        lists = {key: _amounts(item.get(key)) for key in
                 ("min", "max", "default", "defaultRequest", "maxLimitRequestRatio")}
        out += _range_causes(here, lists)
    return out


def _range_causes(here: str, lists: Mapping[str, Mapping[str, tuple[Decimal, str]]]
                  ) -> list[Cause]:
    out: list[Cause] = []
    names = sorted(set().union(*(set(v) for v in lists.values())))
    # (field reported, lower bound list, upper bound list, message), as kube orders them.
    rules = (("min", "min", "max", "min value {lo} is greater than max value {hi}"),
             ("defaultRequest", "min", "defaultRequest",
              "min value {lo} is greater than default request value {hi}"),
             ("defaultRequest", "defaultRequest", "max",
              "default request value {lo} is greater than max value {hi}"),
             ("defaultRequest", "defaultRequest", "default",
              "default request value {lo} is greater than default limit value {hi}"),
             ("default", "min", "default", "min value {lo} is greater than default value {hi}"),
             ("default", "default", "max", "default value {lo} is greater than max value {hi}"))
    for name in names:
        for reported, low, high, message in rules:
            lo, hi = lists[low].get(name), lists[high].get(name)
            if lo is not None and hi is not None and lo[0] > hi[0]:
                shown = lists[reported][name][1]
                out.append(invalid(f"{here}.{reported}[{name}]", shown,
                                   message.format(lo=lo[1], hi=hi[1])))
        ratio = lists["maxLimitRequestRatio"].get(name)
        if ratio is not None and ratio[0] < 1:
            out.append(invalid(f"{here}.maxLimitRequestRatio[{name}]", ratio[1],
                               f"ratio {ratio[1]} is less than 1"))
    return out


CAUSES: dict[tuple[str, str], Callable[[Mapping[str, Any]], list[Cause]]] = {
    ("", "ResourceQuota"): quota_causes,
    ("", "LimitRange"): limit_range_causes,
}
