"""PATCH bodies applied as kube-apiserver applies them: JSON patch, merge patch, strategic.

All three functions are pure: they deep-copy their inputs and return a new document.

Errors mirror `k8s.io/apiserver/pkg/endpoints/handlers/patch.go`:

* JSON patch (`application/json-patch+json`, evanphx/json-patch v4 semantics):
  - the body is not a list, or an operation is not an object: `BadRequest` (400) with Go's
    decoding message (`json: cannot unmarshal object into Go value of type jsonpatch.Patch`);
  - more than 10000 operations: `RequestEntityTooLarge` (413);
  - an operation that fails (unknown `op`, missing `path`, path not found, bad index,
    failed `test`): `Invalid` (422) with the server's generic message "the server rejected
    our request due to an error in our request" and one cause of reason
    `UnexpectedServerResponse` carrying json-patch's own message, exactly as the real
    server answers (`NewGenericServerResponse(422, ...)`).
  Deliberately kept quirks of the real server: negative array indices count from the end,
  a path is split on "/" and its first segment ignored (so `a/b` acts as `/b`), `test`
  of a missing key against `null` passes, `add` to an existing object key replaces it.
* JSON merge patch (RFC 7386, as evanphx `MergePatch`): a `null` or scalar body is
  `BadRequest` "Invalid JSON Patch"; nulls inside newly added objects are dropped.
* Strategic merge patch (`k8s.io/apimachinery/pkg/util/strategicpatch`): the format errors
  the server maps to 400 raise `BadRequest` with the same text; lists of lists raise the
  422 generic error as the server does. Errors the real server lets through as a 500
  (unknown `$patch` value, missing merge key, mixed list element types) are `BadRequest`
  here, with Go's wording, because bad input must never be a 500.
  `$patch: merge` is rejected, as on a real server (`unknown patch type: merge` in a map,
  `merging lists cannot yet be specified in the patch` in a list).
  Two real-server bugs are not reproduced: `$deleteFromPrimitiveList/x` on a missing list
  does nothing (Go would create `x` from the deletion list), and it always deletes (Go
  would replace a list whose strategy is not `merge`). Directive keys and nulls in values
  added where nothing existed are dropped, as the real server's typed decoding drops them.
  A `null` body is a no-op. Schema-less (`schema=None`) documents get JSON merge patch.

A patch whose result is not an object raises `Invalid` (422) on the field `patch`, as the
server does when it cannot decode the patched document.
"""

from __future__ import annotations

import json
import re
from typing import Any, Protocol

from orchestrator.api.jsoncopy import json_copy
from orchestrator.api.errors import APIError, BadRequest, Cause, Invalid, RequestEntityTooLarge, invalid

MAX_JSON_PATCH_OPERATIONS = 10000
# evanphx's AccumulatedCopySizeLimit guards against `copy` doubling a document per op.
MAX_ACCUMULATED_COPY_SIZE = 3 * 1024 * 1024

_REJECTED = "the server rejected our request due to an error in our request"

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"
_SET_ELEMENT_ORDER = "$setElementOrder"

ERR_BAD_PRIMITIVE_LIST = "invalid patch format of primitive list"
ERR_BAD_RETAIN_KEYS = "invalid patch format of retainKeys"
ERR_BAD_SET_ELEMENT_ORDER = "invalid patch format of setElementOrder list"
ERR_NO_LIST_OF_LISTS = "lists of lists are not supported"


class FieldSchema(Protocol):
    """What the patch engines need to know about one field of a Kubernetes type."""

    def child(self, name: str) -> "FieldSchema | None": ...

    def items(self) -> "FieldSchema | None": ...

    @property
    def patch_strategy(self) -> str | None: ...

    @property
    def patch_merge_key(self) -> str | None: ...

    @property
    def list_type(self) -> str | None: ...

    @property
    def list_map_keys(self) -> tuple[str, ...]: ...


# --------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------


def json_patch(doc: dict[str, Any], operations: Any) -> dict[str, Any]:
    """Apply an RFC 6902 JSON patch (a list of operations) to `doc`."""
    if operations is None:  # Go decodes `null` into an empty patch
        return json_copy(doc)
    if not isinstance(operations, list):
        raise BadRequest(_unmarshal_message(operations, "jsonpatch.Patch"))
    for op in operations:
        if op is not None and not isinstance(op, dict):
            raise BadRequest(_unmarshal_message(op, "jsonpatch.Operation"))
    if len(operations) > MAX_JSON_PATCH_OPERATIONS:
        raise RequestEntityTooLarge(
            f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, "
            f"got {len(operations)}"
        )
    try:
        result = _JsonPatcher(json_copy(doc)).apply(operations)
    except _PatchFailed as failure:
        raise Invalid(_REJECTED, causes=[Cause("UnexpectedServerResponse", str(failure))])
    except RecursionError:
        raise BadRequest("the patch or the object is nested too deeply") from None
    return _require_object(result)


def merge_patch(doc: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Apply an RFC 7386 JSON merge patch, as kube-apiserver (evanphx MergePatch) does."""
    try:
        if isinstance(patch, list):
            # Not an object: the patch becomes the document, which then fails to decode.
            return _require_object([_without_nulls(item) for item in patch])
        if not isinstance(patch, dict):
            raise BadRequest("Invalid JSON Patch")
        result = json_copy(doc)
        _merge_objects(result, json_copy(patch))
        return result
    except RecursionError:
        raise BadRequest("the patch or the object is nested too deeply") from None


def strategic_merge_patch(
    doc: dict[str, Any], patch: Any, schema: FieldSchema | None
) -> dict[str, Any]:
    """Apply a Kubernetes strategic merge patch, list semantics taken from `schema`."""
    if patch is None:
        return json_copy(doc)
    if not isinstance(patch, dict):
        raise BadRequest(_unmarshal_message(patch, "map[string]interface {}"))
    if schema is None:
        return merge_patch(doc, patch)
    try:
        merged = _merge_map(json_copy(doc), json_copy(patch), schema)
    except _SmpListOfLists:
        raise Invalid(_REJECTED, causes=[Cause("UnexpectedServerResponse", ERR_NO_LIST_OF_LISTS)])
    except _SmpFailed as failure:
        raise BadRequest(str(failure))
    except RecursionError:
        raise BadRequest("the patch or the object is nested too deeply") from None
    return _require_object(merged)


# --------------------------------------------------------------------------------------
# Shared helpers: JSON values compared and printed the way Go sees them
# --------------------------------------------------------------------------------------


def json_equal(left: Any, right: Any) -> bool:
    """Equality of decoded JSON that keeps bool, int and float apart, as Go does."""
    if isinstance(left, dict):
        return (
            isinstance(right, dict)
            and left.keys() == right.keys()
            and all(json_equal(v, right[k]) for k, v in left.items())
        )
    if isinstance(left, list):
        return (
            isinstance(right, list)
            and len(left) == len(right)
            and all(json_equal(a, b) for a, b in zip(left, right))
        )
    return type(left) is type(right) and left == right


def scalar_key(value: Any) -> tuple[str, Any]:
    """A hashable identity for a list element, type-strict like Go's `==` on interfaces."""
    if isinstance(value, (dict, list)):
        return ("json", json.dumps(value, sort_keys=True))
    return (type(value).__name__, value)


def go_repr(value: Any) -> str:
    """How Go's `%v` prints a decoded JSON value (for messages that quote one)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_repr(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_repr(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def _go_type(value: Any) -> str:
    if value is None:
        return "<nil>"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    return "string"


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "string"


def _unmarshal_message(value: Any, go_type: str) -> str:
    return f"json: cannot unmarshal {_json_kind(value)} into Go value of type {go_type}"


def _require_object(result: Any) -> dict[str, Any]:
    if isinstance(result, dict):
        return result
    text = json.dumps(result, separators=(",", ":"))
    detail = _unmarshal_message(result, "map[string]interface {}")
    raise Invalid.of("", "", "", [invalid("patch", text, detail)])


def _without_nulls(value: Any) -> Any:
    """Drop null members of objects, recursively (evanphx `pruneNulls`)."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


# --------------------------------------------------------------------------------------
# JSON merge patch
# --------------------------------------------------------------------------------------


def _merge_objects(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
            continue
        current = target.get(key)
        if current is None:
            target[key] = _without_nulls(value)
        elif not isinstance(current, dict):
            target[key] = _without_nulls(value)
        elif not isinstance(value, dict):
            target[key] = value  # evanphx keeps such a value as sent
        else:
            _merge_objects(current, value)


# --------------------------------------------------------------------------------------
# JSON patch (evanphx/json-patch v4, the library kube-apiserver uses)
# --------------------------------------------------------------------------------------


class _PatchFailed(Exception):
    """An operation did not apply; the message is json-patch's own."""


class _PointerError(Exception):
    """A key that cannot be read from a container (wrapped by the caller)."""


_MISSING = ": missing value"
_BAD_INDEX = ": invalid index referenced"
_GO_INT = re.compile(r"[+-]?[0-9]+")


def _unescape(token: str) -> str:
    # Left to right, so "~01" is "~1" (RFC 6901 section 4).
    return token.replace("~1", "/").replace("~0", "~") if "~" in token else token


def _atoi(key: str) -> int:
    if not _GO_INT.fullmatch(key):
        raise _PointerError(f'strconv.Atoi: parsing "{key}": invalid syntax')
    return int(key)


def _array_index(items: list[Any], key: str, *, length: int | None = None) -> int:
    size = len(items) if length is None else length
    index = _atoi(key)
    if index < 0:
        if index < -size:
            raise _PointerError(f"Unable to access invalid index: {index}{_BAD_INDEX}")
        index += size
    if index >= size:
        raise _PointerError(f"Unable to access invalid index: {index}{_BAD_INDEX}")
    return index


def _get(container: dict[str, Any] | list[Any], key: str) -> Any:
    if isinstance(container, dict):
        if key not in container:
            raise _PointerError(f"unable to get nonexistent key: {key}{_MISSING}")
        return container[key]
    return container[_array_index(container, key)]


def _add(container: dict[str, Any] | list[Any], key: str, value: Any) -> None:
    if isinstance(container, dict):
        container[key] = value
        return
    if key == "-":
        container.append(value)
        return
    try:
        index = _array_index(container, key, length=len(container) + 1)
    except _PointerError as error:
        if _GO_INT.fullmatch(key):
            raise
        raise _PointerError(f"value was not a proper array index: '{key}': {error}") from None
    container.insert(index, value)


def _remove(container: dict[str, Any] | list[Any], key: str) -> None:
    if isinstance(container, dict):
        if key not in container:
            raise _PointerError(f"Unable to remove nonexistent key: {key}{_MISSING}")
        del container[key]
        return
    del container[_array_index(container, key)]


def _set(container: dict[str, Any] | list[Any], key: str, value: Any) -> None:
    if isinstance(container, dict):
        container[key] = value
    else:
        container[_array_index(container, key)] = value


def _field(op: dict[str, Any], name: str, missing: str) -> str:
    """`op[name]` as a string, or _PatchFailed-ready text explaining why not."""
    value = op.get(name)
    if value is None:
        raise _PointerError(f"{missing}{_MISSING}")
    if not isinstance(value, str):
        raise _PointerError(_unmarshal_message(value, "string"))
    return value


class _JsonPatcher:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc: Any = doc
        self.copied_bytes = 0

    def apply(self, operations: list[Any]) -> Any:
        handlers = {
            "add": self._add,
            "remove": self._remove,
            "replace": self._replace,
            "move": self._move,
            "copy": self._copy,
            "test": self._test,
        }
        for op in operations:
            op = op or {}  # a null operation has no kind, as in Go
            kind = op.get("op")
            handler = handlers.get(kind) if isinstance(kind, str) else None
            if handler is None:
                name = kind if isinstance(kind, str) else "unknown"
                raise _PatchFailed(f"Unexpected kind: {name}")
            handler(op)
        return self.doc

    def _parent(self, path: str) -> tuple[dict[str, Any] | list[Any], str] | None:
        """The container holding the last token of `path` (evanphx `findObject`)."""
        tokens = path.split("/")
        if len(tokens) < 2:
            return None
        node = self.doc
        for token in tokens[1:-1]:
            if not isinstance(node, (dict, list)):
                return None
            try:
                node = _get(node, _unescape(token))
            except _PointerError:
                return None
        if not isinstance(node, (dict, list)):
            return None
        return node, _unescape(tokens[-1])

    def _path(self, op: dict[str, Any], verb: str, *, keep_cause: bool = True) -> str:
        try:
            return _field(op, "path", "operation missing path field")
        except _PointerError as error:
            cause = str(error) if keep_cause else "missing value"
            raise _PatchFailed(f"{verb} operation failed to decode path: {cause}") from None

    def _from(self, op: dict[str, Any], verb: str) -> str:
        try:
            return _field(op, "from", "operation, missing from field")
        except _PointerError as error:
            raise _PatchFailed(f"{verb} operation failed to decode from: {error}") from None

    def _add(self, op: dict[str, Any]) -> None:
        path = self._path(op, "add", keep_cause=False)
        found = self._parent(path)
        if found is None:
            raise _PatchFailed(f'add operation does not apply: doc is missing path: "{path}"{_MISSING}')
        try:
            _add(*found, op.get("value"))
        except _PointerError as error:
            raise _PatchFailed(f"error in add for path: '{path}': {error}") from None

    def _remove(self, op: dict[str, Any]) -> None:
        path = self._path(op, "remove")
        found = self._parent(path)
        if found is None:
            raise _PatchFailed(f'remove operation does not apply: doc is missing path: "{path}"{_MISSING}')
        try:
            _remove(*found)
        except _PointerError as error:
            raise _PatchFailed(f"error in remove for path: '{path}': {error}") from None

    def _replace(self, op: dict[str, Any]) -> None:
        path = self._path(op, "replace")
        if path == "":
            value = op.get("value")
            if isinstance(value, (dict, list)):  # evanphx silently ignores anything else
                self.doc = value
            return
        found = self._parent(path)
        if found is None:
            raise _PatchFailed(f"replace operation does not apply: doc is missing path: {path}{_MISSING}")
        try:
            _get(*found)
        except _PointerError:
            raise _PatchFailed(f"replace operation does not apply: doc is missing key: {path}{_MISSING}") from None
        try:
            _set(*found, op.get("value"))
        except _PointerError as error:
            raise _PatchFailed(f"error in remove for path: '{path}': {error}") from None

    def _move(self, op: dict[str, Any]) -> None:
        source = self._from(op, "move")
        found = self._parent(source)
        if found is None:
            raise _PatchFailed(f"move operation does not apply: doc is missing from path: {source}{_MISSING}")
        try:
            value = _get(*found)
            _remove(*found)
        except _PointerError as error:
            raise _PatchFailed(f"error in move for path: '{found[1]}': {error}") from None
        path = self._path(op, "move")
        target = self._parent(path)
        if target is None:
            raise _PatchFailed(f"move operation does not apply: doc is missing destination path: {path}{_MISSING}")
        try:
            _add(*target, value)
        except _PointerError as error:
            raise _PatchFailed(f"error in move for path: '{path}': {error}") from None

    def _copy(self, op: dict[str, Any]) -> None:
        source = self._from(op, "copy")
        found = self._parent(source)
        if found is None:
            raise _PatchFailed(f"copy operation does not apply: doc is missing from path: {source}{_MISSING}")
        try:
            value = _get(*found)
        except _PointerError as error:
            raise _PatchFailed(f"error in copy for from: '{source}': {error}") from None
        path = self._path(op, "copy", keep_cause=False)
        target = self._parent(path)
        if target is None:
            raise _PatchFailed(f"copy operation does not apply: doc is missing destination path: {path}{_MISSING}")
        self.copied_bytes += len(json.dumps(value))
        if self.copied_bytes > MAX_ACCUMULATED_COPY_SIZE:
            raise _PatchFailed(
                "Unable to complete the copy, the accumulated size increase of copy is "
                f"{self.copied_bytes}, exceeding the limit {MAX_ACCUMULATED_COPY_SIZE}"
            )
        try:
            _add(*target, json_copy(value))
        except _PointerError as error:
            raise _PatchFailed(f"error while adding value during copy: {error}") from None

    def _test(self, op: dict[str, Any]) -> None:
        path = self._path(op, "test")
        expected = op.get("value")
        if path == "":
            if not json_equal(self.doc, expected):
                raise _PatchFailed(f"testing value {path} failed: test failed")
            return
        found = self._parent(path)
        if found is None:
            raise _PatchFailed(f"test operation does not apply: is missing path: {path}{_MISSING}")
        container, key = found
        if isinstance(container, dict):
            actual = container.get(key)  # a missing key reads as null, as in evanphx
        else:
            try:
                actual = _get(container, key)
            except _PointerError as error:
                raise _PatchFailed(f"error in test for path: '{path}': {error}") from None
        if not json_equal(actual, expected):
            raise _PatchFailed(f"testing value {path} failed: test failed")


# --------------------------------------------------------------------------------------
# Strategic merge patch
# --------------------------------------------------------------------------------------


class _SmpFailed(Exception):
    """A malformed strategic merge patch; the message is apimachinery's."""


class _SmpListOfLists(_SmpFailed):
    pass


def _split_strategy(schema: FieldSchema | None) -> str:
    """The strategy other than `retainKeys` ("merge", "replace" or "")."""
    raw = schema.patch_strategy if schema is not None else None
    parts = [p for p in (raw or "").split(",") if p and p != "retainKeys"]
    return parts[0] if parts else ""


def _merge_key(schema: FieldSchema | None) -> str:
    return (schema.patch_merge_key if schema is not None else None) or ""


def _child(schema: FieldSchema | None, name: str) -> FieldSchema | None:
    return schema.child(name) if schema is not None else None


def _items(schema: FieldSchema | None) -> FieldSchema | None:
    return schema.items() if schema is not None else None


def _is_directive_key(key: str) -> bool:
    return key in (_DIRECTIVE, _RETAIN_KEYS) or key.startswith(
        (_DELETE_FROM_PRIMITIVE_LIST + "/", _SET_ELEMENT_ORDER + "/")
    )


def _cleaned(value: Any) -> Any:
    """A patch value taken as is: directives and null members go, as typed decoding drops them."""
    if isinstance(value, dict):
        return {
            k: _cleaned(v) for k, v in value.items() if v is not None and not _is_directive_key(k)
        }
    if isinstance(value, list):
        return [_cleaned(v) for v in value]
    return value


def _bad_arg_type(expected: str, actual: Any) -> _SmpFailed:
    return _SmpFailed(f"expected a {expected}, but received a {_go_type(actual)}")


def _no_merge_key(item: dict[str, Any], key: str) -> _SmpFailed:
    return _SmpFailed(f"map: {go_repr(item)} does not contain declared merge key: {key}")


def _directive_target(key: str, prefix: str, error: str) -> str:
    head, sep, rest = key.partition("/")
    if not sep or head != prefix:
        raise _SmpFailed(error)
    return rest


def _merge_map(
    original: dict[str, Any], patch: dict[str, Any], schema: FieldSchema | None,
) -> dict[str, Any]:
    if _DIRECTIVE in patch:
        directive = patch[_DIRECTIVE]
        if directive == "replace":
            replacement: dict[str, Any] = _cleaned(patch)
            return replacement
        if directive == "delete":
            return {}
        raise _SmpFailed(f"unknown patch type: {go_repr(directive)} in map: {go_repr(patch)}")
    _apply_retain_keys(original, patch)
    _apply_element_orders(original, patch, schema)
    for key, value in list(patch.items()):
        deleting = key.startswith(_DELETE_FROM_PRIMITIVE_LIST)
        if deleting:
            key = _directive_target(key, _DELETE_FROM_PRIMITIVE_LIST, ERR_BAD_PRIMITIVE_LIST)
            if value is None:  # apimachinery treats this as `<field>: null`
                original.pop(key, None)
            else:
                _delete_from_primitive_list(original, key, value)
            continue
        if value is None:
            original.pop(key, None)
            continue
        current = original.get(key)
        if current is None or type(current) is not type(value):
            original[key] = _cleaned(value)
            continue
        child = _child(schema, key)
        strategy = _split_strategy(child)
        if isinstance(value, dict):
            original[key] = _cleaned(value) if strategy == "replace" else _merge_map(current, value, child)
        elif isinstance(value, list):
            original[key] = _merge_list_field(current, value, child, strategy)
        else:
            original[key] = value
    return original


def _merge_list_field(
    current: list[Any], patch: list[Any], schema: FieldSchema | None, strategy: str,
) -> list[Any]:
    if strategy != "merge":
        return list(_cleaned(patch))
    return _merge_list(current, patch, _items(schema), _merge_key(schema))


def _delete_from_primitive_list(original: dict[str, Any], key: str, doomed: Any) -> None:
    if not isinstance(doomed, list):
        raise _bad_arg_type("[]interface {}", doomed)
    if any(isinstance(v, (dict, list)) for v in doomed):
        raise _SmpFailed(ERR_BAD_PRIMITIVE_LIST)
    current = original.get(key)
    if not isinstance(current, list):
        return  # nothing to delete from (a real server would create the list: a bug)
    gone = {scalar_key(v) for v in doomed}
    original[key] = [v for v in current if scalar_key(v) not in gone]


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    if _RETAIN_KEYS not in patch:
        return
    retained = patch.pop(_RETAIN_KEYS)
    if not isinstance(retained, list):
        raise _SmpFailed(ERR_BAD_RETAIN_KEYS)
    allowed = {k for k in retained if isinstance(k, str)}
    for key, value in patch.items():
        if value is None or key.startswith((_DELETE_FROM_PRIMITIVE_LIST, _SET_ELEMENT_ORDER)):
            continue
        if key not in allowed:
            raise _SmpFailed(ERR_BAD_RETAIN_KEYS)
    for key in [k for k in original if k not in allowed]:
        del original[key]


def _element_kind(*lists: list[Any]) -> str:
    """"map" or "scalar" for the items of `lists` (apimachinery `sliceElementType`)."""
    seen: str | None = None
    for items in lists:
        for item in items:
            kind = _go_type(item)
            if isinstance(item, list):
                raise _SmpListOfLists(ERR_NO_LIST_OF_LISTS)
            if seen is None:
                seen = kind
            elif seen != kind:
                raise _SmpFailed(
                    "list element types are not identical: " + go_repr(list(lists))
                )
    return "map" if seen == _go_type({}) else "scalar"


def _merge_list(
    original: list[Any], patch: list[Any], item_schema: FieldSchema | None, merge_key: str,
) -> list[Any]:
    if not original and not patch:
        return original
    kind = _element_kind(original, patch)
    if kind != "map":
        merged = _dedupe(original + patch)
        server_order = original
        merge_key = ""  # scalars are their own identity
    else:
        if not merge_key:
            raise _SmpFailed("cannot merge lists without merge key for type map")
        server_order, patch = _apply_list_directives(original, patch, merge_key)
        merged = _merge_items_by_key(server_order, patch, merge_key, item_schema)
    in_patch, server_only = _partition(merged, patch, merge_key)
    return _ordered(in_patch, server_only, patch, server_order, merge_key)


def _dedupe(items: list[Any]) -> list[Any]:
    seen: set[tuple[str, Any]] = set()
    unique = []
    for item in items:
        key = scalar_key(item)
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


def _find_by_key(items: list[Any], key: str, wanted: Any) -> int | None:
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _SmpFailed(f"value for key {index} is not a map.")
        if key in item and json_equal(item[key], wanted):
            return index
    return None


def _apply_list_directives(
    original: list[Any], patch: list[Any], key: str,
) -> tuple[list[Any], list[Any]]:
    """Handle `$patch` items; returns (original after deletions, plain patch items)."""
    plain: list[Any] = []
    replace = False
    remaining = list(original)
    for item in patch:
        if _DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[_DIRECTIVE]
        if directive == "delete":
            if key not in item:
                raise _no_merge_key(item, key)
            while (index := _find_by_key(remaining, key, item[key])) is not None:
                del remaining[index]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise _SmpFailed("merging lists cannot yet be specified in the patch")
        else:
            raise _SmpFailed(f"unknown patch type: {go_repr(directive)} in map: {go_repr(item)}")
    if replace:
        return [_cleaned(v) for v in plain], []
    return remaining, plain


def _merge_items_by_key(
    original: list[Any], patch: list[Any], key: str, item_schema: FieldSchema | None,
) -> list[Any]:
    merged = list(original)
    for item in patch:
        if key not in item:
            raise _no_merge_key(item, key)
        index = _find_by_key(merged, key, item[key])
        if index is None:
            merged.append(_cleaned(item))
        else:
            merged[index] = _merge_map(merged[index], item, item_schema)
    return merged


def _identity(item: Any, key: str) -> Any:
    if key:
        if not isinstance(item, dict):
            raise _bad_arg_type("map[string]interface {}", item)
        if key not in item:
            raise _no_merge_key(item, key)
        return scalar_key(item[key])
    return scalar_key(item)


def _partition(merged: list[Any], listed: list[Any], key: str) -> tuple[list[Any], list[Any]]:
    """Split `merged` into items named in `listed` and the server's own items."""
    named = {_identity(v, key) for v in listed if not (key and isinstance(v, dict) and key not in v)}
    in_list = [v for v in merged if _identity(v, key) in named]
    others = [v for v in merged if _identity(v, key) not in named]
    return in_list, others


def _ordered(
    patch_items: list[Any], server_only: list[Any], patch_order: list[Any], server_order: list[Any], key: str,
) -> list[Any]:
    """apimachinery's `normalizeElementOrder`: patch order first, live order for the rest.

    A patch item not in the live list comes before the server's remaining items, so an
    item added by a strategic merge patch lands at the front, as on a real server.
    """
    patch_items = _sorted_by(patch_items, patch_order, key)
    server_only = _sorted_by(server_only, server_order, key)
    live_position = _positions(server_order, key)
    out: list[Any] = []
    i = j = 0
    while i < len(server_only) or j < len(patch_items):
        if j >= len(patch_items):
            out.append(server_only[i])
            i += 1
            continue
        if i >= len(server_only):
            out.append(patch_items[j])
            j += 1
            continue
        left = live_position.get(_identity(server_only[i], key))
        right = live_position.get(_identity(patch_items[j], key))
        if left is not None and right is not None and left < right:
            out.append(server_only[i])
            i += 1
        else:
            out.append(patch_items[j])
            j += 1
    return out


def _positions(order: list[Any], key: str) -> dict[tuple[str, Any], int]:
    positions: dict[tuple[str, Any], int] = {}
    for index, item in enumerate(order):
        if key and not (isinstance(item, dict) and key in item):
            continue
        positions.setdefault(_identity(item, key), index)
    return positions


def _sorted_by(items: list[Any], order: list[Any], key: str) -> list[Any]:
    positions = _positions(order, key)
    return sorted(items, key=lambda v: positions.get(_identity(v, key), len(order)))


def _apply_element_orders(
    original: dict[str, Any], patch: dict[str, Any], schema: FieldSchema | None,
) -> None:
    """`$setElementOrder/<field>`: merge that field now and order it as the list says."""
    for directive in [k for k in patch if k.startswith(_SET_ELEMENT_ORDER)]:
        order = patch.pop(directive)
        if not isinstance(order, list):
            raise _bad_arg_type("[]interface {}", order)
        field = _directive_target(directive, _SET_ELEMENT_ORDER, ERR_BAD_SET_ELEMENT_ORDER)
        has_live, has_patch = field in original, field in patch
        live, change = original.get(field), patch.get(field)
        if has_live and not isinstance(live, list):
            raise _bad_arg_type("[]interface {}", live)
        if has_patch and not isinstance(change, list):
            raise _bad_arg_type("[]interface {}", change)
        child = _child(schema, field)
        key = _merge_key(child)
        live_items: list[Any] = live if isinstance(live, list) else []
        patch_items: list[Any] = change if isinstance(change, list) else []
        _check_order_matches_patch(patch_items, order, key)
        if has_live and has_patch:
            merged = _merge_list_field(live_items, patch_items, child, _split_strategy(child))
        elif has_patch:
            merged = list(_cleaned(patch_items))
        elif has_live:
            merged = live_items
        else:
            continue
        if key:
            for item in order:
                _identity(item, key)  # every entry must name its merge key
        listed, server_only = _partition(merged, order, key)
        original[field] = _ordered(listed, server_only, order, live_items, key)
        patch.pop(field, None)


def _check_order_matches_patch(patch_items: list[Any], order: list[Any], key: str) -> None:
    """Patch items must appear in `$setElementOrder` in the same relative order."""
    if not order or not patch_items:
        return
    if key:
        for item in patch_items:
            if not isinstance(item, dict):
                raise _bad_arg_type("map[string]interface {}", item)
        patch_items = [v for v in patch_items if v.get(_DIRECTIVE) != "delete"]
    p = s = 0
    while p < len(patch_items) and s < len(order):
        item = patch_items[p]
        if isinstance(item, dict) and _DIRECTIVE in item:
            p += 1
            continue
        if _identity(item, key) == _identity(order[s], key):
            p += 1
        s += 1
    if p < len(patch_items) and s >= len(order):
        raise _SmpFailed(
            f"The order in patch list:\n{go_repr(patch_items)}\n doesn't match "
            f"{_SET_ELEMENT_ORDER} list:\n{go_repr(order)}\n"
        )


__all__ = [
    "APIError",
    "FieldSchema",
    "MAX_JSON_PATCH_OPERATIONS",
    "go_repr",
    "json_equal",
    "json_patch",
    "merge_patch",
    "scalar_key",
    "strategic_merge_patch",
]
