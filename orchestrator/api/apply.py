"""Server-side apply and field ownership (`metadata.managedFields`).

Follows structured-merge-diff (SMD) as kube-apiserver uses it, with these simplifications:

* Field sets are computed on the object as stored, in its one stored version; there is
  no conversion between API versions, and the `apiVersion` of an entry is only recorded.
* List types come from the schema: `x-kubernetes-list-type` (`map` with its keys, `set`,
  `atomic`), else `x-kubernetes-patch-strategy: merge` (keyed by the merge key, or a set),
  else atomic. Maps are granular unless `x-kubernetes-map-type: atomic` (read through an
  optional `map_type` attribute of the schema). Without a schema, maps are granular and
  lists atomic (SMD's "deduced" type).
* A missing list-map key field is left out of the item's key, except `protocol`, which
  reads as "TCP" (the one key default Kubernetes declares); SMD uses schema defaults.
* An explicit `null` in an applied configuration owns the field and removes its value.
* Pruning: a field or list item this manager applied before and no longer applies is
  removed unless any manager (apply or update) owns it or anything beneath it; maps and
  lists emptied by that removal go too.
* Conflicts: a changed field owned by another manager, or one under a list another
  manager owns whole (an update recorded without a schema), is a conflict. Every other
  entry (also this manager's own `Update` entry) counts as "another manager".
* Not done: capping `Update` entries at 10 (SMD folds old ones into `ancient-changes`),
  keeping `kubectl.kubernetes.io/last-applied-configuration` in step with applies,
  per-resource reset fields (the server drops `status` from a main-resource write, and
  everything but `status` from a status write, before calling in), unions.
* An object with no managedFields gets an `Update` entry `before-first-apply` owning all
  its fields on its first apply, as on a real server.

Errors: `BadRequest` for an applied configuration that is not an object, carries
`metadata.managedFields`, names another `apiVersion`, has a list where the schema has a map
(or the reverse) or duplicate list-map keys (real server: a 500 "failed to create typed
patch object"); `Conflict` (409, causes of reason `FieldManagerConflict`) for conflicts.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any, Iterable

import orjson

from orchestrator.api.jsoncopy import json_copy
from orchestrator.api.jsonio import Memo, exact_json
from orchestrator.api.errors import BadRequest, Cause, Conflict
from orchestrator.api.patch import FieldSchema, json_equal

Path = tuple[str, ...]

BEFORE_FIRST_APPLY = "before-first-apply"
APPLY = "Apply"
UPDATE = "Update"

# Paths SMD never tracks (fieldmanager's stripMeta set).
_UNTRACKED: frozenset[Path] = frozenset(
    {("f:apiVersion",), ("f:kind",), ("f:metadata",)}
    | {
        ("f:metadata", "f:" + name)
        for name in (
            "name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName",
            "generation", "managedFields", "resourceVersion",
        )
    }
)


# --------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------


def server_side_apply(
    live: dict[str, Any] | None,
    applied: dict[str, Any],
    *,
    manager: str,
    force: bool,
    schema: FieldSchema | None,
    api_version: str,
    now: str,
) -> dict[str, Any]:
    """Merge `applied` into `live` for `manager`; returns the new object with managedFields."""
    _check_applied(applied, manager, api_version)
    try:
        return _Apply(live, applied, manager, force, schema, api_version, now).run()
    except RecursionError:
        raise BadRequest("the applied configuration is nested too deeply") from None


def record_update(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    *,
    manager: str,
    api_version: str,
    now: str,
    operation: str = UPDATE,
    subresource: str = "",
    schema: FieldSchema | None = None,
) -> dict[str, Any]:
    """`new` with managedFields updated for a write that is not an apply.

    `manager` gains the fields that changed from `old` to `new`; every other entry loses
    them, and all entries lose removed fields. Pass the kind's `schema` so list items are
    tracked one by one (without it lists are owned whole). A `new` carrying managedFields
    of its own (not on a subresource) replaces the live ones; `[{}]` clears them.
    """
    result = json_copy(new)
    entries = _entries_for_update(old, result, subresource)
    before = _tracked(old, schema)
    after = _tracked(result, schema)
    change = _Change.between(before, after)
    gained = change.added | change.modified
    for entry in entries:
        entry.fields -= change.removed
        entry.fields -= _conflicting_paths(entry.fields, gained, old)
    if gained:
        mine = _find(entries, manager, operation, subresource, api_version)
        if mine is None:
            mine = _Entry(manager, operation, api_version, None, subresource, set())
            entries.append(mine)
        mine.fields |= gained
        mine.time = now
    _store_entries(result, entries)
    return result


# --------------------------------------------------------------------------------------
# Managed fields entries
# --------------------------------------------------------------------------------------


@dataclass
class _Entry:
    manager: str
    operation: str
    api_version: str
    time: str | None
    subresource: str
    fields: set[Path] = field(default_factory=set)

    def identifier(self) -> str:
        """SMD's manager identifier: JSON of the entry without time and fields."""
        ident: dict[str, str] = {"manager": self.manager, "operation": self.operation}
        if self.operation != APPLY and self.api_version:
            ident["apiVersion"] = self.api_version
        if self.subresource:
            ident["subresource"] = self.subresource
        return json.dumps(ident, separators=(",", ":"))

    def described(self) -> str:
        """How conflict messages name this manager (apiserver's `printManager`)."""
        text = _go_quote(self.manager)
        if self.subresource:
            text += f" with subresource {_go_quote(self.subresource)}"
        if self.operation == UPDATE:
            text += f" using {self.api_version}"
        return text

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
        }
        if self.time:
            out["time"] = self.time
        out["fieldsType"] = "FieldsV1"
        out["fieldsV1"] = encode_fields(self.fields)
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def _go_quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _decode_entries(raw: Any) -> list[_Entry] | None:
    """managedFields as entries; None when they are malformed."""
    if not isinstance(raw, list):
        return None
    entries = []
    for item in raw:
        if not isinstance(item, dict) or item.get("fieldsType", "FieldsV1") != "FieldsV1":
            return None
        fields_v1 = item.get("fieldsV1", {})
        texts = [item.get(k, "") for k in ("manager", "operation", "apiVersion", "subresource")]
        if not isinstance(fields_v1, dict) or not all(isinstance(t, str) for t in texts):
            return None
        time = item.get("time")
        entries.append(
            _Entry(
                manager=texts[0], operation=texts[1], api_version=texts[2],
                time=time if isinstance(time, str) else None, subresource=texts[3],
                fields=decode_fields(fields_v1),
            )
        )
    return entries


def _live_entries(obj: dict[str, Any] | None) -> list[_Entry]:
    raw = _metadata(obj).get("managedFields")
    return (_decode_entries(raw) or []) if raw is not None else []


def _entries_for_update(
    old: dict[str, Any] | None, new: dict[str, Any], subresource: str,
) -> list[_Entry]:
    sent = _metadata(new).get("managedFields")
    if not subresource and sent is not None:
        if sent == [{}]:  # the documented way to clear managedFields
            return []
        decoded = _decode_entries(sent)
        if decoded:
            return decoded
    return _live_entries(old)


def _find(
    entries: list[_Entry], manager: str, operation: str, subresource: str, api_version: str,
) -> _Entry | None:
    for entry in entries:
        if (entry.manager, entry.operation, entry.subresource) != (manager, operation, subresource):
            continue
        if operation == APPLY or entry.api_version == api_version:
            return entry
    return None


def _store_entries(obj: dict[str, Any], entries: list[_Entry]) -> None:
    kept = [e for e in entries if e.fields]
    # apiserver's order: Apply before Update, then oldest first, then by name.
    kept.sort(key=lambda e: (e.operation, e.time or "", e.manager, e.api_version, e.subresource))
    metadata = obj.setdefault("metadata", {})
    if kept:
        metadata["managedFields"] = [e.to_dict() for e in kept]
    else:
        metadata.pop("managedFields", None)


def _metadata(obj: dict[str, Any] | None) -> dict[str, Any]:
    md = obj.get("metadata") if isinstance(obj, dict) else None
    return md if isinstance(md, dict) else {}


# --------------------------------------------------------------------------------------
# FieldsV1
# --------------------------------------------------------------------------------------


def decode_fields(tree: dict[str, Any], prefix: Path = ()) -> set[Path]:
    """The paths a FieldsV1 tree names (`.` marks a node that is itself owned)."""
    paths: set[Path] = set()
    for key, sub in tree.items():
        if key == ".":
            if prefix:
                paths.add(prefix)
        elif isinstance(sub, dict) and sub:
            paths |= decode_fields(sub, prefix + (key,))
        else:
            paths.add(prefix + (key,))
    return paths


_ELEMENT_RANKS = {"f:": 0, "k:": 1, "v:": 2, "i:": 3}


def _element_rank(element: str) -> tuple[int, str]:
    return (_ELEMENT_RANKS.get(element[:2], -1), element)


# Encoded FieldsV1 by the exact set of paths, and the tracked fields of top-level values
# (a pod's `spec`) by schema and exact JSON. The objects one controller writes share their
# shape, and both walks are most of what a create costs.
_ENCODED: Memo[frozenset[Path], bytes] = Memo()
_TRACKED_VALUES: Memo[tuple[Any, Path, bytes], dict[Path, "_Leaf"]] = Memo()


def encode_fields(paths: Iterable[Path]) -> dict[str, Any]:
    """FieldsV1 for `paths`: `.` first, then fields, keys, values, as SMD writes them."""
    owned = frozenset(paths)
    encoded = _ENCODED.get(owned)
    if encoded is None:
        encoded = orjson.dumps(_encode_fields(owned))
        _ENCODED.put(owned, encoded)
    return orjson.loads(encoded)  # type: ignore[no-any-return]


def _encode_fields(owned: frozenset[Path]) -> dict[str, Any]:
    children: dict[Path, set[str]] = {}
    for path in owned:
        for depth in range(len(path)):
            children.setdefault(path[:depth], set()).add(path[depth])

    def build(prefix: Path) -> dict[str, Any]:
        node: dict[str, Any] = {}
        below = sorted(children.get(prefix, ()), key=_element_rank)
        if below and prefix in owned:
            node["."] = {}
        for element in below:
            node[element] = build(prefix + (element,))
        return node

    return build(())


def path_string(path: Path) -> str:
    """`.spec.containers[name="app"].image`: SMD's `Path.String()`."""
    parts = []
    for element in path:
        kind, text = element[:2], element[2:]
        if kind == "f:":
            parts.append("." + text)
        elif kind == "k:":
            key = json.loads(text)
            parts.append("[" + ",".join(f"{k}={_go_value(key[k])}" for k in sorted(key)) + "]")
        elif kind == "v:":
            parts.append(f"[={_go_value(json.loads(text))}]")
        else:
            parts.append(f"[{text}]")
    return "".join(parts)


def _go_value(value: Any) -> str:
    if isinstance(value, str):
        return _go_quote(value)
    return json.dumps(value, separators=(",", ":"))


# --------------------------------------------------------------------------------------
# Field sets of objects
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Leaf:
    """What a tracked path holds: a leaf value, or a list item that has fields below."""

    value: Any
    is_item: bool = False


def _list_semantics(schema: FieldSchema | None) -> tuple[str, tuple[str, ...]]:
    """("map", keys) | ("set", ()) | ("atomic", ())."""
    if schema is None:
        return "atomic", ()
    list_type = schema.list_type
    merge_key = schema.patch_merge_key
    if list_type == "map":
        keys = schema.list_map_keys or ((merge_key,) if merge_key else ())
        return ("map", keys) if keys else ("set", ())
    if list_type in ("set", "atomic"):
        return list_type, ()
    if (schema.patch_strategy or "").split(",")[0] == "merge":
        return ("map", (merge_key,)) if merge_key else ("set", ())
    return "atomic", ()


def _atomic_map(schema: FieldSchema | None) -> bool:
    return getattr(schema, "map_type", None) == "atomic"


def _child(schema: FieldSchema | None, name: str) -> FieldSchema | None:
    return schema.child(name) if schema is not None else None


def _items(schema: FieldSchema | None) -> FieldSchema | None:
    return schema.items() if schema is not None else None


def _item_element(item: Any, kind: str, keys: tuple[str, ...]) -> str | None:
    """The path element of a list item (`k:{...}` or `v:...`); None if it has no identity."""
    if kind == "set":
        return "v:" + json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if not isinstance(item, dict):
        return None
    key: dict[str, Any] = {}
    for name in keys:
        if name in item and item[name] is not None:
            key[name] = item[name]
        elif name == "protocol":
            key[name] = "TCP"
    if not key:
        return None
    return "k:" + json.dumps(key, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _list_elements(items: list[Any], kind: str, keys: tuple[str, ...]) -> list[str] | None:
    elements = [_item_element(item, kind, keys) for item in items]
    if any(e is None for e in elements):
        return None
    return [e for e in elements if e is not None]


def field_values(obj: Any, schema: FieldSchema | None) -> dict[Path, _Leaf]:
    """Every tracked path of `obj` with what it holds (SMD's `ToFieldSet`)."""
    out: dict[Path, _Leaf] = {}
    if type(obj) is not dict or _atomic_map(schema):
        _walk(obj, schema, (), out)
        return out
    for key, sub in obj.items():
        path = ("f:" + key,)
        if key == "metadata" or type(sub) not in (dict, list):
            _walk(sub, _child(schema, key), path, out)
            continue
        _walk_remembered(sub, _child(schema, key), path, out)
    return out


def _walk_remembered(value: Any, schema: FieldSchema | None, path: Path,
                     out: dict[Path, _Leaf]) -> None:
    """`_walk` of a top-level value, remembered by schema and exact JSON. The leaves hold
    the first equal value seen, which is only ever compared, never changed."""
    encoded = exact_json(value)
    if encoded is None:
        _walk(value, schema, path, out)
        return
    key = (schema, path, encoded)
    found = _TRACKED_VALUES.get(key)
    if found is None:
        found = {}
        _walk(value, schema, path, found)
        _TRACKED_VALUES.put(key, found)
    out.update(found)


def _walk(value: Any, schema: FieldSchema | None, path: Path, out: dict[Path, _Leaf]) -> None:
    if isinstance(value, dict):
        if path and (not value or _atomic_map(schema)):
            out[path] = _Leaf(value)
            return
        for key, sub in value.items():
            _walk(sub, _child(schema, key), path + ("f:" + key,), out)
        return
    if isinstance(value, list):
        kind, keys = _list_semantics(schema)
        elements = _list_elements(value, kind, keys) if kind != "atomic" and value else None
        if elements is None:
            out[path] = _Leaf(value)
            return
        item_schema = _items(schema)
        for element, item in zip(elements, value):
            item_path = path + (element,)
            if kind == "map":
                _walk(item, item_schema, item_path, out)
                out.setdefault(item_path, _Leaf(item, is_item=True))
            else:
                out[item_path] = _Leaf(item)
        return
    out[path] = _Leaf(value)


def _tracked(obj: dict[str, Any] | None, schema: FieldSchema | None) -> dict[Path, _Leaf]:
    if obj is None:
        return {}
    stripped = copy.copy(obj)
    md = _metadata(obj)
    if md:
        stripped["metadata"] = {k: v for k, v in md.items() if k != "managedFields"}
    values = field_values(stripped, schema)
    return {p: v for p, v in values.items() if p not in _UNTRACKED}


@dataclass
class _Change:
    added: set[Path]
    removed: set[Path]
    modified: set[Path]

    @classmethod
    def between(cls, old: dict[Path, _Leaf], new: dict[Path, _Leaf]) -> "_Change":
        modified = {
            p
            for p in old.keys() & new.keys()
            if not (old[p].is_item and new[p].is_item) and not json_equal(old[p].value, new[p].value)
        }
        return cls(set(new) - set(old), set(old) - set(new), modified)


def _conflicting_paths(
    owned: set[Path], changed: set[Path], old: dict[str, Any] | None,
) -> set[Path]:
    """Paths of `owned` that `changed` touches: exactly, or as a list owned whole."""
    hits = owned & changed
    for path in changed - owned:
        for depth in range(len(path) - 1, 0, -1):
            ancestor = path[:depth]
            if ancestor in owned and isinstance(_value_at(old, ancestor), list):
                hits.add(ancestor)
                break
    return hits


# --------------------------------------------------------------------------------------
# Navigating objects by path
# --------------------------------------------------------------------------------------


_ABSENT = object()


def _step(node: Any, element: str) -> Any:
    kind, text = element[:2], element[2:]
    if kind == "f:":
        return node.get(text, _ABSENT) if isinstance(node, dict) else _ABSENT
    if not isinstance(node, list):
        return _ABSENT
    index = _index_in(node, element)
    return node[index] if index is not None else _ABSENT


def _index_in(items: list[Any], element: str) -> int | None:
    kind, text = element[:2], element[2:]
    if kind == "i:":
        return int(text) if text.isdigit() and int(text) < len(items) else None
    wanted = json.loads(text)
    for index, item in enumerate(items):
        if kind == "v:" and json_equal(item, wanted):
            return index
        if kind == "k:" and isinstance(item, dict):
            if all(json_equal(item.get(k, "TCP" if k == "protocol" else None), v) for k, v in wanted.items()):
                return index
    return None


def _value_at(obj: Any, path: Path) -> Any:
    node = obj
    for element in path:
        node = _step(node, element)
        if node is _ABSENT:
            return _ABSENT
    return node


def _delete_at(obj: dict[str, Any], path: Path) -> bool:
    parent = _value_at(obj, path[:-1])
    element = path[-1]
    if isinstance(parent, dict) and element.startswith("f:"):
        return parent.pop(element[2:], _ABSENT) is not _ABSENT
    if isinstance(parent, list):
        index = _index_in(parent, element)
        if index is not None:
            del parent[index]
            return True
    return False


# --------------------------------------------------------------------------------------
# Apply
# --------------------------------------------------------------------------------------


def _check_applied(applied: Any, manager: str, api_version: str) -> None:
    if not isinstance(applied, dict):
        raise BadRequest("error decoding YAML: the applied configuration is not an object")
    if not manager:
        raise BadRequest("fieldManager is required for apply requests")
    metadata = applied.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BadRequest("metadata must be an object")
    if isinstance(metadata, dict) and metadata.get("managedFields") is not None:
        raise BadRequest("metadata.managedFields must be nil")
    sent_version = applied.get("apiVersion")
    if isinstance(sent_version, str) and sent_version and sent_version != api_version:
        raise BadRequest(
            "Incorrect version specified in apply patch. Specified patch version: "
            f"{sent_version}, expected: {api_version}"
        )


class _Apply:
    """One apply: merge, prune, find conflicts, then rewrite the entries."""

    def __init__(
        self, live: dict[str, Any] | None, applied: dict[str, Any], manager: str,
        force: bool, schema: FieldSchema | None, api_version: str, now: str,
    ) -> None:
        self.live = live
        self.applied = applied
        self.manager = manager
        self.force = force
        self.schema = schema
        self.api_version = api_version
        self.now = now
        self.gvk = f"{api_version}, Kind={applied.get('kind', '')}"
        if "/" not in api_version:
            self.gvk = "/" + self.gvk

    def run(self) -> dict[str, Any]:
        live_obj = json_copy(self.live) if self.live is not None else {}
        _metadata(live_obj).pop("managedFields", None)
        entries = self._entries(live_obj)
        self._check_shape(self.applied, self.schema, "")
        applied_set = set(_tracked(self.applied, self.schema))
        merged = _merge(live_obj, self.applied, self.schema)
        if not isinstance(merged, dict):  # the root of `applied` is always an object
            raise BadRequest("the applied configuration is not an object")
        mine = _find(entries, self.manager, APPLY, "", self.api_version)
        others = [e for e in entries if e is not mine]
        kept = set(applied_set).union(*(e.fields for e in others))
        if mine is not None:
            _prune(merged, mine.fields - applied_set, kept)
        change = _Change.between(_tracked(live_obj, self.schema), _tracked(merged, self.schema))
        self._settle_conflicts(others, change, live_obj)
        for entry in others:
            entry.fields -= change.removed
        if mine is None:
            mine = _Entry(self.manager, APPLY, self.api_version, None, "", set())
            entries.append(mine)
        object_changed = not json_equal(merged, live_obj)
        if object_changed or mine.time is None or mine.fields != applied_set:
            mine.time = self.now
        mine.fields = applied_set
        mine.api_version = self.api_version
        _store_entries(merged, entries)
        return merged

    def _entries(self, live_obj: dict[str, Any]) -> list[_Entry]:
        entries = _live_entries(self.live)
        if self.live is not None and not entries:
            owned = set(_tracked(live_obj, self.schema))
            if owned:
                entries = [_Entry(BEFORE_FIRST_APPLY, UPDATE, self.api_version, self.now, "", owned)]
        return entries

    def _settle_conflicts(
        self, others: list[_Entry], change: _Change, live_obj: dict[str, Any],
    ) -> None:
        touched = change.added | change.modified
        found = [(entry, path) for entry in others for path in _conflicting_paths(entry.fields, touched, live_obj)]
        if not found:
            return
        if not self.force:
            raise _conflict_error(found)
        for entry, path in found:
            entry.fields.discard(path)

    def _check_shape(self, value: Any, schema: FieldSchema | None, where: str) -> None:
        """Reject structure the schema forbids (SMD's typed conversion of the patch)."""
        declared = getattr(schema, "type", None) if schema is not None else None
        if declared == "array" and not isinstance(value, list) and value is not None:
            self._typed_error(where, f"expected list, got {_kind_name(value)}")
        if declared == "object" and isinstance(value, list):
            self._typed_error(where, "expected map, got list")
        if isinstance(value, dict):
            for key, sub in value.items():
                self._check_shape(sub, _child(schema, key), f"{where}.{key}")
        elif isinstance(value, list):
            kind, keys = _list_semantics(schema)
            item_schema = _items(schema)
            seen: set[str] = set()
            for item in value:
                element = _item_element(item, kind, keys) if kind != "atomic" else None
                if element is not None:
                    if element in seen:
                        self._typed_error(where, f"duplicate entries for key {path_string((element,))}")
                    seen.add(element)
                self._check_shape(item, item_schema, where + (path_string((element,)) if element else "[]"))

    def _typed_error(self, where: str, detail: str) -> None:
        raise BadRequest(f"failed to create typed patch object ({self.gvk}): {where or '.'}: {detail}")


def _kind_name(value: Any) -> str:
    if isinstance(value, dict):
        return "map"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "string"


def _conflict_error(found: list[tuple[_Entry, Path]]) -> Conflict:
    found = sorted(found, key=lambda hit: (hit[0].identifier(), _sort_path(hit[1])))
    causes = [
        Cause("FieldManagerConflict", f"conflict with {entry.described()}", path_string(path))
        for entry, path in found
    ]
    if len(found) == 1:
        entry, path = found[0]
        message = f"Apply failed with 1 conflict: conflict with {entry.described()}: {path_string(path)}"
    else:
        lines: list[str] = []
        current: str | None = None
        for entry, path in found:
            if entry.identifier() != current:
                current = entry.identifier()
                lines.append(f"conflicts with {entry.described()}:")
            lines.append(f"- {path_string(path)}")
        message = f"Apply failed with {len(found)} conflicts: " + "\n".join(lines)
    return Conflict(message, causes=causes)


def _sort_path(path: Path) -> tuple[tuple[int, str], ...]:
    return tuple(_element_rank(element) for element in path)


def _merge(live: Any, applied: Any, schema: FieldSchema | None) -> Any:
    """SMD's merge of an applied configuration over the live value."""
    if isinstance(applied, dict):
        if not isinstance(live, dict) or _atomic_map(schema):
            live = {}
        out = dict(live)
        for key, value in applied.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = _merge(live.get(key), value, _child(schema, key))
        return out
    if isinstance(applied, list):
        kind, keys = _list_semantics(schema)
        item_schema = _items(schema)
        fresh = [_merge(None, item, item_schema) for item in applied]
        if kind == "atomic" or not isinstance(live, list):
            return fresh
        return _merge_list(live, applied, kind, keys, item_schema) or fresh
    return json_copy(applied)


def _merge_list(
    live: list[Any], applied: list[Any], kind: str, keys: tuple[str, ...], item_schema: FieldSchema | None,
) -> list[Any] | None:
    """Associative merge keeping live order, as SMD's `visitListItems`; None if unkeyable."""
    live_elements = _list_elements(live, kind, keys)
    applied_elements = _list_elements(applied, kind, keys)
    if live_elements is None or applied_elements is None:
        return None
    live_by: dict[str, Any] = {}
    for element, item in zip(live_elements, live):
        live_by.setdefault(element, item)
    applied_by = dict(zip(applied_elements, applied))
    shared = iter([e for e in applied_elements if e in live_by])
    next_shared = next(shared, None)
    done: set[str] = set()
    out: list[Any] = []

    def take(element: str) -> None:
        done.add(element)
        out.append(_merge(live_by.get(element), applied_by[element], item_schema))

    i = j = 0
    while i < len(live) or j < len(applied):
        if i < len(live) and j < len(applied):
            element = live_elements[i]
            if element == applied_elements[j]:
                take(element)
                i, j = i + 1, j + 1
                next_shared = next(shared, None)
                continue
            if element in applied_by and next_shared is not None and next_shared != element:
                i += 1  # a shared item the applied list places later
                continue
        if i < len(live):
            element = live_elements[i]
            if element not in applied_by:
                out.append(live[i])
                i += 1
                continue
            if element in done:
                i += 1
                continue
        if j < len(applied):
            element = applied_elements[j]
            take(element)
            j += 1
            if next_shared == element:
                next_shared = next(shared, None)
    return out


def _prune(obj: dict[str, Any], dropped: set[Path], kept: set[Path]) -> None:
    """Remove `dropped` paths nobody keeps, and the containers that removal empties."""
    # Shallow first: a dropped item goes whole, before its key fields could be stripped.
    for path in sorted(dropped, key=len):
        if any(k[: len(path)] == path for k in kept) or _is_key_of_kept_item(path):
            continue
        if not _delete_at(obj, path):
            continue
        for depth in range(len(path) - 1, 0, -1):
            parent = path[:depth]
            value = _value_at(obj, parent)
            if value or not isinstance(value, (dict, list)) or parent in kept:
                break
            _delete_at(obj, parent)


def _is_key_of_kept_item(path: Path) -> bool:
    """A list-map item's key field, which must stay while the item does."""
    if len(path) < 2 or not path[-2].startswith("k:") or not path[-1].startswith("f:"):
        return False
    key = json.loads(path[-2][2:])
    return isinstance(key, dict) and path[-1][2:] in key


__all__ = [
    "BEFORE_FIRST_APPLY",
    "decode_fields",
    "encode_fields",
    "field_values",
    "path_string",
    "record_update",
    "server_side_apply",
]
