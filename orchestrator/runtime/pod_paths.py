"""Paths that a pod's spec names, kept inside the folders they belong to.

Volume names, ConfigMap and Secret keys, item paths, sub-paths and claim names all become
paths under a pod's folder (or its namespace's claims). The API refuses the ones that would
climb out (api/validation_volumes.py), but the API is not the only writer of the store (a
direct write, an older version's objects, a restored backup), and a container can plant
symbolic links in its own volumes. So before anything is created, written or mounted there,
the runtime checks the path twice: lexically (no absolute part, no `..`) and resolved (after
following every symbolic link that exists, it must still lie inside its base).

Not covered: a container swapping a path component for a link between this check and the
write or mount (kubelet closes that race with `openat` walks; we keep the window small).
"""

from __future__ import annotations

import os
from pathlib import Path


class PathEscape(ValueError):
    """A name or path from a pod's spec would leave the folder it must stay in."""


def single_name(name: str, what: str) -> str:
    """`name` if it is one path element (a folder or file name), else PathEscape."""
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise PathEscape(f"{what} {name!r} is not a single file name")
    return name


def relative_parts(path: str, what: str) -> list[str]:
    """The elements of a relative, descending path (`a/b/c`; `.` gives none), else
    PathEscape."""
    if "\0" in path:
        raise PathEscape(f"{what} {path!r} contains a NUL byte")
    if path.startswith("/"):
        raise PathEscape(f"{what} {path!r} must be a relative path")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise PathEscape(f"{what} {path!r} must not contain '..'")
    return parts


def is_inside(base: str, target: str) -> bool:
    """Whether `target` is `base` or below it (both absolute and normalised)."""
    return os.path.commonpath([base, target]) == base


def inside(base: Path, *parts: str) -> Path:
    """`base / parts`, checked to stay inside `base` both as written and once every symbolic
    link along it is followed. Returns the path as written (under `base`)."""
    target = base.joinpath(*parts)
    if not is_inside(os.path.normpath(os.path.abspath(base)),
                     os.path.normpath(os.path.abspath(target))):
        raise PathEscape(f"{'/'.join(parts)!r} leaves {base}")
    real_base, real = os.path.realpath(base), os.path.realpath(target)
    if not is_inside(real_base, real):
        raise PathEscape(f"{'/'.join(parts)!r} resolves to {real} through a symbolic link, "
                         f"outside {real_base}")
    return target


__all__ = ["PathEscape", "inside", "is_inside", "relative_parts", "single_name"]
