"""Local ephemeral storage limits, enforced as kubelet's eviction manager enforces them.

A pod's ephemeral storage is what it writes under its folder: its containers' logs (each
container's own), its emptyDir volumes (disk-backed ones) and its working folder (the
writable layer's stand-in). Checked every `DASKHUB_LITE_EVICTION_SECONDS` (kubelet's
evictionMonitoringPeriod, 10 s), in kubelet's order: an emptyDir over its `sizeLimit`,
then the pod over the sum of its containers' `limits.ephemeral-storage`, then one container
over its own limit. The pod is then killed at once and marked Failed, reason `Evicted`,
with kubelet's messages. `decide` is pure; `measure` reads the disk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Mapping

from orchestrator.api.quantity import (
    BINARY_SI,
    QuantityError,
    format_quantity,
    parse_quantity_with_format,
)

RESOURCE = "ephemeral-storage"
EMPTY_DIR_MESSAGE = 'Usage of EmptyDir volume "{name}" exceeds the limit "{limit}". '
POD_MESSAGE = "Pod ephemeral local storage usage exceeds the total limit of containers {limit}. "
CONTAINER_MESSAGE = 'Container {name} exceeded its local ephemeral storage limit "{limit}". '


@dataclass
class Usage:
    """Bytes in use: per container (its logs), per disk-backed emptyDir, and the rest."""

    containers: dict[str, int] = field(default_factory=dict)
    empty_dirs: dict[str, int] = field(default_factory=dict)
    other: int = 0

    @property
    def total(self) -> int:
        return sum(self.containers.values()) + sum(self.empty_dirs.values()) + self.other


def _quantity(text: Any) -> tuple[Decimal, str] | None:
    try:
        return parse_quantity_with_format(text)
    except QuantityError:
        return None


def _render(value: Decimal, fmt: str) -> str:
    return format_quantity(value, binary=fmt == BINARY_SI)


def _limit(container: Mapping[str, Any]) -> tuple[Decimal, str] | None:
    limits = (container.get("resources") or {}).get("limits") or {}
    return _quantity(limits[RESOURCE]) if RESOURCE in limits else None


def disk_empty_dirs(pod: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The pod's emptyDir volumes on disk (medium Memory ones are not ephemeral storage)."""
    out: dict[str, Mapping[str, Any]] = {}
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        source = volume.get("emptyDir")
        if isinstance(source, dict) and source.get("medium") != "Memory":
            out[str(volume.get("name"))] = source
    return out


def decide(pod: Mapping[str, Any], usage: Usage) -> str | None:
    """Kubelet's eviction message for this usage, or None while within every limit."""
    for name, source in disk_empty_dirs(pod).items():
        size_limit = _quantity(source["sizeLimit"]) if source.get("sizeLimit") else None
        if size_limit is not None and usage.empty_dirs.get(name, 0) > size_limit[0]:
            return EMPTY_DIR_MESSAGE.format(name=name, limit=_render(*size_limit))
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or [])
    limits = [q for q in (_limit(c) for c in containers) if q is not None]
    if limits:
        # As PodLimits: the containers' sum, or the largest init container's if larger.
        total = sum((q[0] for q in limits), Decimal(0))
        fmt = limits[0][1]
        for init in spec.get("initContainers") or []:
            q = _limit(init)
            if q is not None and q[0] > total:
                total, fmt = q
        if usage.total > total:
            return POD_MESSAGE.format(limit=_render(total, fmt))
    for container in containers:
        q = _limit(container)
        name = str(container.get("name"))
        if q is not None and usage.containers.get(name, 0) > q[0]:
            return CONTAINER_MESSAGE.format(name=name, limit=_render(*q))
    return None


def du(path: Path) -> int:
    """Bytes a folder takes on disk (allocated blocks, as du counts; symlinks not
    followed)."""
    total = 0
    for root, _dirs, files in os.walk(path, followlinks=False):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue  # gone since the walk listed it
    return total


def measure(pod: Mapping[str, Any], folder: Path) -> Usage:
    names = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or []]
    inits = [str(c.get("name")) for c in (pod.get("spec") or {}).get("initContainers") or []]
    usage = Usage()
    for name in names:
        usage.containers[name] = du(folder / "logs" / name)
    usage.other = sum(du(folder / "logs" / name) for name in inits) + du(folder / "workdir")
    for name in disk_empty_dirs(pod):
        usage.empty_dirs[name] = du(folder / "volumes" / "empty-dir" / name)
    return usage


def has_limits(pod: Mapping[str, Any]) -> bool:
    """Whether anything in the pod can be evicted for its storage (else: not measured)."""
    spec = pod.get("spec") or {}
    return any(_limit(c) is not None for c in (spec.get("containers") or [])) or any(
        s.get("sizeLimit") for s in disk_empty_dirs(pod).values())


def mark_evicted(status: dict[str, Any], message: str, now: str) -> None:
    """The status kubelet posts for an evicted pod: Failed, reason Evicted, a
    DisruptionTarget condition (TerminationByKubelet), not ready."""
    status.update(phase="Failed", reason="Evicted", message=message)
    conditions = list(status.get("conditions") or [])
    if not any(c.get("type") == "DisruptionTarget" for c in conditions):
        conditions.append({"type": "DisruptionTarget", "status": "True",
                           "reason": "TerminationByKubelet", "message": message,
                           "lastProbeTime": None, "lastTransitionTime": now})
    for c in conditions:
        if c.get("type") in ("Ready", "ContainersReady") and c.get("status") != "False":
            c.update(status="False", reason="PodFailed", lastTransitionTime=now)
            c.pop("message", None)
    status["conditions"] = conditions
