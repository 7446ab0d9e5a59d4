"""GPU-aware scheduling: a pure core (framework, plugins, device bookkeeping) shared by the
live scheduler (`live.py`) and the trace replay tool (`replay.py`)."""

from __future__ import annotations

from typing import Any


def build(client: Any) -> list[Any]:
    """The live default scheduler for the embedded control plane."""
    from orchestrator.scheduler.live import build as build_live

    return build_live(client)
