"""Building blocks shared by the table printers: column definitions and forgiving accessors.

Printers read raw, possibly malformed, stored objects; every accessor here returns a default
instead of raising, so a strange object prints oddly rather than failing the whole list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orchestrator.api.durations import parse_timestamp

NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name automatically. "
    "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
    "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
CREATED_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. "
    "It is not guaranteed to be set in happens-before order across separate operations. Clients "
    "may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the "
    "system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)
CONTAINERS_DESCRIPTION = "Names of each container in the template."
IMAGES_DESCRIPTION = "Images referenced by each container in the template."

Cells = list[Any]
Condition = dict[str, str]


def column(name: str, type_: str = "string", *, priority: int = 0, format_: str = "",
           description: str = "") -> dict[str, Any]:
    """A meta.k8s.io/v1 TableColumnDefinition (every key is always present on the wire)."""
    return {"name": name, "type": type_, "format": format_, "description": description,
            "priority": priority}


def name_column() -> dict[str, Any]:
    return column("Name", format_="name", description=NAME_DESCRIPTION)


def age_column() -> dict[str, Any]:
    return column("Age", description=CREATED_DESCRIPTION)


@dataclass(frozen=True)
class Printer:
    """Columns for a kind and the function computing one object's cells (all of them, wide
    columns included, as kube-apiserver always prints wide)."""

    columns: list[dict[str, Any]]
    cells: Callable[[Mapping[str, Any], datetime], Cells]
    conditions: Callable[[Mapping[str, Any]], list[Condition]] = field(default=lambda obj: [])


# --- forgiving accessors -----------------------------------------------------------------------


def get(obj: Any, *path: str | int) -> Any:
    """The value at `path`, or None where any step is missing or of the wrong type."""
    node = obj
    for step in path:
        if isinstance(step, int):
            node = node[step] if isinstance(node, list) and -len(node) <= step < len(node) else None
        else:
            node = node.get(step) if isinstance(node, Mapping) else None
        if node is None:
            return None
    return node


def text(obj: Any, *path: str | int) -> str:
    value = get(obj, *path)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else ("" if value is None else str(value))


def integer(obj: Any, *path: str | int, default: int = 0) -> int:
    value = get(obj, *path)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return int(value)


def flag(obj: Any, *path: str | int) -> bool:
    return get(obj, *path) is True


def mapping(obj: Any, *path: str | int) -> Mapping[str, Any]:
    value = get(obj, *path)
    return value if isinstance(value, Mapping) else {}


def items(obj: Any, *path: str | int) -> list[Mapping[str, Any]]:
    """The list at `path`, keeping only its object entries."""
    value = get(obj, *path)
    return [entry for entry in value if isinstance(entry, Mapping)] if isinstance(value, list) else []


def strings(obj: Any, *path: str | int) -> list[str]:
    value = get(obj, *path)
    return [entry for entry in value if isinstance(entry, str)] if isinstance(value, list) else []


def name_of(obj: Mapping[str, Any]) -> str:
    return text(obj, "metadata", "name")


def created(obj: Mapping[str, Any]) -> Any:
    return get(obj, "metadata", "creationTimestamp")


def is_deleting(obj: Mapping[str, Any]) -> bool:
    return get(obj, "metadata", "deletionTimestamp") is not None


def latest(current: datetime | None, candidate: Any) -> datetime | None:
    moment = parse_timestamp(candidate)
    if moment is None:
        return current
    return moment if current is None or moment > current else current


def containers_and_images(containers: list[Mapping[str, Any]]) -> tuple[str, str]:
    """layoutContainerCells: container names and images, each comma-joined."""
    return (",".join(text(c, "name") for c in containers), ",".join(text(c, "image") for c in containers))


def int_or_string(value: Any) -> str:
    """An IntOrString field as Go's IntOrString.String() prints it."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(int(value))
    return value if isinstance(value, str) else ""


def list_with_more(values: list[str], total: int, limit: int, *, empty: str = "<unset>") -> str:
    """Show at most `limit` entries, then "+ N more...", as kube's list columns do."""
    shown = ",".join(values[:limit])
    if total > limit:
        return f"{shown} + {total - limit} more..."
    return shown or empty
