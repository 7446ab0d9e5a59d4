"""Controllers: reconcile loops over watches that keep declared state."""

from __future__ import annotations

from typing import Any

from orchestrator.client import Client


def build(client: Client) -> list[Any]:
    """Every controller of the embedded control plane."""
    return []
