"""Worker profiles: named bundles of cores, memory and GPUs per worker.

Built-in profiles are below; users add or override them in dask config under
`daskhub-lite.profiles`, e.g. in `~/.config/dask/daskhub-lite.yaml`:

    daskhub-lite:
      profiles:
        gpu-big: {cores: 8, memory: 64Gi, gpus: 2}

Pure: no I/O beyond reading dask config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import dask.config

CONFIG_KEY = "daskhub-lite.profiles"
DEFAULT_PROFILE = "cpu-small"

BUILTIN: dict[str, dict[str, Any]] = {
    # Requests are kept below limits so a laptop posing as a cluster can hold several workers.
    "cpu-small": {"cores": 1, "memory": "2Gi", "gpus": 0,
                  "requests": {"cpu": "100m", "memory": "256Mi"}},
    "cpu-large": {"cores": 4, "memory": "16Gi", "gpus": 0,
                  "requests": {"cpu": "1", "memory": "4Gi"}},
    "gpu": {"cores": 4, "memory": "16Gi", "gpus": 1,
            "requests": {"cpu": "1", "memory": "4Gi"}},
}

_MEMORY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_FIELDS = {"cores", "memory", "gpus", "requests", "image", "env", "description"}


class ProfileError(ValueError):
    """A profile that does not exist or cannot be used; the message says what to do."""


@dataclass(frozen=True)
class Profile:
    name: str
    cores: float = 1
    memory: str = "2Gi"
    gpus: int = 0
    requests: Mapping[str, str] = field(default_factory=dict)
    image: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    description: str = ""

    def with_overrides(self, *, cores: float | None = None, memory: str | None = None,
                       gpus: int | None = None) -> "Profile":
        out = self
        if cores is not None:
            out = replace(out, cores=cores)
        if memory is not None:
            out = replace(out, memory=memory)
        if gpus is not None:
            out = replace(out, gpus=gpus)
        validate(out)
        return out


def available() -> dict[str, dict[str, Any]]:
    """Every profile by name: built-ins, then dask config's (which win)."""
    out = {name: dict(body) for name, body in BUILTIN.items()}
    user = dask.config.get(CONFIG_KEY, default=None) or {}
    if not isinstance(user, Mapping):
        raise ProfileError(f"dask config {CONFIG_KEY} must be a mapping of name -> profile")
    for name, body in user.items():
        out[str(name)] = {**out.get(str(name), {}), **dict(body or {})}
    return out


def get(name: str | None = None) -> Profile:
    """The named profile (default `cpu-small`), validated."""
    name = name or DEFAULT_PROFILE
    profiles = available()
    if name not in profiles:
        raise ProfileError(f"profile {name!r} does not exist; choose one of "
                           f"{', '.join(sorted(profiles))} or define it in dask config "
                           f"{CONFIG_KEY}")
    body = profiles[name]
    unknown = set(body) - _FIELDS
    if unknown:
        raise ProfileError(f"profile {name!r} has unknown fields {sorted(unknown)}; "
                           f"known: {sorted(_FIELDS)}")
    profile = Profile(name=name, **body)
    validate(profile)
    return profile


def validate(profile: Profile) -> None:
    where = f"profile {profile.name!r}"
    if not isinstance(profile.cores, (int, float)) or profile.cores <= 0:
        raise ProfileError(f"{where}: cores must be a positive number, got {profile.cores!r}")
    if not _MEMORY.match(str(profile.memory)):
        raise ProfileError(f"{where}: memory must be a quantity like 4Gi, got "
                           f"{profile.memory!r}")
    if not isinstance(profile.gpus, int) or isinstance(profile.gpus, bool) or profile.gpus < 0:
        raise ProfileError(f"{where}: gpus must be a whole number >= 0, got {profile.gpus!r}")


def nthreads(profile: Profile) -> int:
    """Dask threads per worker: one per whole core, at least one."""
    return max(1, int(profile.cores))
