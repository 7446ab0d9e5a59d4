"""Strategies of storage.k8s.io/v1 (stored and served; no CSI driver runs here)."""

from __future__ import annotations

from orchestrator.api import csi
from orchestrator.api import table_cluster as cluster
from orchestrator.api.strategy import Strategy

_STORAGE = csi.GROUP
_DRIVER = (_STORAGE, "CSIDriver")
STRATEGIES: tuple[Strategy, ...] = (
    Strategy(_STORAGE, "StorageClass", "storageclasses", namespaced=False, short_names=("sc",),
             returns_deleted_object=True),
    Strategy(_STORAGE, "CSIDriver", "csidrivers", namespaced=False,
             defaults=csi.DEFAULTERS[_DRIVER],
             validate=csi.CAUSES[_DRIVER], printer=cluster.CSI_DRIVER,
             returns_deleted_object=True),
    Strategy(_STORAGE, "CSINode", "csinodes", namespaced=False,
             validate=csi.CAUSES[(_STORAGE, "CSINode")],
             printer=cluster.CSI_NODE, returns_deleted_object=True),
    Strategy(_STORAGE, "VolumeAttachment", "volumeattachments", namespaced=False,
             subresources=("status",),
             validate=csi.CAUSES[(_STORAGE, "VolumeAttachment")],
             required_checked_here=csi.REQUIRED_CHECKED_HERE,
             printer=cluster.VOLUME_ATTACHMENT, returns_deleted_object=True,
             initial_status={"attached": False}),
    Strategy(_STORAGE, "CSIStorageCapacity", "csistoragecapacities"),
)
