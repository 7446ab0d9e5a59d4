"""The CSI kinds of storage.k8s.io/v1 (CSIDriver, CSINode, VolumeAttachment,
CSIStorageCapacity): defaults (pkg/apis/storage/v1/defaults.go) and the checks of
pkg/apis/storage/validation users meet first. They are stored and served; no CSI driver
runs here."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from orchestrator.api.errors import Cause, duplicate, not_supported, required

GROUP = "storage.k8s.io"
LIFECYCLE_MODES = ("Ephemeral", "Persistent")
FS_GROUP_POLICIES = ("File", "None", "ReadWriteOnceWithFSType")

Obj = dict[str, Any]

# Schema-required fields whose absence the rules below report in kube's own words (a
# missing `attached` is false, as Go decodes it).
REQUIRED_CHECKED_HERE = frozenset({("io.k8s.api.storage.v1.VolumeAttachmentSpec", "source"),
                                   ("io.k8s.api.storage.v1.VolumeAttachmentStatus", "attached")})


def _driver_defaults(obj: Obj) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    spec.setdefault("attachRequired", True)
    spec.setdefault("podInfoOnMount", False)
    spec.setdefault("storageCapacity", False)
    spec.setdefault("fsGroupPolicy", "ReadWriteOnceWithFSType")
    spec.setdefault("requiresRepublish", False)
    spec.setdefault("volumeLifecycleModes", ["Persistent"])
    spec.setdefault("seLinuxMount", False)


def _driver_causes(obj: Mapping[str, Any]) -> list[Cause]:
    spec = obj.get("spec") if isinstance(obj.get("spec"), Mapping) else {}
    assert isinstance(spec, Mapping)
    out: list[Cause] = []
    policy = spec.get("fsGroupPolicy")
    if policy is not None and policy not in FS_GROUP_POLICIES:
        out.append(not_supported("spec.fsGroupPolicy", policy, list(FS_GROUP_POLICIES)))
    modes = spec.get("volumeLifecycleModes")
    for index, mode in enumerate(modes if isinstance(modes, list) else []):
        if mode not in LIFECYCLE_MODES:
            out.append(not_supported(f"spec.volumeLifecycleModes[{index}]", mode,
                                     list(LIFECYCLE_MODES)))
    return out


def _node_causes(obj: Mapping[str, Any]) -> list[Cause]:
    spec = obj.get("spec") if isinstance(obj.get("spec"), Mapping) else {}
    assert isinstance(spec, Mapping)
    out: list[Cause] = []
    seen: set[str] = set()
    drivers = spec.get("drivers")
    for index, driver in enumerate(drivers if isinstance(drivers, list) else []):
        if not isinstance(driver, Mapping):
            continue
        here = f"spec.drivers[{index}]"
        name = driver.get("name")
        if not name:
            out.append(required(f"{here}.name"))
        elif name in seen:
            out.append(duplicate(f"{here}.name", name))
        seen.add(str(name))
        if not driver.get("nodeID"):
            out.append(required(f"{here}.nodeID"))
    return out


def _attachment_causes(obj: Mapping[str, Any]) -> list[Cause]:
    spec = obj.get("spec") if isinstance(obj.get("spec"), Mapping) else {}
    assert isinstance(spec, Mapping)
    out: list[Cause] = []
    source = spec.get("source") if isinstance(spec.get("source"), Mapping) else {}
    assert isinstance(source, Mapping)
    if (source.get("persistentVolumeName") is None) == (source.get("inlineVolumeSpec") is None):
        out.append(required("spec.source", "must specify exactly one of inlineVolumeSpec and "
                                           "persistentVolumeName"))
    return out


DEFAULTERS: Mapping[tuple[str, str], Callable[[Obj], None]] = {
    (GROUP, "CSIDriver"): _driver_defaults,
}
CAUSES: Mapping[tuple[str, str], Callable[[Mapping[str, Any]], list[Cause]]] = {
    (GROUP, "CSIDriver"): _driver_causes,
    (GROUP, "CSINode"): _node_causes,
    (GROUP, "VolumeAttachment"): _attachment_causes,
}
