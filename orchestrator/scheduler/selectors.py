"""Node selector terms and tolerations: the typed pieces of a pod's placement constraints.

Kept apart from `podinfo` because nodes' taints and pods' tolerations, and node-affinity
terms, are matched by small pure functions the filters share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True, slots=True)
class Requirement:
    """One `matchExpressions`/`matchFields` entry: key, operator, values."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "Requirement":
        return cls(str(raw.get("key", "")), str(raw.get("operator", "")),
                   tuple(str(v) for v in (raw.get("values") or ())))

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key, "")
        op = self.operator
        if op == "In":
            return present and value in self.values
        if op == "NotIn":
            return not present or value not in self.values
        if op == "Exists":
            return present
        if op == "DoesNotExist":
            return not present
        if op in ("Gt", "Lt") and present and len(self.values) == 1:
            try:
                have, want = int(value), int(self.values[0])
            except ValueError:
                return False
            return have > want if op == "Gt" else have < want
        return False  # unknown operators never match, as in kube-scheduler


@dataclass(frozen=True, slots=True)
class NodeSelectorTerm:
    """A required node-affinity term: all its expressions and fields must match."""

    expressions: tuple[Requirement, ...] = ()
    fields: tuple[Requirement, ...] = ()

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "NodeSelectorTerm":
        return cls(tuple(Requirement.from_dict(r) for r in raw.get("matchExpressions") or ()),
                   tuple(Requirement.from_dict(r) for r in raw.get("matchFields") or ()))

    def matches(self, labels: Mapping[str, str], node_name: str) -> bool:
        # An empty term matches nothing (kube-scheduler's rule), so a typo never means "anywhere".
        if not self.expressions and not self.fields:
            return False
        fields = {"metadata.name": node_name}
        return all(r.matches(labels) for r in self.expressions) and all(
            r.matches(fields) for r in self.fields)


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str = ""
    effect: str = "NoSchedule"

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "Taint":
        return cls(str(raw.get("key", "")), str(raw.get("value", "") or ""),
                   str(raw.get("effect", "") or ""))


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "Toleration":
        return cls(str(raw.get("key", "") or ""), str(raw.get("operator", "") or "Equal"),
                   str(raw.get("value", "") or ""), str(raw.get("effect", "") or ""))

    def tolerates(self, taint: Taint) -> bool:
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if self.operator == "Exists":
            return True  # an empty key with Exists tolerates every taint
        return bool(self.key) and self.value == taint.value


def untolerated_taint(taints: tuple[Taint, ...], tolerations: tuple[Toleration, ...]) -> Taint | None:
    """The first NoSchedule/NoExecute taint no toleration covers (PreferNoSchedule only scores)."""
    for taint in taints:
        if taint.effect not in ("NoSchedule", "NoExecute"):
            continue
        if not any(t.tolerates(taint) for t in tolerations):
            return taint
    return None
