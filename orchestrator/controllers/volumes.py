"""Persistent volumes for claims: a default StorageClass and a provisioner that binds.

The embedded cluster's storage is a folder per claim on this machine (the node runtime
mounts `<data dir>/volumes/pvc/<namespace>/<claim>`), so every claim can be satisfied at
once: a Pending claim gets a PersistentVolume of the size it asks for, bound both ways, as
a dynamic provisioner with `volumeBindingMode: Immediate` does on a real cluster. Without
this, anything that waits for a Bound claim (Helm's `--wait`, StatefulSets) waits forever.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orchestrator.client import (
    Action, Client, Controller, Create, Declaration, Delete, Kind, Patch, Record, execute,
)

PVC = Kind("v1", "PersistentVolumeClaim")
PV = Kind("v1", "PersistentVolume")
STORAGE_CLASS = Kind("storage.k8s.io/v1", "StorageClass")
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


def plan(claim: Obj) -> list[Action]:
    """Provision and bind a volume for `claim` when it wants one (pure)."""
    if not wants_volume(claim):
        return []
    pv = volume_for(claim)
    pv_name = pv["metadata"]["name"]
    spec = claim.get("spec") or {}
    out: list[Action] = [Create(PV, pv)]  # already there from an earlier pass: fine
    if not spec.get("volumeName"):
        out.append(Patch(PVC, claim["metadata"]["name"], {"spec": {
            "volumeName": pv_name, "storageClassName": spec.get("storageClassName")
            or DEFAULT_CLASS}}))
    out += [
        Patch(PVC, claim["metadata"]["name"], {"status": {
            "phase": "Bound", "accessModes": pv["spec"]["accessModes"],
            "capacity": pv["spec"]["capacity"]}}, subresource="status"),
        Patch(PV, pv_name, {"status": {"phase": "Bound"}}, subresource="status"),
        Record("Normal", "ProvisioningSucceeded", f"Successfully provisioned volume {pv_name}"),
    ]
    return out


def released(namespace: str, name: str, volumes: list[Obj]) -> list[Action]:
    """The claim is gone: a volume provisioned for it goes too (reclaim policy Delete)."""
    return [Delete(PV, pv["metadata"]["name"]) for pv in volumes if (
        ((pv.get("spec") or {}).get("claimRef") or {}).get("namespace"),
        ((pv.get("spec") or {}).get("claimRef") or {}).get("name")) == (namespace, name)
        and pv["spec"].get("persistentVolumeReclaimPolicy") == "Delete"]


DECLARATION = Declaration("volumes", "persistentvolume-controller", PVC)


class ProvisionerLogic:
    async def observe(self, client: Client, claim: Obj) -> None:
        return None  # the claim says all; its volume's name is derived from its uid

    def plan(self, claim: Obj, observed: None, now: datetime) -> list[Action]:
        return plan(claim)


class VolumeProvisioner(Controller[None]):
    def __init__(self, client: Client) -> None:
        super().__init__(client, DECLARATION, ProvisionerLogic())

    async def run(self) -> None:
        await execute(self.client, self.recorder, {"metadata": {}}, STORAGE_CLASS,
                      [Create(STORAGE_CLASS, default_storage_class())])
        await super().run()

    async def on_gone(self, key: Key) -> None:
        namespace, name = key
        items, _ = await self.client.list(self.client.resource(PV.api_version, PV.kind))
        await execute(self.client, self.recorder, {"metadata": {"namespace": namespace}}, PVC,
                      released(namespace, name, items))
