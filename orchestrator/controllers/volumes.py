"""Persistent volumes for claims: a default StorageClass and a provisioner that binds.

The embedded cluster's storage is a folder per claim on this machine (the node runtime
mounts `<data dir>/volumes/pvc/<namespace>/<claim>`), so every claim can be satisfied at
once: a Pending claim gets a PersistentVolume of the size it asks for, bound both ways, as
a dynamic provisioner with `volumeBindingMode: Immediate` does on a real cluster. Without
this, anything that waits for a Bound claim (Helm's `--wait`, StatefulSets) waits forever.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from orchestrator.api import errors
from orchestrator.api.kinds import BUILTIN_TYPES
from orchestrator.client import Client, EventRecorder, Informer, Result, WorkQueue, run_workers

log = logging.getLogger(__name__)

PVCS = next(rt for rt in BUILTIN_TYPES if rt.plural == "persistentvolumeclaims")
PVS = next(rt for rt in BUILTIN_TYPES if rt.plural == "persistentvolumes")
CLASSES = next(rt for rt in BUILTIN_TYPES if rt.plural == "storageclasses")
PROVISIONER = "daskhub-lite.io/local-path"
DEFAULT_CLASS = "standard"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"

Obj = dict[str, Any]
Key = tuple[str, str]


def default_storage_class() -> Obj:
    return {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": DEFAULT_CLASS, "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
        "provisioner": PROVISIONER, "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


def volume_for(claim: Obj) -> Obj:
    """The PersistentVolume that satisfies `claim` (pure)."""
    md, spec = claim["metadata"], claim.get("spec") or {}
    size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
    namespace = md.get("namespace", "default")
    return {
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": f"pvc-{md['uid']}",
                     "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": spec.get("storageClassName") or DEFAULT_CLASS,
            "volumeMode": spec.get("volumeMode") or "Filesystem",
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "namespace": namespace, "name": md["name"], "uid": md["uid"]},
            # Where the node runtime keeps the claim's files.
            "hostPath": {"path": f"volumes/pvc/{namespace}/{md['name']}"},
        },
    }


def wants_volume(claim: Obj) -> bool:
    spec = claim.get("spec") or {}
    if (claim.get("metadata") or {}).get("deletionTimestamp"):
        return False
    if spec.get("volumeName") and (claim.get("status") or {}).get("phase") == "Bound":
        return False
    cls = spec.get("storageClassName")
    return cls in (None, "", DEFAULT_CLASS)  # other classes belong to other provisioners


class VolumeProvisioner:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.claims = Informer.shared(client, PVCS)
        self.queue: WorkQueue[Key] = WorkQueue()
        self.recorder = EventRecorder(client, "persistentvolume-controller")
        self.claims.add_handler(self._on_claim)

    def _on_claim(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        if obj is not None:
            self.queue.add((obj["metadata"].get("namespace", ""), obj["metadata"]["name"]))

    async def wait_ready(self) -> None:
        await self.claims.wait_synced()

    async def run(self) -> None:
        informer = asyncio.create_task(self.claims.run())
        try:
            await self._ensure_class()
            await self.wait_ready()
            await run_workers("volumes", self, self.queue, 2)
        finally:
            informer.cancel()
            self.queue.shutdown()

    async def _ensure_class(self) -> None:
        try:
            await self.client.create(CLASSES, default_storage_class())
        except errors.AlreadyExists:
            pass

    async def reconcile(self, key: Key) -> Result | None:
        namespace, name = key
        try:
            claim = await self.client.get(PVCS, name, namespace)
        except errors.NotFound:
            await self._release(namespace, name)
            return None
        if not wants_volume(claim):
            return None
        pv = volume_for(claim)
        try:
            pv = await self.client.create(PVS, pv)
        except errors.AlreadyExists:
            pv = await self.client.get(PVS, pv["metadata"]["name"])
        spec = claim.get("spec") or {}
        if not spec.get("volumeName"):
            claim = await self.client.patch(PVCS, name, {"spec": {
                "volumeName": pv["metadata"]["name"],
                "storageClassName": spec.get("storageClassName") or DEFAULT_CLASS}}, namespace)
        await self.client.patch(PVCS, name, {"status": {
            "phase": "Bound", "accessModes": pv["spec"]["accessModes"],
            "capacity": pv["spec"]["capacity"]}}, namespace, subresource="status")
        await self.client.patch(PVS, pv["metadata"]["name"], {"status": {"phase": "Bound"}},
                                subresource="status")
        await self.recorder.record(claim, "Normal", "ProvisioningSucceeded",
                                   f"Successfully provisioned volume {pv['metadata']['name']}")
        return None

    async def _release(self, namespace: str, name: str) -> None:
        """The claim is gone: a volume provisioned for it goes too (reclaim policy Delete)."""
        items, _ = await self.client.list(PVS)
        for pv in items:
            ref = (pv.get("spec") or {}).get("claimRef") or {}
            if (ref.get("namespace"), ref.get("name")) == (namespace, name) and (
                    pv["spec"].get("persistentVolumeReclaimPolicy") == "Delete"):
                try:
                    await self.client.delete(PVS, pv["metadata"]["name"])
                except errors.NotFound:
                    pass
