"""Kubernetes quantities in the scheduler's single unit: integer milli-units.

cpu in millicores, memory in milli-bytes, GPUs in milli-GPUs. One unit for everything keeps
arithmetic exact and lets "half a MIG slice" (500 milli) be detected rather than rounded away.
Parsing is `orchestrator.api.quantity`'s; the cache matters because a trace repeats the same
few quantity strings thousands of times.
"""

from __future__ import annotations

from functools import lru_cache

from orchestrator.api.quantity import to_milli


@lru_cache(maxsize=4096)
def _milli_of_text(text: str) -> int:
    return to_milli(text)


def milli(quantity: str | int | float) -> int:
    """A quantity (`500m`, `2Gi`, `4`) in milli-units; ValueError if it is not one."""
    if isinstance(quantity, str):
        return _milli_of_text(quantity)
    return to_milli(quantity)


def format_milli(resource: str, amount: int) -> str:
    """Milli-units back the way a person writes them (`500m`, `2`, `1Gi`)."""
    if amount % 1000:
        return f"{amount}m"
    whole = amount // 1000
    if resource in ("memory", "ephemeral-storage") or resource.startswith("hugepages-"):
        for suffix, size in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
            if whole and whole % size == 0:
                return f"{whole // size}{suffix}"
    return str(whole)
