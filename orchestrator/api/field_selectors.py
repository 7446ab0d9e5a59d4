"""Field selectors (`fieldSelector=spec.nodeName=n1,status.phase!=Failed`), as kube-apiserver
parses and applies them: which labels each kind supports, how values are read from objects,
and the exact error messages (`field label not supported: ...`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.api.errors import BadRequest

FieldGetter = Callable[[Mapping[str, Any]], str]


def go_quote(text: str) -> str:
    """`text` quoted as Go's %q does, for messages that echo user input."""
    out = ['"']
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x100:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


@dataclass(frozen=True)
class FieldRequirement:
    field: str  # the canonical (internal) field name, after any per-version mapping
    value: str
    negated: bool = False

    def matches(self, fields: Mapping[str, str]) -> bool:
        # A field missing from the object's field set compares as "" (fields.Set.Get).
        equal = fields.get(self.field, "") == self.value
        return not equal if self.negated else equal


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...]
    getters: Mapping[str, FieldGetter]

    def matches(self, obj: Mapping[str, Any]) -> bool:
        fields = {name: self.getters[name](obj) for name in {r.field for r in self.requirements}}
        return all(r.matches(fields) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def exact_match(self, field: str) -> str | None:
        """The value a `field=value` term requires, if any (lets callers narrow a list)."""
        for requirement in self.requirements:
            if requirement.field == field and not requirement.negated:
                return requirement.value
        return None


def _path(*keys: str) -> FieldGetter:
    def get(obj: Mapping[str, Any]) -> str:
        node: Any = obj
        for key in keys:
            node = node.get(key) if isinstance(node, Mapping) else None
        return _as_field_text(node)

    return get


def _as_field_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _bool_path(*keys: str) -> FieldGetter:
    # Unset booleans are Go's false, rendered by strconv.FormatBool / fmt.Sprint.
    plain = _path(*keys)
    return lambda obj: plain(obj) or "false"


def _int_path(*keys: str) -> FieldGetter:
    plain = _path(*keys)
    return lambda obj: plain(obj) or "0"


def _first_pod_ip(obj: Mapping[str, Any]) -> str:
    status = obj.get("status")
    if not isinstance(status, Mapping):
        return ""
    ips = status.get("podIPs")
    if isinstance(ips, list) and ips and isinstance(ips[0], Mapping):
        return _as_field_text(ips[0].get("ip"))
    return _as_field_text(status.get("podIP"))


def _either(first: FieldGetter, second: FieldGetter) -> FieldGetter:
    return lambda obj: first(obj) or second(obj)


_NAME, _NAMESPACE = _path("metadata", "name"), _path("metadata", "namespace")
_META = {"metadata.name": _NAME, "metadata.namespace": _NAMESPACE}

# Core and events.k8s.io Events share one stored shape in Kubernetes; here either shape may be
# stored, so each field reads whichever spelling the object has.
_EVENT_REF = ("involvedObject", "regarding")
_EVENT_FIELDS: dict[str, FieldGetter] = {
    **_META,
    **{
        f"involvedObject.{part}": _either(_path(_EVENT_REF[0], part), _path(_EVENT_REF[1], part))
        for part in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
    },
    "reason": _path("reason"),
    "reportingComponent": _either(_path("reportingComponent"), _path("reportingController")),
    "source": _either(
        _either(_path("source", "component"), _path("deprecatedSource", "component")),
        _either(_path("reportingComponent"), _path("reportingController")),
    ),
    "type": _path("type"),
}
# events.k8s.io/v1 field labels and the internal names they map to.
_EVENTS_V1_LABELS = {
    **{f"regarding.{p}": f"involvedObject.{p}" for p in
       ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")},
    "reportingController": "reportingComponent",
    "reason": "reason", "source": "source", "type": "type",
    "metadata.namespace": "metadata.namespace", "metadata.name": "metadata.name",
}

# The field sets of the kinds with their own field-label conversion (kube's
# AddFieldLabelConversionFunc), which their strategies name (`orchestrator.api.strategies`);
# for these an unknown field is "field label not supported".
POD_FIELDS: dict[str, FieldGetter] = {
    **_META,
    "spec.nodeName": _path("spec", "nodeName"),
    "spec.restartPolicy": _path("spec", "restartPolicy"),
    "spec.schedulerName": _path("spec", "schedulerName"),
    "spec.serviceAccountName": _path("spec", "serviceAccountName"),
    "spec.hostNetwork": _bool_path("spec", "hostNetwork"),
    "status.phase": _path("status", "phase"),
    "status.podIP": _first_pod_ip,
    "status.podIPs": lambda obj: "",  # accepted by kube, never populated in its field set
    "status.nominatedNodeName": _path("status", "nominatedNodeName"),
}
POD_LABELS = {**{name: name for name in POD_FIELDS}, "spec.host": "spec.nodeName"}  # old v1 clients
NODE_FIELDS: dict[str, FieldGetter] = {"metadata.name": _NAME, "spec.unschedulable": _bool_path("spec", "unschedulable")}
NAMESPACE_FIELDS: dict[str, FieldGetter] = {"metadata.name": _NAME, "status.phase": _path("status", "phase")}
SECRET_FIELDS: dict[str, FieldGetter] = {**_META, "type": _path("type")}
SERVICE_FIELDS: dict[str, FieldGetter] = {
    **_META, "spec.clusterIP": _path("spec", "clusterIP"), "spec.type": _path("spec", "type"),
}
REPLICAS_FIELDS: dict[str, FieldGetter] = {**_META, "status.replicas": _int_path("status", "replicas")}
JOB_FIELDS: dict[str, FieldGetter] = {**_META, "status.successful": _int_path("status", "succeeded")}
EVENT_FIELDS = _EVENT_FIELDS
EVENTS_V1_LABELS = _EVENTS_V1_LABELS
CSR_FIELDS: dict[str, FieldGetter] = {"metadata.name": _NAME, "spec.signerName": _path("spec", "signerName")}


def _own_fields(group: str, kind: str) -> tuple[Mapping[str, FieldGetter], dict[str, str]] | None:
    """A kind's own getters and its labels (as clients write them -> field names), or None."""
    # Imported here: the strategies name this module's field sets.
    from orchestrator.api import strategies

    strategy = strategies.for_kind(group, kind)
    if strategy is None or strategy.fields is None:
        return None
    getters = strategy.fields
    labels = strategy.field_labels
    return getters, dict(labels) if labels is not None else {name: name for name in getters}


def _is_builtin_group(group: str) -> bool:
    return group in ("", "apps", "batch", "autoscaling", "policy") or group.endswith(".k8s.io")


def _split_terms(text: str) -> list[str]:
    terms, start, escaped = [], 0, False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            terms.append(text[start:index])
            start = index + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    for index in range(len(term)):
        for operator in ("!=", "==", "="):
            if term.startswith(operator, index):
                return term[:index], operator, term[index + len(operator):]
    return None


def _unescape(value: str) -> str:
    out, escaped = [], False
    for char in value:
        if escaped:
            if char not in "\\,=":
                raise BadRequest(f"invalid field selector: invalid escape sequence: \\{char}")
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",=":
            # Go formats the rune with %v, i.e. as its code point number.
            raise BadRequest(f"invalid field selector: unescaped character in value: {ord(char)}")
        else:
            out.append(char)
    if escaped:
        raise BadRequest("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def parse_field_selector(
    text: str,
    kind: str,
    *,
    group: str = "",
    namespaced: bool = True,
    selectable_fields: Mapping[str, FieldGetter] | None = None,
) -> FieldSelector:
    """Parse a `fieldSelector` for objects of `kind` in `group`; BadRequest if invalid.

    `selectable_fields` are a CRD version's selectableFields (field label -> getter, e.g. from
    `jsonpath`); custom resources also get metadata.name, and metadata.namespace when namespaced.
    """
    getters: dict[str, FieldGetter]
    builtin = _is_builtin_group(group)
    own = _own_fields(group, kind)
    if own is not None:
        getters = dict(own[0])
    elif builtin:
        getters = dict(_META)
    else:
        getters = {"metadata.name": _NAME, **({"metadata.namespace": _NAMESPACE} if namespaced else {})}
        getters.update(selectable_fields or {})
    labels = own[1] if own is not None else {name: name for name in getters}
    # Like apimachinery: every term is parsed first, field labels are checked afterwards.
    parsed: list[tuple[str, str, str]] = []
    for term in sorted(_split_terms(text)):
        if not term:
            continue
        split = _split_term(term)
        if split is None:
            raise BadRequest(f"invalid selector: '{text}'; can't understand '{term}'")
        label, operator, raw_value = split
        parsed.append((label, operator, _unescape(raw_value)))
    requirements: list[FieldRequirement] = []
    for label, operator, value in parsed:
        if label not in labels:
            raise BadRequest(_unsupported_field_message(label, builtin and own is None))
        requirements.append(FieldRequirement(labels[label], value, negated=operator == "!="))
    return FieldSelector(tuple(requirements), getters)


def _unsupported_field_message(label: str, generic_builtin: bool) -> str:
    if generic_builtin:
        # runtime.DefaultMetaV1FieldSelectorConversion, used by kinds without their own list.
        return f'{go_quote(label)} is not a known field selector: only "metadata.name", "metadata.namespace"'
    return f"field label not supported: {label}"


def field_selector_labels(kind: str, group: str = "") -> Sequence[str]:
    """The field labels a built-in kind supports (for docs and error hints)."""
    own = _own_fields(group, kind)
    return sorted(own[1] if own is not None else _META)
