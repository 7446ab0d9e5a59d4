"""Reading a raw pod spec for the checks, and the phrasing their messages share.

The checks see admitted objects (schema-validated), but they also run over stored pods when
a namespace is labelled and in unit tests, so every read here tolerates a missing or
mistyped field as "unset".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator, Mapping


@dataclass(frozen=True)
class CheckResult:
    """Why a check forbids a pod: a short `reason` ("host namespaces") and an optional
    `detail` ("hostNetwork=true") shown when one object is checked."""

    reason: str
    detail: str = ""


def obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def containers(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Init containers, containers, then ephemeral containers: the order names appear in
    messages."""
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in items(spec.get(key)):
            if isinstance(container, dict):
                yield container


def name_of(container: Mapping[str, Any]) -> str:
    return str(container.get("name", ""))


def security_context(holder: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """A pod's or container's securityContext, None when unset."""
    sc = holder.get("securityContext")
    return sc if isinstance(sc, dict) else None


def field_of(holder: Mapping[str, Any], *path: str) -> Any:
    """`securityContext.<path...>` of a pod spec or container; None when any step is unset."""
    cur: Any = security_context(holder)
    for key in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(key)
    return cur


def is_windows(spec: Mapping[str, Any]) -> bool:
    return obj(spec.get("os")).get("name") == "windows"


def in_user_namespace(spec: Mapping[str, Any]) -> bool:
    """`hostUsers: false`: the pod's users are mapped, so root inside is not root outside."""
    return spec.get("hostUsers") is False


def join_quote(values: list[str]) -> str:
    return ", ".join(f'"{v}"' for v in values)


def go_quote(value: str) -> str:
    """A string as Go's %q writes it (for annotation values in messages)."""
    return json.dumps(value, ensure_ascii=False)


def plural(singular: str, plural_form: str, count: int) -> str:
    return singular if count == 1 else plural_form


def containers_phrase(names: list[str]) -> str:
    """`container "a"` / `containers "a", "b"`."""
    return f'{plural("container", "containers", len(names))} {join_quote(names)}'
