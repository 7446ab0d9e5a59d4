"""The store's start-up check: a damaged `state.db` is refused, never served.

Two layers, both run before anything is served: SQLite's `PRAGMA quick_check` (the file's
b-trees and pages: overwritten or truncated pages), then every row must decode to an
object whose metadata.name is its key's (overwritten bytes inside a row that still
parse as a page would otherwise be served as objects without `metadata`). The revision
counter must not be behind any object's revision, or new writes would reuse revisions.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any


class StoreCorrupt(RuntimeError):
    """The database file is damaged; the message names it and says what to do."""

    def __init__(self, path: Path | None, detail: str) -> None:
        name = str(path) if path is not None else "the in-memory store"
        super().__init__(
            f"{name} is damaged ({detail}); the control plane will not start on it. "
            f"Restore it from a backup, or move it and its -wal/-shm files aside to start "
            f"an empty cluster")
        self.path = path


def quick_check(db: sqlite3.Connection, path: Path | None) -> None:
    try:
        rows = db.execute("PRAGMA quick_check(5)").fetchall()
    except sqlite3.DatabaseError as exc:
        raise StoreCorrupt(path, str(exc)) from exc
    # One problem per line, after a "*** in database main ***" heading: one line of text.
    problems = [line.strip() for r in rows if r and r[0] != "ok"
                for line in str(r[0]).splitlines()
                if line.strip() and not line.startswith("*** in database")]
    if problems:
        raise StoreCorrupt(path, "; ".join(problems))


def decode_object(path: Path | None, resource: str, namespace: str, name: str,
                  data: str) -> dict[str, Any]:
    """The stored object, or StoreCorrupt naming the row."""
    where = f"{resource} {namespace + '/' if namespace else ''}{name}"
    try:
        obj = json.loads(data)
    except ValueError as exc:
        raise StoreCorrupt(path, f"object {where} is not valid JSON: {exc}") from exc
    md = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(md, dict):
        raise StoreCorrupt(path, f"object {where} has no metadata")
    if md.get("name") != name:
        raise StoreCorrupt(path, f"object {where} names itself {md.get('name')!r}")
    result: dict[str, Any] = obj
    return result


def check_event(path: Path | None, revision: int, data: str, prev: str | None) -> None:
    for label, text in (("object", data), ("previous object", prev)):
        if text is None:
            continue
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise StoreCorrupt(path, f"the {label} of change {revision} in the watch "
                               f"history is not valid JSON: {exc}") from exc
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
            raise StoreCorrupt(path, f"the {label} of change {revision} in the watch "
                               "history has no metadata")
