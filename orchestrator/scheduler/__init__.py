"""GPU-aware scheduling: a pure core (framework, plugins, device bookkeeping) shared by the
live scheduler and the trace replay tool."""

from __future__ import annotations

from typing import Any


def build(client: Any) -> list[Any]:
    """The live default scheduler for the embedded control plane."""
    return []
