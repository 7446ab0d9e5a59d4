"""Required node affinity: `nodeSelector` plus node selector terms, typed, matched, validated.

Matching follows kube's component-helpers/scheduling/corev1/nodeaffinity: terms are ORed and
a term's `matchExpressions` and `matchFields` ANDed; an empty term matches nothing; a term
that does not parse matches nothing (an unknown operator, a `Gt` value that is not an
integer, a `matchFields` entry other than In/NotIn with one value), as kube's parse errors
make the term fail. A `requiredDuringSchedulingIgnoredDuringExecution` that is present but
has no terms matches no node. The validation follows kube-apiserver's `ValidateNodeSelector`
and `ValidatePreferredSchedulingTerms`, so such pods are refused with a 422 in the first
place. The scheduler's NodeAffinity filter and the DaemonSet controller both decide with
`RequiredNodeAffinity.matches`, so they cannot disagree about a node.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from orchestrator.api.errors import BadRequest, Cause, forbidden, invalid, required
from orchestrator.api.names import name_messages
from orchestrator.api.selectors import (
    DOES_NOT_EXIST, EXISTS, GREATER_THAN, IN, LESS_THAN, NOT_IN, LabelSelector, label_key_errors,
    label_value_errors, new_requirement,
)

NODE_NAME_FIELD = "metadata.name"  # the one node field a term may match on
REQUIRED_FIELD = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED_FIELD = "preferredDuringSchedulingIgnoredDuringExecution"
# NodeSelectorOperator spellings and the label-selector operators they stand for.
_LABEL_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST,
                    "Gt": GREATER_THAN, "Lt": LESS_THAN}
_FIELD_OPERATORS = ("In", "NotIn")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass(frozen=True, slots=True)
class NodeSelectorRequirement:
    """One `matchExpressions`/`matchFields` entry as written: key, operator, values."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, raw: Any) -> "NodeSelectorRequirement":
        entry = _mapping(raw)
        return cls(_text(entry.get("key")), _text(entry.get("operator")),
                   tuple(_text(v) for v in _list(entry.get("values"))))


@lru_cache(maxsize=4096)
def _label_selector(expressions: tuple[NodeSelectorRequirement, ...]) -> LabelSelector | None:
    """nodeSelectorRequirementsAsSelector; None when any expression does not parse."""
    requirements = []
    for expression in expressions:
        operator = _LABEL_OPERATORS.get(expression.operator)
        if operator is None:
            return None
        try:
            requirements.append(new_requirement(expression.key, operator, list(expression.values)))
        except BadRequest:
            return None
    return LabelSelector(tuple(requirements))


def _field_selector(fields: tuple[NodeSelectorRequirement, ...]) -> tuple[tuple[str, bool, str], ...] | None:
    """nodeSelectorRequirementsAsFieldSelector as (key, must equal, value); None if invalid."""
    terms = []
    for requirement in fields:
        if requirement.operator not in _FIELD_OPERATORS or len(requirement.values) != 1:
            return None
        terms.append((requirement.key, requirement.operator == "In", requirement.values[0]))
    return tuple(terms)


@dataclass(frozen=True, slots=True)
class NodeSelectorTerm:
    """One node selector term: all its expressions (on labels) and fields (on the name)."""

    expressions: tuple[NodeSelectorRequirement, ...] = ()
    fields: tuple[NodeSelectorRequirement, ...] = ()
    # Parsed once; None when the term does not parse (it then matches no node).
    _labels: LabelSelector | None = field(init=False, repr=False, compare=False)
    _fields: tuple[tuple[str, bool, str], ...] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_labels", _label_selector(self.expressions))
        object.__setattr__(self, "_fields", _field_selector(self.fields))

    @classmethod
    def from_dict(cls, raw: Any) -> "NodeSelectorTerm":
        term = _mapping(raw)
        return cls(tuple(NodeSelectorRequirement.from_dict(r) for r in _list(term.get("matchExpressions"))),
                   tuple(NodeSelectorRequirement.from_dict(r) for r in _list(term.get("matchFields"))))

    def matches(self, labels: Mapping[str, str], node_name: str) -> bool:
        if not self.expressions and not self.fields:
            return False  # kube: an empty term selects nothing, so a typo never means "anywhere"
        if self._labels is None or self._fields is None:
            return False
        if not self._labels.matches(labels):
            return False
        if not node_name:
            return True  # kube has no fields to compare for a nameless node
        for key, must_equal, value in self._fields:
            # A field other than the name reads as "" (a fields.Set), as in kube.
            have = node_name if key == NODE_NAME_FIELD else ""
            if (have == value) != must_equal:
                return False
        return True


@dataclass(frozen=True, slots=True)
class RequiredNodeAffinity:
    """What a pod demands of a node's labels and name (kube's `GetRequiredNodeAffinity`):
    every `nodeSelector` pair, and one of the required terms. `terms` is None when the pod has
    no required node affinity at all; an empty tuple (present, no terms) matches no node."""

    node_selector: tuple[tuple[str, str], ...] = ()
    terms: tuple[NodeSelectorTerm, ...] | None = None

    @classmethod
    def from_pod_spec(cls, spec: Mapping[str, Any]) -> "RequiredNodeAffinity":
        selector = _mapping(spec.get("nodeSelector"))
        pairs = tuple(sorted((str(k), _text(v)) for k, v in selector.items()))
        node_affinity = _mapping(_mapping(spec.get("affinity")).get("nodeAffinity"))
        raw = node_affinity.get(REQUIRED_FIELD)
        if not isinstance(raw, Mapping):
            return cls(pairs, None)
        return cls(pairs, tuple(NodeSelectorTerm.from_dict(t) for t in _list(raw.get("nodeSelectorTerms"))))

    def matches(self, labels: Mapping[str, str], node_name: str) -> bool:
        if any(labels.get(key) != value for key, value in self.node_selector):
            return False
        return self.terms is None or any(term.matches(labels, node_name) for term in self.terms)

    def keys(self) -> Iterator[str]:
        """Every label key and field the pod constrains (to spot node-specific pods)."""
        yield from (key for key, _ in self.node_selector)
        for term in self.terms or ():
            yield from (r.key for r in term.expressions + term.fields)

    def pinned_node(self) -> str | None:
        """The node named by a `metadata.name In [node]` field (how daemon pods are pinned)."""
        for term in self.terms or ():
            for requirement in term.fields:
                if requirement.key == NODE_NAME_FIELD and requirement.operator == "In" \
                        and requirement.values:
                    return requirement.values[0]
        return None


# --- validation (kube-apiserver's ValidateNodeSelector and ValidatePreferredSchedulingTerms) -


def _requirement_causes(raw: Any, path: str) -> list[Cause]:
    entry = _mapping(raw)
    operator, values = _text(entry.get("operator")), [_text(v) for v in _list(entry.get("values"))]
    causes: list[Cause] = []
    if operator in ("In", "NotIn"):
        if not values:
            causes.append(required(f"{path}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            causes.append(forbidden(f"{path}.values",
                                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
    elif operator in ("Gt", "Lt"):
        if len(values) != 1:
            causes.append(required(f"{path}.values",
                                   "must be specified single value when `operator` is 'Lt' or 'Gt'"))
    else:
        causes.append(invalid(f"{path}.operator", operator, "not a valid selector operator"))
    key = _text(entry.get("key"))
    causes += [invalid(f"{path}.key", key, m) for m in label_key_errors(key)]
    for index, value in enumerate(values):
        causes += [invalid(f"{path}.values[{index}]", value, m) for m in label_value_errors(value)]
    return causes


def _field_requirement_causes(raw: Any, path: str) -> list[Cause]:
    entry = _mapping(raw)
    operator, values = _text(entry.get("operator")), [_text(v) for v in _list(entry.get("values"))]
    causes: list[Cause] = []
    if operator in _FIELD_OPERATORS:
        if len(values) != 1:
            causes.append(required(f"{path}.values", "must be only one value when `operator` is "
                                                     "'In' or 'NotIn' for node field selector"))
    else:
        causes.append(invalid(f"{path}.operator", operator, "not a valid selector operator"))
    key = _text(entry.get("key"))
    if key != NODE_NAME_FIELD:
        causes.append(invalid(f"{path}.key", key, "not a valid field selector key"))
    else:
        for index, value in enumerate(values):
            causes += [invalid(f"{path}.values[{index}]", value, m)
                       for m in name_messages(value, "dns1123-subdomain")]
    return causes


def _term_causes(raw: Any, path: str) -> list[Cause]:
    term = _mapping(raw)
    causes: list[Cause] = []
    for index, expression in enumerate(_list(term.get("matchExpressions"))):
        causes += _requirement_causes(expression, f"{path}.matchExpressions[{index}]")
    for index, entry in enumerate(_list(term.get("matchFields"))):
        causes += _field_requirement_causes(entry, f"{path}.matchFields[{index}]")
    return causes


def node_affinity_causes(affinity: Any, path: str) -> list[Cause]:
    """422 causes for a pod spec's `affinity.nodeAffinity`, with kube-apiserver's messages."""
    node_affinity = _mapping(affinity).get("nodeAffinity")
    if not isinstance(node_affinity, Mapping):
        return []
    here = f"{path}.nodeAffinity"
    causes: list[Cause] = []
    selector = node_affinity.get(REQUIRED_FIELD)
    if isinstance(selector, Mapping):
        terms_path = f"{here}.{REQUIRED_FIELD}.nodeSelectorTerms"
        terms = _list(selector.get("nodeSelectorTerms"))
        if not terms:
            causes.append(required(terms_path, "must have at least one node selector term"))
        for index, term in enumerate(terms):
            causes += _term_causes(term, f"{terms_path}[{index}]")
    for index, preferred in enumerate(_list(node_affinity.get(PREFERRED_FIELD))):
        term_path = f"{here}.{PREFERRED_FIELD}[{index}]"
        weight = _mapping(preferred).get("weight")
        if not isinstance(weight, int) or isinstance(weight, bool) or not 1 <= weight <= 100:
            causes.append(invalid(f"{term_path}.weight", weight if isinstance(weight, int) else 0,
                                  "must be in the range 1-100"))
        causes += _term_causes(_mapping(preferred).get("preference"), f"{term_path}.preference")
    return causes


__all__ = [
    "NODE_NAME_FIELD",
    "NodeSelectorRequirement",
    "NodeSelectorTerm",
    "RequiredNodeAffinity",
    "node_affinity_causes",
]
