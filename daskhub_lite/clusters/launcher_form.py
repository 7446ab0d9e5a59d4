"""Checking a launch request before anything is created (pure; the widget shows the result)."""

from __future__ import annotations

from dataclasses import dataclass

from daskhub_lite.clusters import profiles
from daskhub_lite.clusters.spec import _MEMORY_RE


@dataclass(frozen=True)
class Request:
    profile: str
    workers: int
    cores: float
    memory: str
    gpus: int


def problems(req: Request, max_gpus: int | None) -> list[str]:
    """What is wrong with `req`, in words a person can act on; empty when it may launch.
    `max_gpus`: the most GPUs any node has (None: unknown, not checked)."""
    out = []
    try:
        profiles.get(req.profile)
    except profiles.ProfileError as exc:
        out.append(str(exc))
    if req.workers < 0:
        out.append(f"Workers must be 0 or more (got {req.workers}).")
    if req.cores <= 0:
        out.append(f"Cores per worker must be more than 0 (got {req.cores:g}).")
    if not _MEMORY_RE.match(req.memory.strip()):
        out.append(f"Memory per worker must look like 4Gi or 512Mi (got {req.memory!r}).")
    if req.gpus < 0:
        out.append(f"GPUs per worker must be 0 or more (got {req.gpus}).")
    elif req.gpus and max_gpus is not None and req.gpus > max_gpus:
        out.append(f"{req.gpus} GPU(s) per worker: no node has that many "
                   f"(the most on any node is {max_gpus}).")
    return out


def defaults_for(profile_name: str) -> Request:
    p = profiles.get(profile_name)
    return Request(profile=p.name, workers=2, cores=float(p.cores), memory=str(p.memory),
                   gpus=p.gpus)
