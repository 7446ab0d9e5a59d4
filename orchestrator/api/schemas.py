"""Kubernetes type schemas, for validation, pruning, patching and OpenAPI.

Built-in kinds come from the OpenAPI definitions shipped in the `kubernetes_validate`
package (a JSON Schema document whose `$defs` are Kubernetes' own definitions); custom
resources come from their CRD's `openAPIV3Schema`. Both are wrapped in `SchemaNode`, a
read-only view that resolves `$ref`s lazily, so callers walk a schema without knowing
where it came from.
"""

from __future__ import annotations

import importlib.util
import json
import re
from functools import lru_cache
from pathlib import Path
from collections.abc import Mapping
from typing import Any

_REF_PREFIX = "#/$defs/"
INT_OR_STRING_DEF = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY_DEF = "io.k8s.apimachinery.pkg.api.resource.Quantity"
OBJECT_META_DEF = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

_EMPTY: Mapping[str, Any] = {}


def definitions_dir() -> Path:
    """The newest non-strict `v1.*-local` folder of the installed schemas."""
    # find_spec locates the package without importing it (its import pulls in jsonschema).
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the kubernetes_validate package is not installed")
    root = Path(list(spec.submodule_search_locations)[0]) / "kubernetes-json-schema"
    candidates = []
    for entry in root.iterdir():
        match = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)-local", entry.name)
        if match and (entry / "_definitions.json").is_file():
            candidates.append((tuple(int(g) for g in match.groups()), entry))
    if not candidates:
        raise RuntimeError(f"no v1.*-local schema folder under {root}")
    return max(candidates)[1]


@lru_cache(maxsize=1)
def definitions() -> Mapping[str, Any]:
    """All `$defs`, loaded once (about 1.8 MB of JSON)."""
    with open(definitions_dir() / "_definitions.json", encoding="utf-8") as handle:
        document = json.load(handle)
    defs = document.get("$defs", {})
    if not isinstance(defs, dict):
        raise RuntimeError("_definitions.json has no $defs object")
    return defs


def kubernetes_version() -> str:
    """`v1.37.0`: the Kubernetes release the definitions describe."""
    return definitions_dir().name.removesuffix("-local")


@lru_cache(maxsize=1)
def _gvk_index() -> Mapping[tuple[str, str, str], str]:
    index: dict[tuple[str, str, str], str] = {}
    for def_name, body in definitions().items():
        gvks = body.get("x-kubernetes-group-version-kind") if isinstance(body, dict) else None
        for gvk in gvks or ():
            key = (gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))
            # DeleteOptions, WatchEvent and friends list every group; the first owner wins.
            index.setdefault(key, def_name)
    return index


def definition_name_for(group: str, version: str, kind: str) -> str | None:
    """`io.k8s.api.apps.v1.Deployment` for ("apps", "v1", "Deployment")."""
    return _gvk_index().get((group, version, kind))


def ref_target(ref: str) -> str:
    """The definition name a `$ref` points at (`#/$defs/NAME` or any `.../NAME`)."""
    return ref[len(_REF_PREFIX):] if ref.startswith(_REF_PREFIX) else ref.rsplit("/", 1)[-1]


_UNSET = object()


class SchemaNode:
    """One schema node, `$ref` resolved on first use.

    `from_crd` selects the structural-schema rules of custom resources: an object without
    properties keeps nothing unless it says `x-kubernetes-preserve-unknown-fields`. For
    built-in types an object without properties (FieldsV1, RawExtension) is free-form, as
    their Go types are.
    """

    __slots__ = ("_raw", "_from_crd", "_is_root", "_resolved", "_ref", "_properties", "_items",
                 "_additional")

    def __init__(
        self, raw: Mapping[str, Any], *, from_crd: bool = False, is_root: bool = False
    ) -> None:
        self._raw = raw
        self._from_crd = from_crd
        self._is_root = is_root
        self._resolved: Mapping[str, Any] | None = None
        self._ref: str | None = None
        self._properties: dict[str, SchemaNode] | None = None
        # Child nodes are built once: validation, pruning and apply walk them per request.
        self._items: object = _UNSET
        self._additional: object = _UNSET

    # --- resolution -------------------------------------------------------------------
    def _body(self) -> Mapping[str, Any]:
        if self._resolved is None:
            body: Mapping[str, Any] = self._raw
            overrides: dict[str, Any] = {}
            seen: set[str] = set()
            while isinstance(body.get("$ref"), str) and not self._from_crd:
                name = ref_target(body["$ref"])
                if name in seen:  # a cycle would be a broken document; stop, don't hang
                    break
                seen.add(name)
                self._ref = self._ref or name
                for key, value in body.items():
                    if key != "$ref":
                        overrides.setdefault(key, value)
                target = definitions().get(name)
                body = target if isinstance(target, Mapping) else _EMPTY
            if overrides:
                merged = dict(body)
                merged.update(overrides)
                body = merged
            self._resolved = body
        return self._resolved

    def _wrap(self, raw: Any) -> SchemaNode | None:
        if not isinstance(raw, Mapping):
            return None
        return SchemaNode(raw, from_crd=self._from_crd)

    @property
    def raw(self) -> Mapping[str, Any]:
        """The resolved schema (the referenced definition, with the field's own overrides)."""
        return self._body()

    @property
    def ref_name(self) -> str | None:
        """Definition name when this node was a `$ref` (e.g. `...core.v1.Container`)."""
        self._body()
        return self._ref

    @property
    def from_crd(self) -> bool:
        return self._from_crd

    # --- what the patch engine reads --------------------------------------------------
    def child(self, name: str) -> SchemaNode | None:
        """The schema of field `name`, or of a map's values; None when unknown."""
        props = self.properties
        if name in props:
            return props[name]
        if self._is_root and self._from_crd:
            implicit = _crd_root_field(name)
            if implicit is not None:
                return implicit
        return self.additional_properties

    def items(self) -> SchemaNode | None:
        if self._items is _UNSET:
            self._items = self._wrap(self._body().get("items"))
        return self._items  # type: ignore[return-value]

    @property
    def patch_strategy(self) -> str | None:
        value = self._body().get("x-kubernetes-patch-strategy")
        return value if isinstance(value, str) else None

    @property
    def patch_merge_key(self) -> str | None:
        value = self._body().get("x-kubernetes-patch-merge-key")
        return value if isinstance(value, str) else None

    @property
    def list_type(self) -> str | None:
        value = self._body().get("x-kubernetes-list-type")
        return value if isinstance(value, str) else None

    @property
    def list_map_keys(self) -> tuple[str, ...]:
        value = self._body().get("x-kubernetes-list-map-keys")
        return tuple(k for k in value if isinstance(k, str)) if isinstance(value, list) else ()

    @property
    def map_type(self) -> str | None:
        value = self._body().get("x-kubernetes-map-type")
        return value if isinstance(value, str) else None

    # --- what validation reads --------------------------------------------------------
    @property
    def type(self) -> str | None:
        """`object`, `array`, `string`, `integer`, `number`, `boolean`, or None if any."""
        declared = self._body().get("type")
        if isinstance(declared, str):
            return declared
        if isinstance(declared, list):
            for name in declared:
                if isinstance(name, str) and name != "null":
                    return name
        return None

    @property
    def nullable(self) -> bool:
        body = self._body()
        declared = body.get("type")
        return bool(body.get("nullable")) or (isinstance(declared, list) and "null" in declared)

    @property
    def properties(self) -> dict[str, SchemaNode]:
        if self._properties is None:
            raw = self._body().get("properties")
            self._properties = {}
            if isinstance(raw, Mapping):
                for key, value in raw.items():
                    node = self._wrap(value)
                    if node is not None:
                        self._properties[key] = node
        return self._properties

    @property
    def additional_properties(self) -> SchemaNode | None:
        if self._additional is _UNSET:
            extra = self._body().get("additionalProperties")
            if extra is True:
                self._additional = SchemaNode({}, from_crd=self._from_crd)
            else:
                self._additional = self._wrap(extra)
        return self._additional  # type: ignore[return-value]

    @property
    def required(self) -> tuple[str, ...]:
        value = self._body().get("required")
        return tuple(k for k in value if isinstance(k, str)) if isinstance(value, list) else ()

    @property
    def enum(self) -> tuple[Any, ...] | None:
        value = self._body().get("enum")
        return tuple(value) if isinstance(value, list) else None

    @property
    def format(self) -> str | None:
        value = self._body().get("format")
        return value if isinstance(value, str) else None

    @property
    def description(self) -> str:
        value = self._body().get("description")
        return value if isinstance(value, str) else ""

    @property
    def int_or_string(self) -> bool:
        body = self._body()
        return (
            self.ref_name == INT_OR_STRING_DEF
            or body.get("format") == "int-or-string"
            or body.get("x-kubernetes-int-or-string") is True
        )

    @property
    def is_quantity(self) -> bool:
        return self.ref_name == QUANTITY_DEF

    @property
    def embedded_resource(self) -> bool:
        return self._body().get("x-kubernetes-embedded-resource") is True

    @property
    def preserve_unknown_fields(self) -> bool:
        """True when fields this schema does not name are kept (and not reported)."""
        body = self._body()
        if body.get("x-kubernetes-preserve-unknown-fields") is True:
            return True
        if self._from_crd:
            return False
        # Built-in free-form values: FieldsV1, RawExtension (typed `object`, no properties)
        # and apiextensions JSON (no type at all) decode into untyped Go values.
        if self.int_or_string or self.is_quantity:
            return False
        kind = self.type
        has_shape = "properties" in body or "additionalProperties" in body
        return (kind == "object" and not has_shape) or (kind is None and "items" not in body)

    def __repr__(self) -> str:
        label = self.ref_name or self.type or "any"
        return f"SchemaNode({label}{', crd' if self._from_crd else ''})"


@lru_cache(maxsize=1)
def object_meta() -> SchemaNode:
    return SchemaNode({"$ref": _REF_PREFIX + OBJECT_META_DEF})


def _crd_root_field(name: str) -> SchemaNode | None:
    # A CRD schema may omit apiVersion/kind/metadata; the server always knows them.
    if name == "metadata":
        return object_meta()
    if name in ("apiVersion", "kind"):
        return SchemaNode({"type": "string"}, from_crd=True)
    return None


@lru_cache(maxsize=512)
def _builtin_schema(group: str, version: str, kind: str) -> SchemaNode | None:
    name = definition_name_for(group, version, kind)
    if name is None:
        return None
    return SchemaNode({"$ref": _REF_PREFIX + name}, is_root=True)


def schema_for(group: str, version: str, kind: str) -> SchemaNode | None:
    """The schema of a built-in kind, or None when the definitions do not know it."""
    return _builtin_schema(group, version, kind)


def schema_from_openapi_v3(schema: Mapping[str, Any]) -> SchemaNode:
    """Wrap a CRD version's `openAPIV3Schema` (structural schema, no `$ref`s)."""
    if not isinstance(schema, Mapping):
        schema = {}
    root = dict(schema)
    props = dict(root.get("properties") or {})
    # `metadata` in a CRD schema may only restrict name/generateName; the real shape is
    # ObjectMeta, which is what pruning and patching need.
    if "metadata" in props:
        del props["metadata"]
    root["properties"] = props
    return SchemaNode(root, from_crd=True, is_root=True)


__all__ = [
    "INT_OR_STRING_DEF",
    "OBJECT_META_DEF",
    "QUANTITY_DEF",
    "SchemaNode",
    "definition_name_for",
    "definitions",
    "definitions_dir",
    "kubernetes_version",
    "object_meta",
    "ref_target",
    "schema_for",
    "schema_from_openapi_v3",
]
