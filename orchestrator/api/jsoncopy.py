"""A deep copy for JSON-shaped data (dicts, lists and scalars), several times faster than
`copy.deepcopy`, which every write path of the API server calls a few times."""

from __future__ import annotations

from typing import TypeVar

import orjson

from orchestrator.api.jsonio import exact_json

T = TypeVar("T")


def json_copy(value: T) -> T:
    """Copy dicts and lists all the way down; scalars (immutable) are shared.

    Plain JSON (`exact_json`) goes through an orjson round trip, ~3x faster than the walk for a pod. Its two
    liberties are harmless for API objects: a tuple comes back a list, and a NaN float (which
    no JSON request body can carry: the server refuses it) would come back None."""
    encoded = exact_json(value)
    if encoded is not None:
        return orjson.loads(encoded)  # type: ignore[no-any-return]
    return _walk_copy(value)


def _walk_copy(value: T) -> T:
    kind = type(value)
    if kind is dict:
        return {k: _walk_copy(v) for k, v in value.items()}  # type: ignore[attr-defined,return-value]
    if kind is list:
        return [_walk_copy(v) for v in value]  # type: ignore[attr-defined,return-value]
    if isinstance(value, (dict, list)):  # subclasses: keep their exact behaviour
        import copy

        return copy.deepcopy(value)
    return value
