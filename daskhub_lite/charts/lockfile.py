"""Chart.lock: the exact dependency versions `dependency update` chose, and the digest that
ties them to Chart.yaml.

Helm's digest is sha256 over the JSON (Go's encoding) of `[requested, locked]`, so a lock
written here passes `helm dependency build`'s "out of sync" check and one written by Helm
passes ours. Go's encoder keeps struct field order, leaves empty optional fields out, sorts
map keys and escapes `<`, `>`, `&` (constraints such as `>=1.0` hash with `\\u003e`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ChartError

# chart.Dependency's JSON fields in declaration order; only name and repository are always
# written.
_FIELDS = ("name", "version", "repository", "condition", "tags", "enabled", "import-values",
           "alias")
_ALWAYS = {"name", "repository"}
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
               "\u2029": "\\u2029"}


def _go_json(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in _GO_ESCAPES.items():
        text = text.replace(char, escaped)
    return text


def _dependency_json(dep: dict[str, Any]) -> str:
    parts = []
    for field in _FIELDS:
        value = dep.get(field)
        if field not in _ALWAYS and not value:
            continue
        if field in _ALWAYS and value is None:
            value = ""
        parts.append(f"{_go_json(field)}:{_go_json(value)}")
    return "{" + ",".join(parts) + "}"


def digest(requested: list[dict[str, Any]], locked: list[dict[str, Any]]) -> str:
    """Helm's `HashReq`: `requested` as in Chart.yaml (repository aliases resolved to URLs),
    `locked` as in Chart.lock."""
    body = "[" + ",".join("[" + ",".join(_dependency_json(d) for d in deps) + "]"
                          for deps in (requested, locked)) + "]"
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class Lock:
    dependencies: list[dict[str, str]]  # name, repository, version
    digest: str
    generated: str = ""


def path_of(chart_dir: Path) -> Path:
    return chart_dir / "Chart.lock"


def read(chart_dir: Path) -> Lock | None:
    path = path_of(chart_dir)
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ChartError(f"{path} is not valid YAML: {err}") from err
    if not isinstance(data, dict) or not isinstance(data.get("dependencies") or [], list):
        raise ChartError(f"{path} is not a lock file (no 'dependencies' list)")
    deps = [{"name": str(d.get("name", "")), "repository": str(d.get("repository") or ""),
             "version": str(d.get("version") or "")}
            for d in data.get("dependencies") or [] if isinstance(d, dict)]
    return Lock(deps, str(data.get("digest") or ""), str(data.get("generated") or ""))


def write(chart_dir: Path, lock: Lock) -> None:
    """As Helm writes it: keys sorted, `generated` a quoted RFC 3339 time."""
    generated = lock.generated or dt.datetime.now(dt.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")
    body = yaml.safe_dump({"dependencies": [dict(sorted(d.items())) for d in lock.dependencies],
                           "digest": lock.digest}, sort_keys=True)
    path = path_of(chart_dir)
    tmp = path.with_name(".Chart.lock.tmp")
    tmp.write_text(f"{body}generated: {json.dumps(generated)}\n")
    tmp.replace(path)
