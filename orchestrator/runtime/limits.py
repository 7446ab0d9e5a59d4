"""Memory and CPU limits: cgroup v2 where this process may write it, else rlimits.

- cgroup v2 (`/sys/fs/cgroup` is cgroup2 with the memory controller, and writable): one cgroup
  per container instance under `daskhub-lite/`, with `memory.max` and `cpu.max`; the shim joins
  it before starting the command, so every descendant is accounted. An OOM kill shows up in
  `memory.events` and is reported as `OOMKilled`.
- otherwise rlimits in the child: `RLIMIT_DATA` = the memory limit (the heap and private
  mappings; a program over it sees allocation failures, e.g. Python's MemoryError, rather than
  an OOM kill). CPU limits cannot be enforced by rlimits and are only recorded.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from orchestrator.api.quantity import QuantityError, parse_quantity

log = logging.getLogger(__name__)
CGROUP_ROOT = Path("/sys/fs/cgroup")
_PERIOD = 100_000


@dataclass
class Limits:
    memory_bytes: int | None = None
    cpu_millis: int | None = None


@dataclass
class Enforcement:
    mode: str  # "cgroup-v2" | "rlimits" | "none"
    cgroup: str | None = None
    rlimits: dict[str, int] = field(default_factory=dict)
    note: str = ""


def container_limits(container: Mapping[str, Any]) -> Limits:
    limits = ((container.get("resources") or {}).get("limits")) or {}
    out = Limits()
    try:
        if "memory" in limits:
            out.memory_bytes = int(parse_quantity(limits["memory"]))
        if "cpu" in limits:
            out.cpu_millis = int(parse_quantity(limits["cpu"]) * 1000)
    except QuantityError:
        pass  # validation rejects these on the way in; nothing to enforce
    return out


@functools.lru_cache(maxsize=1)
def cgroup_v2_parent() -> Path | None:
    """Our parent cgroup when cgroup v2 is usable, else None (decided once per process)."""
    controllers = CGROUP_ROOT / "cgroup.controllers"
    try:
        if "memory" not in controllers.read_text().split():
            return None
        parent = CGROUP_ROOT / "daskhub-lite"
        parent.mkdir(exist_ok=True)
        (CGROUP_ROOT / "cgroup.subtree_control").write_text("+memory +cpu")
        (parent / "cgroup.subtree_control").write_text("+memory +cpu")
        return parent
    except OSError as exc:
        log.info("cgroup v2 not usable (%s): limits fall back to rlimits", exc)
        return None


def enforce(limits: Limits, name: str) -> Enforcement:
    """How to apply `limits` to a new container instance called `name` (unique per start)."""
    if limits.memory_bytes is None and limits.cpu_millis is None:
        return Enforcement("none")
    parent = cgroup_v2_parent()
    if parent is not None:
        group = parent / name
        try:
            group.mkdir(exist_ok=True)
            if limits.memory_bytes is not None:
                (group / "memory.max").write_text(str(limits.memory_bytes))
                if (group / "memory.swap.max").exists():  # no swapping around the limit
                    (group / "memory.swap.max").write_text("0")
            if limits.cpu_millis is not None:
                quota = max(1000, limits.cpu_millis * _PERIOD // 1000)
                (group / "cpu.max").write_text(f"{quota} {_PERIOD}")
            return Enforcement("cgroup-v2", cgroup=str(group),
                               note="memory and CPU limits enforced with cgroup v2")
        except OSError as exc:
            log.info("cgroup %s not writable (%s): using rlimits", group, exc)
    rlimits = {}
    if limits.memory_bytes is not None:
        rlimits["RLIMIT_DATA"] = limits.memory_bytes
    note = "memory limit enforced with RLIMIT_DATA (no writable cgroup v2)"
    if limits.cpu_millis is not None:
        note += "; CPU limit not enforced (needs cgroup v2)"
    return Enforcement("rlimits", rlimits=rlimits, note=note)


def oom_killed(enforcement: Enforcement) -> bool:
    if not enforcement.cgroup:
        return False
    try:
        for line in (Path(enforcement.cgroup) / "memory.events").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and int(value) > 0:
                return True
    except OSError:
        pass
    return False


def release(enforcement: Enforcement) -> None:
    if enforcement.cgroup:
        try:
            os.rmdir(enforcement.cgroup)
        except OSError:
            pass  # still has processes, or already gone
