"""Taints and tolerations: the typed views, the matching, and the pod-spec validation.

The matching follows `Toleration.ToleratesTaint` (k8s.io/api/core/v1/toleration.go): an empty
effect matches every effect, an empty key with `Exists` matches every taint, `Equal` (or an
empty operator) compares values, and any other operator tolerates nothing. The validation
follows kube-apiserver's `ValidateTolerations`, so an unknown operator or effect is a 422
before any scheduler or controller sees it. The scheduler and the DaemonSet controller both
decide with `untolerated_taint`, so they cannot disagree about a node.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.api.errors import Cause, invalid, not_supported
from orchestrator.api.selectors import label_key_errors, label_value_errors

EQUAL, EXISTS = "Equal", "Exists"
NO_SCHEDULE, PREFER_NO_SCHEDULE, NO_EXECUTE = "NoSchedule", "PreferNoSchedule", "NoExecute"
TAINT_EFFECTS = [NO_SCHEDULE, PREFER_NO_SCHEDULE, NO_EXECUTE]
# Effects that keep a pod off a node; PreferNoSchedule only lowers a node's score.
REPELLING_EFFECTS = frozenset({NO_SCHEDULE, NO_EXECUTE})


def _text(value: Any) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str = ""
    effect: str = NO_SCHEDULE

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "Taint":
        return cls(_text(raw.get("key")), _text(raw.get("value")), _text(raw.get("effect")))


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str = ""
    operator: str = EQUAL
    value: str = ""
    effect: str = ""
    toleration_seconds: int | None = None  # how long a NoExecute taint is borne; None: forever

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "Toleration":
        seconds = raw.get("tolerationSeconds")
        return cls(_text(raw.get("key")), _text(raw.get("operator")) or EQUAL, _text(raw.get("value")),
                   _text(raw.get("effect")),
                   seconds if isinstance(seconds, int) and not isinstance(seconds, bool) else None)

    def tolerates(self, taint: Taint) -> bool:
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if self.operator == EXISTS:
            return True
        # An empty key with Equal is refused by validation; kube would compare values for any
        # key, we keep it tolerating nothing so a stray entry never opens every node.
        return self.operator == EQUAL and bool(self.key) and self.value == taint.value


def tolerations_of(raw: Any) -> tuple[Toleration, ...]:
    """The typed tolerations of a pod spec's `tolerations` list (non-objects skipped)."""
    items = raw if isinstance(raw, list) else []
    return tuple(Toleration.from_dict(t) for t in items if isinstance(t, Mapping))


def taints_of(raw: Any) -> tuple[Taint, ...]:
    """The typed taints of a node spec's `taints` list (non-objects skipped)."""
    items = raw if isinstance(raw, list) else []
    return tuple(Taint.from_dict(t) for t in items if isinstance(t, Mapping))


def untolerated_taint(taints: Iterable[Taint], tolerations: Iterable[Toleration]) -> Taint | None:
    """The first NoSchedule/NoExecute taint no toleration covers (kube's
    `FindMatchingUntoleratedTaint` with the scheduler's and the daemon controller's filter)."""
    tolerations = tuple(tolerations)
    for taint in taints:
        if taint.effect in REPELLING_EFFECTS and not any(t.tolerates(taint) for t in tolerations):
            return taint
    return None


# --- validation (kube-apiserver's ValidateTolerations) ----------------------------------------


def _go_toleration(raw: Mapping[str, Any]) -> str:
    # The internal core.Toleration as Go's %#v prints it (field.Invalid with a struct value).
    seconds = raw.get("tolerationSeconds")
    shown = "(*int64)(nil)" if seconds is None else f"(*int64)({seconds})"
    fields = ", ".join(f'{name}:"{_text(raw.get(key))}"' for name, key in
                       (("Key", "key"), ("Operator", "operator"), ("Value", "value"),
                        ("Effect", "effect")))
    return f"core.Toleration{{{fields}, TolerationSeconds:{shown}}}"


def toleration_causes(tolerations: Any, path: str) -> list[Cause]:
    """422 causes for a pod spec's `tolerations`, with kube-apiserver's paths and messages."""
    if not isinstance(tolerations, list):
        return []  # the schema check reports a wrong type
    causes: list[Cause] = []
    for index, raw in enumerate(tolerations):
        if not isinstance(raw, Mapping):
            continue
        here = f"{path}[{index}]"
        key, operator = _text(raw.get("key")), _text(raw.get("operator"))
        value, effect = _text(raw.get("value")), _text(raw.get("effect"))
        if key:
            causes += [invalid(f"{here}.key", key, m) for m in label_key_errors(key)]
        if not key and operator != EXISTS:
            causes.append(invalid(f"{here}.operator", operator,
                                  "operator must be Exists when `key` is empty, which means "
                                  '"match all values and all keys"'))
        if raw.get("tolerationSeconds") is not None and effect != NO_EXECUTE:
            causes.append(invalid(f"{here}.effect", effect,
                                  "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        if operator in (EQUAL, ""):
            problems = label_value_errors(value)
            if problems:
                causes.append(invalid(f"{here}.operator", value, ";".join(problems)))
        elif operator == EXISTS:
            if value:
                causes.append(Cause("FieldValueInvalid",
                                    f"Invalid value: {_go_toleration(raw)}: value must be empty "
                                    "when `operator` is 'Exists'", f"{here}.operator"))
        else:
            causes.append(not_supported(f"{here}.operator", operator, [EQUAL, EXISTS]))
        if effect and effect not in TAINT_EFFECTS:
            causes.append(not_supported(f"{here}.effect", effect, TAINT_EFFECTS))
    return causes


__all__ = [
    "EQUAL",
    "EXISTS",
    "NO_EXECUTE",
    "NO_SCHEDULE",
    "PREFER_NO_SCHEDULE",
    "REPELLING_EFFECTS",
    "TAINT_EFFECTS",
    "Taint",
    "Toleration",
    "taints_of",
    "toleration_causes",
    "tolerations_of",
    "untolerated_taint",
]
