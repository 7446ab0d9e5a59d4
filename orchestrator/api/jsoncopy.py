"""A deep copy for JSON-shaped data (dicts, lists and scalars), several times faster than
`copy.deepcopy`, which every write path of the API server calls a few times."""

from __future__ import annotations

from typing import TypeVar

import orjson

T = TypeVar("T")

# Anything that is not plain JSON (datetimes from YAML bodies, dict subclasses, dataclasses,
# >64-bit ints, non-str keys) makes orjson raise TypeError and takes the Python walk instead.
_PLAIN_JSON_ONLY = (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS
                    | orjson.OPT_PASSTHROUGH_DATACLASS)


def json_copy(value: T) -> T:
    """Copy dicts and lists all the way down; scalars (immutable) are shared.

    Plain JSON goes through an orjson round trip, ~3x faster than the walk for a pod. Its two
    liberties are harmless for API objects: a tuple comes back a list, and a NaN float (which
    no JSON request body can carry: the server refuses it) would come back None."""
    kind = type(value)
    if kind is dict or kind is list:
        try:
            return orjson.loads(orjson.dumps(value, option=_PLAIN_JSON_ONLY))  # type: ignore[no-any-return]
        except TypeError:
            pass
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
