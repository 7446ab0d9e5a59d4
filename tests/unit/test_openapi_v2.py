"""The /openapi/v2 document (orchestrator.api.openapi_v2) and its gnostic protobuf form."""

from __future__ import annotations

from typing import Any

from orchestrator.api import protobuf_wire as wire
from orchestrator.api.kinds import Registry, resource_types_from_crd
from orchestrator.api.openapi_v2 import swagger_document
from orchestrator.api.openapi_v2_proto import encode_document, encode_schema

CRD = {"metadata": {"name": "widgets.example.com"}, "spec": {
    "group": "example.com", "scope": "Namespaced",
    "names": {"kind": "Widget", "plural": "widgets"},
    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
        "type": "object", "properties": {"spec": {"type": "object", "required": ["size", "note"],
                                                   "properties": {
            "size": {"type": "integer"},
            "note": {"type": "string", "nullable": True},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                     "properties": {"a": {"type": "string"}}},
            "port": {"x-kubernetes-int-or-string": True,
                     "anyOf": [{"type": "integer"}, {"type": "string"}]},
        }}}}}}]}}


def _document() -> dict[str, Any]:
    registry = Registry()
    registry.set_custom("widgets.example.com", resource_types_from_crd(CRD))
    return swagger_document(registry.all())


def test_builtin_definitions_are_v2_shaped() -> None:
    definitions = _document()["definitions"]
    deployment = definitions["io.k8s.api.apps.v1.Deployment"]
    assert deployment["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}]
    metadata = deployment["properties"]["metadata"]
    assert set(metadata) == {"$ref", "description"}  # a described ref, no allOf, no type
    assert metadata["$ref"] == "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    int_or_string = definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    assert (int_or_string["type"], int_or_string["format"]) == ("string", "int-or-string")
    assert definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"]["type"] == "string"
    for name, schema in definitions.items():
        assert "oneOf" not in schema and "allOf" not in schema, name


def test_every_reference_names_a_definition() -> None:
    definitions = _document()["definitions"]
    refs: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.add(node["$ref"].removeprefix("#/definitions/"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(definitions)
    assert refs and refs <= set(definitions)


def test_custom_resources_follow_to_structural_openapi_v2() -> None:
    widget = _document()["definitions"]["com.example.v1.Widget"]
    spec = widget["properties"]["spec"]
    assert spec["required"] == ["size"]  # a nullable field is not required in v2
    assert "type" not in spec["properties"]["note"]
    free = spec["properties"]["free"]
    assert "type" not in free and "properties" not in free
    assert "anyOf" not in spec["properties"]["port"]
    assert widget["x-kubernetes-group-version-kind"] == [
        {"group": "example.com", "kind": "Widget", "version": "v1"}]


def _message(data: bytes) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for number, _, value in wire.fields(data):
        out.setdefault(number, []).append(value)
    return out


def test_protobuf_form_is_a_gnostic_document() -> None:
    document = _document()
    encoded = _message(encode_document(document))
    assert encoded[1] == [b"2.0"]
    named = [_message(entry) for entry in _message(encoded[9][0])[1]]
    names = [n[1][0].decode() for n in named]
    assert names == list(document["definitions"])
    config_map = _message(named[names.index("io.k8s.api.core.v1.ConfigMap")][2][0])
    assert _message(config_map[22][0])[1] == [b"object"]  # TypeItem
    properties = {_message(p)[1][0].decode() for p in _message(config_map[25][0])[1]}
    assert {"data", "binaryData", "metadata", "immutable"} <= properties
    extension = _message(config_map[31][0])  # NamedAny: the GVK as YAML
    assert extension[1] == [b"x-kubernetes-group-version-kind"]
    assert _message(extension[2][0])[2][0].decode() == "- group: ''\n  kind: ConfigMap\n  version: v1\n"


def test_schema_fields_are_written_in_field_number_order() -> None:
    encoded = encode_schema({"type": "string", "description": "d", "$ref": "#/definitions/x",
                             "x-a": 1, "maxLength": 3, "required": ["a", "b"]})
    assert [number for number, _, _ in wire.fields(bytes(encoded))] == [1, 4, 11, 19, 19, 22, 31]
