"""The embedded Kubernetes-compatible control plane of daskhub-lite."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.controlplane import ControlPlane

__all__ = ["ControlPlane"]


def __getattr__(name: str) -> Any:
    # Imported lazily so that `orchestrator.api` and the scheduler load without the server.
    if name == "ControlPlane":
        from orchestrator.controlplane import ControlPlane

        return ControlPlane
    raise AttributeError(name)
