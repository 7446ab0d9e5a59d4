"""An OpenAPI v2 document in gnostic's protobuf form (`openapi_v2.Document` of
github.com/google/gnostic-models, OpenAPIv2.proto), the only form kubectl accepts from
`/openapi/v2`: it asks for `application/com.github.proto-openapi.spec.v2@v1.0+protobuf`
and unmarshals the body as that message.

Only what `swagger_document` produces is encoded: the document's swagger, info,
definitions and security, and in each Schema the keywords of OpenAPI 2.0 with vendor
extensions. Free-form values (`default`, `enum`, `example`, extensions) travel as gnostic's
`Any.yaml` text, which is how kube-openapi reads them back.
"""

from __future__ import annotations

import struct
from typing import Any, Mapping

import yaml

# What clients ask for (the old spelling, which Go's mime parser rejects), and what
# kube-openapi answers with.
ACCEPTED_MEDIA_TYPES = ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
                        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
MEDIA_TYPE = ACCEPTED_MEDIA_TYPES[1]

_VARINT, _FIXED64, _LENGTH = 0, 1, 2

# Schema fields: keyword -> (field number, how it is written).
_STRING_FIELDS = {"$ref": 1, "format": 2, "title": 3, "description": 4, "pattern": 13,
                  "discriminator": 26}
_DOUBLE_FIELDS = {"multipleOf": 6, "maximum": 7, "minimum": 9}
_BOOL_FIELDS = {"exclusiveMaximum": 8, "exclusiveMinimum": 10, "uniqueItems": 16,
                "readOnly": 27}
_INT_FIELDS = {"maxLength": 11, "minLength": 12, "maxItems": 14, "minItems": 15,
               "maxProperties": 17, "minProperties": 18}
_ANY_FIELDS = {"default": 5, "example": 30}


def encode_document(document: Mapping[str, Any]) -> bytes:
    """openapi_v2.Document for a Swagger 2.0 dict."""
    out = bytearray()
    _string(out, 1, str(document.get("swagger", "2.0")))
    info = document.get("info")
    if isinstance(info, Mapping):
        body = bytearray()
        _string(body, 1, str(info.get("title", "")))
        _string(body, 2, str(info.get("version", "")))
        _message(out, 2, body)
    _message(out, 8, _paths())
    definitions = document.get("definitions")
    if isinstance(definitions, Mapping):
        body = bytearray()
        for name, schema in definitions.items():
            _message(body, 1, _named_schema(str(name), schema))
        _message(out, 9, body)
    for requirement in document.get("security") or []:
        _message(out, 12, _security_requirement(requirement))
    schemes = document.get("securityDefinitions")
    if isinstance(schemes, Mapping):
        _message(out, 13, _security_definitions(schemes))
    return bytes(out)


def _paths() -> bytearray:
    return bytearray()  # kubectl's validation reads definitions only


def _named_schema(name: str, schema: Any) -> bytearray:
    body = bytearray()
    _string(body, 1, name)
    _message(body, 2, encode_schema(schema if isinstance(schema, Mapping) else {}))
    return body


def encode_schema(schema: Mapping[str, Any]) -> bytearray:
    """openapi_v2.Schema, fields in field-number order as protobuf-go writes them."""
    known = [(_FIELD_NUMBERS.get(key, 31 if key.startswith("x-") else 0), key, value)
             for key, value in schema.items()]
    out = bytearray()
    for number, key, value in sorted((f for f in known if f[0]), key=lambda f: f[0]):
        _schema_field(out, number, key, value)
    return out


_FIELD_NUMBERS = {**_STRING_FIELDS, **_DOUBLE_FIELDS, **_BOOL_FIELDS, **_INT_FIELDS,
                  **_ANY_FIELDS, "required": 19, "enum": 20, "additionalProperties": 21,
                  "type": 22, "items": 23, "properties": 25}


def _schema_field(out: bytearray, number: int, key: str, value: Any) -> None:
    if key in _STRING_FIELDS:
        if isinstance(value, str):
            _string(out, number, value)
    elif key in _DOUBLE_FIELDS:
        if _is_number(value):
            _double(out, number, value)
    elif key in _BOOL_FIELDS:
        if isinstance(value, bool):
            _bool(out, number, value)
    elif key in _INT_FIELDS:
        if _is_int(value):
            _int(out, number, value)
    elif key in _ANY_FIELDS:
        _message(out, number, _any(value))
    elif key == "required":
        for name in value if isinstance(value, list) else []:
            _string(out, number, str(name))
    elif key == "enum":
        for choice in value if isinstance(value, list) else []:
            _message(out, number, _any(choice))
    elif key == "additionalProperties":
        _message(out, number, _additional(value))
    elif key == "type":
        _message(out, number, _type_item(value))
    elif key == "items":
        if isinstance(value, Mapping):
            _message(out, number, _items(value))
    elif key == "properties":
        if isinstance(value, Mapping):
            _message(out, number, _properties(value))
    else:  # a vendor extension
        _message(out, number, _named_any(key, value))


def _additional(value: Any) -> bytearray:
    body = bytearray()
    if isinstance(value, bool):
        _bool(body, 2, value, always=True)
    elif isinstance(value, Mapping):
        _message(body, 1, encode_schema(value))
    return body


def _type_item(value: Any) -> bytearray:
    body = bytearray()
    for kind in value if isinstance(value, list) else [value]:
        _string(body, 1, str(kind))
    return body


def _items(schema: Mapping[str, Any]) -> bytearray:
    body = bytearray()
    _message(body, 1, encode_schema(schema))
    return body


def _properties(props: Mapping[str, Any]) -> bytearray:
    body = bytearray()
    for name, schema in props.items():
        _message(body, 1, _named_schema(str(name), schema))
    return body


def _named_any(name: str, value: Any) -> bytearray:
    body = bytearray()
    _string(body, 1, name)
    _message(body, 2, _any(value))
    return body


def _any(value: Any) -> bytearray:
    body = bytearray()
    _string(body, 2, yaml.safe_dump(value, default_flow_style=False, sort_keys=False))
    return body


def _security_requirement(requirement: Any) -> bytearray:
    # SecurityRequirement { repeated NamedStringArray additional_properties = 1; }
    body = bytearray()
    for name, scopes in (requirement.items() if isinstance(requirement, Mapping) else []):
        entry = bytearray()
        _string(entry, 1, str(name))
        array = bytearray()
        for scope in scopes or []:
            _string(array, 1, str(scope))
        _message(entry, 2, array)
        _message(body, 1, entry)
    return body


def _security_definitions(schemes: Mapping[str, Any]) -> bytearray:
    # SecurityDefinitions { repeated NamedSecurityDefinitionsItem additional_properties = 1; }
    # SecurityDefinitionsItem { oneof: ... ApiKeySecurity api_key_security = 2; ... }
    # ApiKeySecurity { type = 1; name = 2; in = 3; description = 4; }
    body = bytearray()
    for name, scheme in schemes.items():
        if not isinstance(scheme, Mapping) or scheme.get("type") != "apiKey":
            continue
        api_key = bytearray()
        _string(api_key, 1, "apiKey")
        _string(api_key, 2, str(scheme.get("name", "")))
        _string(api_key, 3, str(scheme.get("in", "")))
        _string(api_key, 4, str(scheme.get("description", "")))
        item = bytearray()
        _message(item, 2, api_key)
        entry = bytearray()
        _string(entry, 1, str(name))
        _message(entry, 2, item)
        _message(body, 1, entry)
    return body


# --- the wire format --------------------------------------------------------------------
def _varint(out: bytearray, value: int) -> None:
    value &= (1 << 64) - 1  # negative int64s are ten bytes, as in protobuf-go
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _key(out: bytearray, number: int, wire: int) -> None:
    _varint(out, number << 3 | wire)


def _string(out: bytearray, number: int, value: str) -> None:
    if value:  # proto3: empty strings are not written
        data = value.encode("utf-8", "replace")
        _key(out, number, _LENGTH)
        _varint(out, len(data))
        out += data


def _message(out: bytearray, number: int, body: bytes | bytearray) -> None:
    # A present sub-message is written even when empty (it is a pointer in Go).
    _key(out, number, _LENGTH)
    _varint(out, len(body))
    out += body


def _bool(out: bytearray, number: int, value: bool, *, always: bool = False) -> None:
    if value or always:
        _key(out, number, _VARINT)
        _varint(out, 1 if value else 0)


def _int(out: bytearray, number: int, value: int) -> None:
    if value:
        _key(out, number, _VARINT)
        _varint(out, value)


def _double(out: bytearray, number: int, value: float) -> None:
    if value:
        _key(out, number, _FIXED64)
        out += struct.pack("<d", float(value))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


__all__ = ["ACCEPTED_MEDIA_TYPES", "MEDIA_TYPE", "encode_document", "encode_schema"]
