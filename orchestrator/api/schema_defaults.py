"""Defaulting of custom resources from their CRD's structural schema (`default` values),
as kube-apiserver does on every write: a missing property with a `default` gets a copy of
it, inside objects, array items and additionalProperties values, at any depth."""

from __future__ import annotations

from typing import Any

from orchestrator.api.jsoncopy import json_copy

MAX_DEPTH = 64  # schemas are finite, objects may not be: stop rather than recurse forever


def apply_schema_defaults(value: Any, schema: Any, depth: int = 0) -> None:
    """Fill defaults into `value` (in place) following the OpenAPI v3 `schema` dict."""
    if depth > MAX_DEPTH or not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        properties = schema.get("properties")
        if isinstance(properties, dict):
            for name, sub in properties.items():
                if not isinstance(sub, dict):
                    continue
                if name not in value and "default" in sub:
                    value[name] = json_copy(sub["default"])
                if name in value:
                    apply_schema_defaults(value[name], sub, depth + 1)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name, item in value.items():
                if not isinstance(properties, dict) or name not in properties:
                    apply_schema_defaults(item, extra, depth + 1)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for item in value:
                apply_schema_defaults(item, items, depth + 1)
