"""The OpenAPI v2 (Swagger 2.0) document kube-apiserver serves at `/openapi/v2`.

Only one client still needs it: kubectl's client-side schema validation, which runs for a
`kind: List` file under the default `--validate=strict` (the server cannot check a List, so
kubectl checks each item against the v2 models before sending anything). kubectl reads the
definitions alone, through kube-openapi's `proto.NewOpenAPIData`, so the document carries
every definition the served kinds reach, in the v2 shapes that parser accepts, and no
paths. It is built from the same component schemas as the v3 documents (`openapi.py`):

- a described `$ref` (v3's `allOf: [{$ref}]`) becomes a `$ref` beside its description;
- IntOrString is `type: string, format: int-or-string` and Quantity `type: string`, as in
  kube's v2 (kubectl accepts any scalar for a string);
- custom resources follow apiextensions-apiserver's `ToStructuralOpenAPIV2`: no junctors,
  nullable and preserve-unknown-fields nodes become untyped (kubectl then checks nothing
  below them), arrays without items untyped.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from orchestrator.api.resource_type import ResourceType
from orchestrator.api.openapi import component_schemas
from orchestrator.api.schemas import INT_OR_STRING_DEF, QUANTITY_DEF, kubernetes_version

_V3_PREFIX = "#/components/schemas/"
_V2_PREFIX = "#/definitions/"
_JUNCTORS = ("allOf", "oneOf", "anyOf", "not")
# Keywords a v2 Schema object has (OpenAPI 2.0 and gnostic's OpenAPIv2.proto); the rest of
# v3 (nullable, oneOf, ...) has no v2 form.
_V2_KEYWORDS = frozenset({
    "$ref", "format", "title", "description", "default", "multipleOf", "maximum",
    "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern",
    "maxItems", "minItems", "uniqueItems", "maxProperties", "minProperties", "required",
    "enum", "additionalProperties", "type", "items", "properties", "readOnly", "example",
})


def swagger_document(served: Iterable[ResourceType]) -> dict[str, Any]:
    """The `/openapi/v2` document for the resource types the server serves."""
    served = list(served)
    custom = {_name(rt) for rt in served if rt.custom}
    definitions: dict[str, Any] = {}
    for name, schema in sorted(component_schemas(served).items()):
        from_crd = name in custom or name.removesuffix("List") in custom
        definitions[name] = _definition(name, schema, from_crd)
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": kubernetes_version()},
        "paths": {},
        "definitions": definitions,
        "securityDefinitions": {"BearerToken": {
            "description": "Bearer Token authentication", "type": "apiKey",
            "name": "authorization", "in": "header"}},
        "security": [{"BearerToken": []}],
    }


def _name(rt: ResourceType) -> str:
    return ".".join(reversed(rt.group.split("."))) + f".{rt.version}.{rt.kind}"


def _definition(name: str, schema: Mapping[str, Any], from_crd: bool) -> dict[str, Any]:
    if name == INT_OR_STRING_DEF:
        return {"description": schema.get("description", ""), "type": "string",
                "format": "int-or-string"}
    if name == QUANTITY_DEF:
        return {"description": schema.get("description", ""), "type": "string"}
    return _v2(schema, from_crd)


def _v2(node: Mapping[str, Any], from_crd: bool) -> dict[str, Any]:
    ref = _described_ref(node)
    if ref is not None:
        out: dict[str, Any] = {"$ref": _V2_PREFIX + ref}
        if isinstance(node.get("description"), str):
            out["description"] = node["description"]
        return out
    if from_crd:
        node = _structural_v2(node)
    out = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, Mapping):
            out[key] = {prop: _v2(sub, from_crd) for prop, sub in value.items()
                        if isinstance(sub, Mapping)}
        elif key == "items" and isinstance(value, Mapping):
            out[key] = _v2(value, from_crd)
        elif key == "additionalProperties" and isinstance(value, Mapping):
            out[key] = _v2(value, from_crd)
        elif key in _V2_KEYWORDS or key.startswith("x-"):
            out[key] = value
    return out


def _described_ref(node: Mapping[str, Any]) -> str | None:
    """The definition a node stands for: a bare `$ref`, or v3's `allOf: [{$ref}]`."""
    ref = node.get("$ref")
    if isinstance(ref, str):
        return ref.removeprefix(_V3_PREFIX).removeprefix(_V2_PREFIX)
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], Mapping):
        inner = all_of[0].get("$ref")
        if isinstance(inner, str) and set(node) <= {"allOf", "description", "default"}:
            return inner.removeprefix(_V3_PREFIX)
    return None


def _structural_v2(node: Mapping[str, Any]) -> dict[str, Any]:
    """One node of a CRD schema as ToStructuralOpenAPIV2 leaves it."""
    out = {k: v for k, v in node.items() if k not in _JUNCTORS}
    untyped = out.pop("nullable", False) is True
    preserve = out.get("x-kubernetes-preserve-unknown-fields") is True
    if untyped or preserve:
        out.pop("items", None)
        out.pop("properties", None)
    if untyped or (preserve and out.get("type") == "object"):
        out.pop("type", None)
    if out.get("type") == "array" and "items" not in out:
        out.pop("type", None)
    props = out.get("properties")
    required = out.get("required")
    if isinstance(props, Mapping) and isinstance(required, list):
        kept = [r for r in required
                if not (isinstance(props.get(r), Mapping) and props[r].get("nullable") is True)]
        if kept != required:
            out["required"] = kept
    extra = out.get("additionalProperties")
    if isinstance(extra, Mapping) and extra.get("nullable") is True:
        out.pop("required", None)
    if not out.get("required"):
        out.pop("required", None)
    return out


__all__ = ["swagger_document"]
