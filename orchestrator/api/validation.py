"""Object validation and pruning, with the API server's messages.

The order matches kube-apiserver's request path: decoding errors (a value of the wrong JSON
type, a malformed quantity) are 400s; then unknown fields, reported as the request's
`fieldValidation` asks (Strict: 400, Warn: warnings, Ignore: nothing); then the type's
validation rules, all causes at once in one 422.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from dataclasses import dataclass, field
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from orchestrator.api.errors import (
    BadRequest,
    Cause,
    Invalid,
    duplicate,
    invalid,
    not_supported,
    required,
)
from orchestrator.api.jsonio import Memo, exact_json
from orchestrator.api.resource_type import ResourceType
from orchestrator.api.names import (
    CONFIG_KEY_MSG,
    DNS1035_LABEL_MSG,
    DNS1123_LABEL_MSG,
    DNS1123_SUBDOMAIN_MSG,
    LABEL_VALUE_MSG,
    QUALIFIED_NAME_MSG,
    config_key_messages,
    name_messages,
)
from orchestrator.api.names import LABEL_VALUE as _LABEL_VALUE
from orchestrator.api.names import QUALIFIED_NAME as _QUALIFIED_NAME
from orchestrator.api.names import full_match as _full
from orchestrator.api.nodeaffinity import node_affinity_causes
from orchestrator.api.quantity import FORMAT_WRONG, QuantityError, parse_quantity
from orchestrator.api.schemas import SchemaNode, object_meta
from orchestrator.api.selectors import label_selector_from_dict, validate_label_selector_dict
from orchestrator.api.taints import toleration_causes
from orchestrator.api.validation_volumes import data_size_causes, pod_volume_causes

FIELD_VALIDATION_VALUES = ("", "Ignore", "Strict", "Warn")

# --- names, labels, annotations ---------------------------------------------------------
ANNOTATIONS_SIZE_LIMIT = 256 * 1024

_RBAC_GROUP = "rbac.authorization.k8s.io"
_PATH_SEGMENT_GROUPS = (_RBAC_GROUP, "certificates.k8s.io", "apiregistration.k8s.io")


def name_rule_for(kind: str, group: str) -> str:
    """The naming rule kube-apiserver applies to objects of this kind: its strategy's."""
    # Imported here: the strategies name this module's rules.
    from orchestrator.api import strategies

    strategy = strategies.for_kind(group, kind)
    if strategy is not None:
        return strategy.name_rule
    # Other kinds of the groups whose built-in kinds all take path segments, as before.
    return "path-segment" if group in _PATH_SEGMENT_GROUPS else "dns1123-subdomain"


def validate_name(
    name: str, kind: str, group: str, *, rule: str = "dns1123-subdomain"
) -> list[Cause]:
    """Causes for an invalid `metadata.name` (one per broken rule, as the server sends)."""
    if not isinstance(name, str) or not name:
        return [required("metadata.name", "name or generateName is required")]
    return [invalid("metadata.name", name, msg) for msg in name_messages(name, rule)]


def qualified_name_messages(key: str) -> list[str]:
    """Label and annotation keys: an optional DNS subdomain prefix, '/', and a name."""
    parts = key.split("/")
    if len(parts) == 1:
        prefix, name = "", parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            return ["prefix part must be non-empty"]
    else:
        return [
            "a qualified name " + QUALIFIED_NAME_MSG + " with an optional DNS subdomain prefix "
            "and '/' (e.g. 'example.com/MyName')"
        ]
    out = [f"prefix part {m}" for m in name_messages(prefix, "dns1123-subdomain")] if prefix else []
    if not name:
        out.append("name part must be non-empty")
    elif len(name) > 63:
        out.append("name part must be no more than 63 characters")
    if name and not _full(_QUALIFIED_NAME, name):
        out.append("name part " + QUALIFIED_NAME_MSG)
    return out


def validate_labels(labels: Any, path: str = "metadata.labels") -> list[Cause]:
    if not isinstance(labels, Mapping):
        return []
    causes: list[Cause] = []
    for key, value in labels.items():
        causes += [invalid(path, key, msg) for msg in qualified_name_messages(str(key))]
        if not isinstance(value, str):
            continue
        if len(value) > 63:
            causes.append(invalid(path, value, "must be no more than 63 characters"))
        if not _full(_LABEL_VALUE, value):
            causes.append(invalid(path, value, LABEL_VALUE_MSG))
    return causes


def validate_annotations(annotations: Any, path: str = "metadata.annotations") -> list[Cause]:
    if not isinstance(annotations, Mapping):
        return []
    causes: list[Cause] = []
    total = 0
    for key, value in annotations.items():
        causes += [invalid(path, key, m) for m in qualified_name_messages(str(key).lower())]
        total += len(str(key)) + (len(value) if isinstance(value, str) else 0)
    if total > ANNOTATIONS_SIZE_LIMIT:
        causes.append(
            Cause(
                "FieldValueTooLong",
                f"Too long: may not be more than {ANNOTATIONS_SIZE_LIMIT} bytes",
                path,
            )
        )
    return causes


def validate_metadata(meta: Any, kind: str, group: str) -> list[Cause]:
    if not isinstance(meta, Mapping):
        return [required("metadata.name", "name or generateName is required")]
    causes: list[Cause] = []
    name = meta.get("name")
    if name or not meta.get("generateName"):
        text = name if isinstance(name, str) else ""
        causes += validate_name(text, kind, group, rule=name_rule_for(kind, group))
    causes += validate_labels(meta.get("labels"))
    causes += validate_annotations(meta.get("annotations"))
    return causes


# --- fieldValidation --------------------------------------------------------------------
def check_field_validation(value: str | None, options_kind: str = "CreateOptions") -> str:
    """The effective directive: Warn when absent. Unknown values are a 422 on the options
    object (`CreateOptions`, `UpdateOptions`, `PatchOptions`), as kube-apiserver answers."""
    directive = value or ""
    if directive not in FIELD_VALIDATION_VALUES:
        cause = not_supported("fieldValidation", directive, list(FIELD_VALIDATION_VALUES))
        raise Invalid.of(options_kind, "meta.k8s.io", "", [cause])
    return directive or "Warn"


# --- the schema walk --------------------------------------------------------------------
@dataclass
class _Findings:
    decode_error: str | None = None
    unknown: list[str] = field(default_factory=list)
    causes: list[Cause] = field(default_factory=list)


_JSON_TYPE_NAMES = {bool: "boolean", int: "integer", float: "number", str: "string",
                    list: "array", dict: "object"}
_GO_VALUE_NAMES = {"boolean": "bool", "integer": "number", "number": "number",
                   "string": "string", "array": "array", "object": "object"}
QUANTITY_MSG = FORMAT_WRONG


def _json_type(value: Any) -> str:
    return _JSON_TYPE_NAMES.get(type(value), "object")


def _type_matches(value: Any, expected: str) -> bool:
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return _json_type(value) == expected


def _quantity_problem(value: Any) -> str | None:
    """Why `value` is not a Quantity (the decoder's message), or None when it is one."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return QUANTITY_MSG
    try:
        parse_quantity(value)
    except QuantityError as error:
        return str(error) or QUANTITY_MSG
    return None


def _go_type(node: SchemaNode) -> str:
    kind = node.type
    if node.ref_name and kind == "object":
        parts = node.ref_name.rsplit(".", 2)
        return f"{parts[-2]}.{parts[-1]}" if len(parts) == 3 else node.ref_name
    if kind == "integer":
        return node.format or "int64"
    if kind == "number":
        return "float64"
    if kind == "boolean":
        return "bool"
    if kind == "array":
        inner = node.items()
        return "[]" + (_go_type(inner) if inner is not None else "interface {}")
    if kind == "object":
        values = node.additional_properties
        return "map[string]" + (_go_type(values) if values is not None else "interface {}")
    return kind or "interface {}"


# Top-level values (with their schema node) that validated clean, and what pruning made of
# them. Keyed by the schema node itself (kept alive here, so its identity is never reused)
# and the value's exact JSON; values that are not plain JSON are walked every time.
_CLEAN_VALUES: Memo[tuple[SchemaNode, bool, bytes], bool] = Memo()
_PRUNED_VALUES: Memo[tuple[SchemaNode, bytes], bytes] = Memo()


class _Walker:
    """One pass over an object and its schema, collecting every finding."""

    def __init__(self, crd: bool) -> None:
        self.crd = crd
        self.found = _Findings()

    def walk(self, value: Any, node: SchemaNode, path: str, go_path: str, owner: str) -> None:
        if value is None:
            return  # null is "unset": Go decodes it to the zero value; CRDs prune it
        if node.int_or_string:
            if not (isinstance(value, (int, str)) and not isinstance(value, bool)):
                self._type_error(value, "string", path, go_path, owner, "intstr.IntOrString")
            return
        if node.is_quantity:
            problem = _quantity_problem(value)
            if problem is not None:
                self._decode(problem)
            return
        expected = node.type
        if expected is not None and not _type_matches(value, expected):
            self._type_error(value, expected, path, go_path, owner, _go_type(node))
            return
        self._check_scalar(value, node, path)
        if isinstance(value, dict):
            self._walk_object(value, node, path, go_path)
        elif isinstance(value, list):
            items = node.items()
            if items is not None:
                for index, item in enumerate(value):
                    self.walk(item, items, f"{path}[{index}]", go_path, owner)

    def _walk_object(self, value: dict[str, Any], node: SchemaNode, path: str, go: str) -> None:
        owner = (node.ref_name or "").rsplit(".", 1)[-1]
        # Built-in kinds do not require their top-level fields (the published schemas say
        # `spec` is; the server's own rules report what is missing inside it instead).
        if path or self.crd:
            for name in node.required:
                present = value.get(name)
                missing = present is None or (not self.crd and present == "")
                if missing and (node.ref_name, name) not in _required_checked_elsewhere():
                    self.found.causes.append(required(_join(path, name)))
        props = node.properties
        values_node = node.additional_properties
        for key, child_value in value.items():
            if key in props:
                child: SchemaNode | None = props[key]
                child_path = _join(path, key)
            elif values_node is not None:
                child, child_path = values_node, f"{path}[{key}]"
            else:
                child, child_path = node.child(key), _join(path, key)
            if child is None:
                if not node.preserve_unknown_fields:
                    self.found.unknown.append(child_path)
                continue
            if not path and key != "metadata" and child_value:
                self._walk_remembered(child_value, child, child_path, _join(go, key), owner)
            else:
                self.walk(child_value, child, child_path, _join(go, key), owner)

    def _walk_remembered(self, value: Any, node: SchemaNode, path: str, go: str,
                         owner: str) -> None:
        """`walk` a top-level field (a pod's `spec`), skipped when the very same value was
        found clean under the same schema before: the pods of one Deployment, Job or Dask
        worker group share their spec, and walking it is most of a create's validation."""
        encoded = exact_json(value)
        if encoded is None:
            self.walk(value, node, path, go, owner)
            return
        key = (node, self.crd, encoded)
        if key in _CLEAN_VALUES:
            return
        found = self.found
        before = (found.decode_error, len(found.unknown), len(found.causes))
        self.walk(value, node, path, go, owner)
        if (found.decode_error, len(found.unknown), len(found.causes)) == before:
            _CLEAN_VALUES.put(key, True)

    def _check_scalar(self, value: Any, node: SchemaNode, path: str) -> None:
        enum = node.enum
        if enum is not None and value not in enum and not _is_type_meta(path):
            self.found.causes.append(not_supported(path, value, [str(e) for e in enum]))
        if node.format == "byte" and isinstance(value, str):
            if go_base64_decode(value) is None:
                self._decode("illegal base64 data at input byte " + str(_bad_b64_at(value)))
        if self.crd:
            self.found.causes += _crd_limits(value, node, path)

    def _type_error(
        self, value: Any, expected: str, path: str, go_path: str, owner: str, go_type: str
    ) -> None:
        actual = _json_type(value)
        if self.crd:
            detail = f'{path} in body must be of type {expected}: "{actual}"'
            self.found.causes.append(invalid(path, actual, detail))
            return
        self._decode(
            f"json: cannot unmarshal {_GO_VALUE_NAMES.get(actual, actual)} into Go struct field "
            f"{owner}.{go_path} of type {go_type}"
        )

    def _decode(self, message: str) -> None:
        if self.found.decode_error is None:  # Go's decoder stops at the first one
            self.found.decode_error = message


@functools.cache
def _required_checked_elsewhere() -> frozenset[tuple[str, str]]:
    """Schema-required fields whose absence a kind's own rules report in kube's words (its
    strategy's `required_checked_here`), so the schema walk does not report them too."""
    # Imported here: the strategies name this module's rules.
    from orchestrator.api import strategies

    return frozenset().union(*(s.required_checked_here for s in strategies.STRATEGIES))


def _is_type_meta(path: str) -> bool:
    return path in ("apiVersion", "kind")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _bad_b64_at(value: str) -> int:
    for index, char in enumerate(value):
        if not (char.isalnum() or char in "+/=\r\n"):
            return index
    return len(value) - len(value) % 4


def go_base64_decode(value: str) -> bytes | None:
    """[]byte fields as Go's JSON decoder reads them: standard base64, padded, with any
    \\r and \\n skipped (a 76-column MIME wrap is accepted); None when it is not base64."""
    try:
        return base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        return None


def _canonical_bytes(value: str) -> str:
    # Stored decoded and served re-encoded: what is read back is the canonical form.
    decoded = go_base64_decode(value)
    return value if decoded is None else base64.b64encode(decoded).decode("ascii")


def _crd_limits(value: Any, node: SchemaNode, path: str) -> list[Cause]:
    raw = node.raw
    out: list[Cause] = []
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and isinstance(raw.get("minimum"), (int, float)):
        low = raw["minimum"]
        if value < low or (raw.get("exclusiveMinimum") is True and value == low):
            word = "greater than" if raw.get("exclusiveMinimum") is True else "greater than or equal to"
            out.append(invalid(path, value, f"{path} in body should be {word} {low}"))
    if number and isinstance(raw.get("maximum"), (int, float)):
        high = raw["maximum"]
        if value > high or (raw.get("exclusiveMaximum") is True and value == high):
            word = "less than" if raw.get("exclusiveMaximum") is True else "less than or equal to"
            out.append(invalid(path, value, f"{path} in body should be {word} {high}"))
    if isinstance(value, str):
        if isinstance(raw.get("maxLength"), int) and len(value) > raw["maxLength"]:
            out.append(Cause("FieldValueTooLong",
                             f"Too long: may not be more than {raw['maxLength']} bytes", path))
        if isinstance(raw.get("minLength"), int) and len(value) < raw["minLength"]:
            out.append(invalid(path, value,
                               f"{path} in body should be at least {raw['minLength']} chars long"))
        pattern = raw.get("pattern")
        if isinstance(pattern, str):
            try:
                matched = re.search(pattern, value) is not None
            except re.error:
                matched = True  # a pattern Python cannot compile is not the user's fault
            if not matched:
                out.append(invalid(path, value, f"{path} in body should match '{pattern}'"))
    if isinstance(value, list):
        if isinstance(raw.get("maxItems"), int) and len(value) > raw["maxItems"]:
            out.append(Cause("FieldValueTooMany",
                             f"Too many: {len(value)}: must have at most {raw['maxItems']} items",
                             path))
        if isinstance(raw.get("minItems"), int) and len(value) < raw["minItems"]:
            out.append(invalid(path, value,
                               f"{path} in body should have at least {raw['minItems']} items"))
    return out


# --- semantic rules of the built-in kinds ------------------------------------------------
def _dig(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _non_negative(spec: Any, path: str, *names: str) -> list[Cause]:
    causes = []
    for name in names:
        value = _dig(spec, name)
        if _is_int(value) and value < 0:
            causes.append(invalid(f"{path}.{name}", value, "must be greater than or equal to 0"))
    return causes


def _port_causes(value: Any, path: str) -> list[Cause]:
    if _is_int(value) and not 1 <= value <= 65535:
        return [invalid(path, value, "must be between 1 and 65535, inclusive")]
    return []


def _go_map(labels: Mapping[str, Any]) -> str:
    inner = ", ".join(f'"{k}":"{labels[k]}"' for k in sorted(labels))
    return "map[string]string{" + inner + "}"


def _selector_causes(spec: Any, path: str, kind: str, needed: bool) -> list[Cause]:
    selector = _dig(spec, "selector")
    if not isinstance(selector, Mapping):
        return [required(f"{path}.selector")] if needed else []
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        return [invalid(f"{path}.selector", "{}", f"empty selector is invalid for {kind}")]
    causes = validate_label_selector_dict(selector, f"{path}.selector")
    labels = _dig(spec, "template", "metadata", "labels")
    labels = labels if isinstance(labels, Mapping) else {}
    try:
        matcher = label_selector_from_dict(selector)
    except BadRequest:  # an unknown operator and the like: reported above, nothing to match
        if kind not in ("deployment", "replicaset"):
            return causes
        shown = orjson.dumps(selector).decode()
        return causes + [Cause("FieldValueInvalid", f"Invalid value: {shown}: invalid label selector",
                               f"{path}.selector")]
    if matcher.matches(labels):
        return causes
    return causes + [
        Cause(
            "FieldValueInvalid",
            f"Invalid value: {_go_map(labels)}: `selector` does not match template `labels`",
            f"{path}.template.metadata.labels",
        )
    ]


def _container_causes(containers: Any, path: str, seen: set[str]) -> list[Cause]:
    causes: list[Cause] = []
    for index, container in enumerate(_as_list(containers)):
        if not isinstance(container, Mapping):
            continue
        here = f"{path}[{index}]"
        name = container.get("name")
        if isinstance(name, str) and name:
            causes += [invalid(f"{here}.name", name, m)
                       for m in name_messages(name, "dns1123-label")]
            if name in seen:
                causes.append(duplicate(f"{here}.name", name))
            seen.add(name)
        if not container.get("image"):
            causes.append(required(f"{here}.image"))
        for p_index, port in enumerate(_as_list(container.get("ports"))):
            if not isinstance(port, Mapping):
                continue
            p_path = f"{here}.ports[{p_index}]"
            causes += _port_causes(port.get("containerPort"), f"{p_path}.containerPort")
            if port.get("hostPort"):
                causes += _port_causes(port.get("hostPort"), f"{p_path}.hostPort")
    return causes


def _pod_spec_causes(spec: Any, path: str, restart_policies: Sequence[str] = ()) -> list[Cause]:
    if not isinstance(spec, Mapping):
        return [required(f"{path}.containers")]
    causes: list[Cause] = []
    containers = spec.get("containers")
    if not _as_list(containers):
        causes.append(required(f"{path}.containers"))
    seen: set[str] = set()
    causes += _container_causes(spec.get("initContainers"), f"{path}.initContainers", seen)
    causes += _container_causes(containers, f"{path}.containers", seen)
    policy = spec.get("restartPolicy")
    allowed = list(restart_policies) or ["Always", "OnFailure", "Never"]
    if policy and policy not in allowed:
        causes.append(not_supported(f"{path}.restartPolicy", policy, allowed))
    causes += _non_negative(spec, path, "terminationGracePeriodSeconds")
    causes += validate_labels(spec.get("nodeSelector"), f"{path}.nodeSelector")
    causes += node_affinity_causes(spec.get("affinity"), f"{path}.affinity")
    causes += toleration_causes(spec.get("tolerations"), f"{path}.tolerations")
    return causes + pod_volume_causes(spec, path)


def _template_causes(spec: Any, path: str, restart_policies: Sequence[str] = ()) -> list[Cause]:
    template = _dig(spec, "template")
    if not isinstance(template, Mapping):
        return [required(f"{path}.template")]
    causes = validate_labels(_dig(template, "metadata", "labels"), f"{path}.template.metadata.labels")
    return causes + _pod_spec_causes(template.get("spec"), f"{path}.template.spec", restart_policies)


def _workload_causes(obj: Mapping[str, Any], kind: str) -> list[Cause]:
    spec = obj.get("spec")
    causes = _non_negative(spec, "spec", "replicas", "minReadySeconds", "revisionHistoryLimit")
    causes += _selector_causes(spec, "spec", kind.lower(), needed=True)
    return causes + _template_causes(spec, "spec", ["Always"])


def _job_spec_causes(spec: Any, path: str) -> list[Cause]:
    causes = _non_negative(spec, path, "parallelism", "completions", "backoffLimit",
                           "activeDeadlineSeconds")
    if _dig(spec, "selector") is not None or _dig(spec, "manualSelector") is True:
        causes += _selector_causes(spec, path, "job", needed=True)
    policy = _dig(spec, "template", "spec", "restartPolicy")
    policy_path = f"{path}.template.spec.restartPolicy"
    if not policy:
        causes.append(required(policy_path, 'valid values: "OnFailure", "Never"'))
    causes += _template_causes(spec, path, ["OnFailure", "Never"])
    return causes


def _cronjob_causes(obj: Mapping[str, Any]) -> list[Cause]:
    spec = obj.get("spec")
    causes: list[Cause] = []
    name = _dig(obj, "metadata", "name")
    if isinstance(name, str) and len(name) > 52:
        causes.append(invalid("metadata.name", name, "must be no more than 52 characters"))
    if not _dig(spec, "schedule"):
        causes.append(required("spec.schedule"))
    policy = _dig(spec, "concurrencyPolicy")
    if policy is not None and policy not in ("Allow", "Forbid", "Replace"):
        causes.append(not_supported("spec.concurrencyPolicy", policy, ["Allow", "Forbid", "Replace"]))
    causes += _non_negative(spec, "spec", "successfulJobsHistoryLimit", "failedJobsHistoryLimit",
                            "startingDeadlineSeconds")
    return causes + _job_spec_causes(_dig(spec, "jobTemplate", "spec"), "spec.jobTemplate.spec")


_SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
_PROTOCOLS = ["SCTP", "TCP", "UDP"]


def _service_causes(obj: Mapping[str, Any]) -> list[Cause]:
    spec = obj.get("spec")
    causes: list[Cause] = []
    service_type = _dig(spec, "type")
    if service_type is not None and service_type not in _SERVICE_TYPES:
        causes.append(not_supported("spec.type", service_type, _SERVICE_TYPES))
    ports = _as_list(_dig(spec, "ports"))
    headless = _dig(spec, "clusterIP") == "None"
    if not ports and not headless and service_type != "ExternalName":
        causes.append(required("spec.ports"))
    names: set[str] = set()
    for index, port in enumerate(ports):
        if not isinstance(port, Mapping):
            continue
        here = f"spec.ports[{index}]"
        name = port.get("name")
        if not name and len(ports) > 1:
            causes.append(required(f"{here}.name"))
        elif isinstance(name, str) and name:
            causes += [invalid(f"{here}.name", name, m) for m in name_messages(name, "dns1123-label")]
            if name in names:
                causes.append(duplicate(f"{here}.name", name))
            names.add(name)
        number = port.get("port", 0)
        causes += _port_causes(number if _is_int(number) else 0, f"{here}.port")
        protocol = port.get("protocol")
        if protocol is not None and protocol not in _PROTOCOLS:
            causes.append(not_supported(f"{here}.protocol", protocol, _PROTOCOLS))
        if _is_int(port.get("targetPort")):
            causes += _port_causes(port["targetPort"], f"{here}.targetPort")
    return causes


def _config_key_causes(obj: Mapping[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    data = _dig(obj, "data")
    data = data if isinstance(data, Mapping) else {}
    binary = _dig(obj, "binaryData")
    binary = binary if isinstance(binary, Mapping) else {}
    string_data = _dig(obj, "stringData")
    if obj.get("kind") == "Secret" and isinstance(string_data, Mapping):
        data = {**data, **string_data}  # merged into `data` before validation, as v1 decodes
    for section, keys in (("data", data), ("binaryData", binary)):
        for key in map(str, keys):
            here = f"{section}[{key}]"
            causes += [invalid(here, key, message) for message in config_key_messages(key)]
            if section == "data" and key in binary and obj.get("kind") != "Secret":
                causes.append(invalid(here, key, "duplicate of key present in binaryData"))
    return causes


# The rules of the kinds above, as their strategies (orchestrator.api.strategies) name them.
def deployment_causes(obj: Mapping[str, Any]) -> list[Cause]:
    return _workload_causes(obj, "Deployment")


def replica_set_causes(obj: Mapping[str, Any]) -> list[Cause]:
    return _workload_causes(obj, "ReplicaSet")


def stateful_set_causes(obj: Mapping[str, Any]) -> list[Cause]:
    return _workload_causes(obj, "StatefulSet")


def daemon_set_causes(obj: Mapping[str, Any]) -> list[Cause]:
    return _workload_causes(obj, "DaemonSet")


def job_causes(obj: Mapping[str, Any]) -> list[Cause]:
    return _job_spec_causes(obj.get("spec"), "spec")


def cron_job_causes(obj: Mapping[str, Any]) -> list[Cause]:
    return _cronjob_causes(obj)


def pod_causes(obj: Mapping[str, Any]) -> list[Cause]:
    return _pod_spec_causes(obj.get("spec"), "spec")


def service_causes(obj: Mapping[str, Any]) -> list[Cause]:
    return _service_causes(obj)


def config_map_causes(obj: Mapping[str, Any]) -> list[Cause]:
    return _config_key_causes(obj) + data_size_causes(obj, "ConfigMap")


def secret_causes(obj: Mapping[str, Any]) -> list[Cause]:
    return _config_key_causes(obj) + data_size_causes(obj, "Secret")


def semantic_causes(obj: Mapping[str, Any], rt: ResourceType) -> list[Cause]:
    """The hand-written rules of `rt`'s kind: its strategy's `validate`."""
    # Imported here: the strategies name this module's rules.
    from orchestrator.api import strategies

    strategy = strategies.for_kind(rt.group, rt.kind)
    return strategy.validate(obj) if strategy is not None else []


# --- entry points -----------------------------------------------------------------------
def validate_object(
    obj: dict[str, Any],
    rt: ResourceType,
    schema: SchemaNode | None,
    *,
    field_validation: str,
    duplicate_fields: Sequence[str] = (),
    for_patch: bool = False,
) -> list[str]:
    """Validate `obj` as the server would before storing it; return the warnings to send.

    Raises BadRequest for decoding errors and, under Strict, unknown or duplicate fields
    (`duplicate_fields` are paths the server's JSON parser saw twice); raises Invalid with
    every cause otherwise. `for_patch` drops the `X in version ... cannot be handled`
    prefix, which the server only adds when it decodes a request body directly.
    """
    mode = check_field_validation(field_validation, "PatchOptions" if for_patch else "CreateOptions")
    prefix = "" if for_patch else (
        f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
    )
    if not isinstance(obj, dict):
        raise BadRequest(prefix + "the body must be a JSON object")
    walker = _Walker(crd=schema is not None and schema.from_crd)
    if schema is not None:
        walker.walk(obj, schema, "", "", "")
    elif obj.get("metadata") is not None:  # an unknown kind: only its metadata is known
        walker.walk(obj["metadata"], object_meta(), "metadata", "metadata", rt.kind)
    found = walker.found
    if found.decode_error is not None:
        raise BadRequest(prefix + found.decode_error)
    problems = [f'duplicate field "{p}"' for p in duplicate_fields]
    problems += [f'unknown field "{p}"' for p in found.unknown]
    warnings: list[str] = []
    if problems and mode == "Strict":
        raise BadRequest(prefix + "strict decoding error: " + ", ".join(problems))
    if mode == "Warn":
        warnings = problems
    causes = validate_metadata(obj.get("metadata"), rt.kind, rt.group) + found.causes
    if not rt.custom:
        causes += semantic_causes(obj, rt)
    if causes:
        name = _dig(obj, "metadata", "name")
        raise Invalid.of(rt.kind, rt.group, name if isinstance(name, str) else "",
                         _dedupe(causes))
    return warnings


def _dedupe(causes: Iterable[Cause]) -> list[Cause]:
    seen: set[Cause] = set()
    out = []
    for cause in causes:
        if cause not in seen:
            seen.add(cause)
            out.append(cause)
    return out


def prune(obj: dict[str, Any], schema: SchemaNode | None) -> dict[str, Any]:
    """A copy of `obj` without the fields `schema` does not know, as Kubernetes stores it.

    Built-in kinds decode into typed structs, so unknown fields vanish; custom resources
    are pruned unless `x-kubernetes-preserve-unknown-fields`, and their metadata keeps only
    ObjectMeta's fields. `apiVersion` and `kind` always stay. Without a schema nothing is
    known, so nothing is dropped.
    """
    if schema is None or not isinstance(obj, dict):
        return dict(obj) if isinstance(obj, dict) else obj
    out = _prune_value(obj, schema, top=True)
    result = dict(out) if isinstance(out, dict) else {}
    for key in ("apiVersion", "kind"):
        if key in obj:
            result[key] = obj[key]
    return result


def _prune_value(value: Any, node: SchemaNode, top: bool = False) -> Any:
    if isinstance(value, dict):
        if node.preserve_unknown_fields and not node.properties:
            return _prune_embedded(value, node)
        out: dict[str, Any] = {}
        for key, child_value in value.items():
            child = node.child(key)
            if child is None:
                if node.preserve_unknown_fields:
                    out[key] = child_value
                continue
            if child_value is None and node.from_crd and child.from_crd and not child.nullable:
                continue  # CRDs drop nulls of non-nullable fields before storing
            if top and key != "metadata":
                out[key] = _prune_remembered(child_value, child)
            else:
                out[key] = _prune_value(child_value, child)
        return _prune_embedded(out, node)
    if isinstance(value, list):
        items = node.items()
        return [_prune_value(v, items) for v in value] if items is not None else list(value)
    if isinstance(value, str) and not node.from_crd and node.format == "byte":
        return _canonical_bytes(value)
    return value


def _prune_remembered(value: Any, node: SchemaNode) -> Any:
    """`_prune_value` of a top-level field (a pod's `spec`), remembered by value as
    `_Walker._walk_remembered` remembers clean ones."""
    encoded = exact_json(value)
    if encoded is None:
        return _prune_value(value, node)
    key = (node, encoded)
    pruned = _PRUNED_VALUES.get(key)
    if pruned is None:
        pruned = orjson.dumps(_prune_value(value, node))
        _PRUNED_VALUES.put(key, pruned)
    return orjson.loads(pruned)


def _prune_embedded(value: dict[str, Any], node: SchemaNode) -> dict[str, Any]:
    # x-kubernetes-embedded-resource: a whole object inside, whose metadata is ObjectMeta.
    if node.embedded_resource and isinstance(value.get("metadata"), dict):
        value = dict(value)
        value["metadata"] = _prune_value(value["metadata"], object_meta())
    return value


__all__ = [
    "FIELD_VALIDATION_VALUES",
    "check_field_validation",
    "name_messages",
    "name_rule_for",
    "prune",
    "qualified_name_messages",
    "semantic_causes",
    "validate_annotations",
    "validate_labels",
    "validate_metadata",
    "validate_name",
    "validate_object",
]
