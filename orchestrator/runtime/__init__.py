"""Node agents: the local node and virtual nodes (process and simulated runtimes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.client import Client


def build(client: Client, nodes: Any, data_dir: Path) -> list[Any]:
    """The node agents for this control plane (filled in by the runtime work)."""
    return []
