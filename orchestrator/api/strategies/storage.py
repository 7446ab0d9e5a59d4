"""Strategies of storage.k8s.io/v1 (stored and served; no CSI driver runs here)."""

from __future__ import annotations

from orchestrator.api.strategy import Strategy

_STORAGE = "storage.k8s.io"
STRATEGIES: tuple[Strategy, ...] = (
    Strategy(_STORAGE, "StorageClass", "storageclasses"),
    Strategy(_STORAGE, "CSIDriver", "csidrivers"),
    Strategy(_STORAGE, "CSINode", "csinodes"),
    Strategy(_STORAGE, "VolumeAttachment", "volumeattachments",
             initial_status={"attached": False}),
    Strategy(_STORAGE, "CSIStorageCapacity", "csistoragecapacities"),
)
