"""A pod's volumes and mounts, and what a ConfigMap or Secret may hold, as kube-apiserver
validates them (`ValidateVolumes`, `validateVolumeSource`, `validateKeyToPath`,
`ValidateLocalNonReservedPath`, `ValidateVolumeMounts`, the size rule of `ValidateConfigMap`
and `ValidateSecret`), with its messages and field paths.

These strings become paths on the node: a volume's name is a folder under the pod's own,
an item's `path` a file in it, a `subPath` a folder inside the volume, a claim name a folder
under the namespace's claims. So the rules that keep them single names or relative, descending
paths are what keeps one user's pod out of the control plane's files and other users' data.
The runtime checks the resolved paths again (runtime/pod_paths.py): the API is not the only
writer of the store.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from orchestrator.api.errors import Cause, duplicate, forbidden, invalid, not_supported, required
from orchestrator.api.names import name_messages

MAX_DATA_BYTES = 1024 * 1024  # core.MaxSecretSize: a ConfigMap's or Secret's data in all
FILE_MODE_MSG = "must be a number between 0 and 0777 (octal), both inclusive"
HOST_PATH_TYPES = ["", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File",
                   "FileOrCreate", "Socket"]

# The volume sources in the order Kubernetes checks them, with the field name its "more than
# 1 volume type" error uses (two differ from the JSON names: `cephFS`, and `downwarAPI`,
# Kubernetes' own spelling).
_SOURCES = [("emptyDir", "emptyDir"), ("hostPath", "hostPath"), ("gitRepo", "gitRepo"),
            ("gcePersistentDisk", "gcePersistentDisk"),
            ("awsElasticBlockStore", "awsElasticBlockStore"), ("secret", "secret"),
            ("nfs", "nfs"), ("iscsi", "iscsi"), ("glusterfs", "glusterfs"),
            ("flocker", "flocker"), ("persistentVolumeClaim", "persistentVolumeClaim"),
            ("rbd", "rbd"), ("cinder", "cinder"), ("cephfs", "cephFS"),
            ("quobyte", "quobyte"), ("downwardAPI", "downwarAPI"), ("fc", "fc"),
            ("flexVolume", "flexVolume"), ("configMap", "configMap"),
            ("azureFile", "azureFile"), ("vsphereVolume", "vsphereVolume"),
            ("photonPersistentDisk", "photonPersistentDisk"),
            ("portworxVolume", "portworxVolume"), ("azureDisk", "azureDisk"),
            ("storageos", "storageos"), ("projected", "projected"), ("scaleIO", "scaleIO"),
            ("csi", "csi"), ("ephemeral", "ephemeral"), ("image", "image")]


# --- paths ------------------------------------------------------------------------------
def descending_path_causes(value: str, path: str) -> list[Cause]:
    """`validateLocalDescendingPath`: relative, and no `..` element (one cause for many)."""
    causes = [invalid(path, value, "must be a relative path")] if value.startswith("/") else []
    return causes + backstep_causes(value, path)


def backstep_causes(value: str, path: str) -> list[Cause]:
    """`validatePathNoBacksteps`: no `..` element (one cause, however many there are)."""
    return [invalid(path, value, "must not contain '..'")] if ".." in value.split("/") else []


def non_reserved_path_causes(value: str, path: str) -> list[Cause]:
    """`ValidateLocalNonReservedPath`: also not starting with `..`, which names the
    atomic-writer's own `..data` folder in a projected volume."""
    causes = descending_path_causes(value, path)
    if value.startswith("..") and not value.startswith("../"):
        causes.append(invalid(path, value, "must not start with '..'"))
    return causes


# --- volumes ----------------------------------------------------------------------------
def pod_volume_causes(spec: Any, path: str) -> list[Cause]:
    """Causes for a pod spec's (or pod template's) `volumes` and every container's
    `volumeMounts`; `path` is the spec's own (`spec`, `spec.template.spec`, ...)."""
    if not isinstance(spec, Mapping):
        return []
    causes, names = _volumes(_as_list(spec.get("volumes")), f"{path}.volumes")
    for section in ("containers", "initContainers"):
        for index, container in enumerate(_as_list(spec.get(section))):
            if isinstance(container, Mapping):
                mounts = _as_list(container.get("volumeMounts"))
                causes += _mounts(mounts, f"{path}.{section}[{index}].volumeMounts", names)
    return causes


def _volumes(volumes: list[Any], path: str) -> tuple[list[Cause], set[str]]:
    """Causes, and the names of the volumes that passed (mounts may refer only to those)."""
    causes: list[Cause] = []
    names: set[str] = set()
    for index, volume in enumerate(volumes):
        if not isinstance(volume, Mapping):
            continue
        here = f"{path}[{index}]"
        found = _source_causes(volume, here)
        name = _text(volume.get("name"))
        if not name:
            found.append(required(f"{here}.name"))
        else:
            found += [invalid(f"{here}.name", name, m)
                      for m in name_messages(name, "dns1123-label")]
        if name in names:
            found.append(duplicate(f"{here}.name", name))
        if found:
            causes += found
        else:
            names.add(name)
    return causes, names


def _source_causes(volume: Mapping[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    chosen = ""
    for key, error_name in _SOURCES:
        if volume.get(key) is None:
            continue
        if chosen:
            causes.append(forbidden(f"{path}.{error_name}",
                                    "may not specify more than 1 volume type"))
        else:
            chosen = key
    source = volume.get(chosen)
    source = source if isinstance(source, Mapping) else {}
    here = f"{path}.{chosen}"
    if chosen == "hostPath":
        causes += _host_path_causes(source, here)
    elif chosen == "secret":
        causes += _required_name(source, "secretName", here) + _projection_causes(source, here)
    elif chosen == "configMap":
        causes += _required_name(source, "name", here) + _projection_causes(source, here)
    elif chosen == "persistentVolumeClaim":
        causes += _claim_causes(source, here)
    elif chosen == "downwardAPI":
        causes += _mode_causes(source.get("defaultMode"), f"{here}.defaultMode")
        for item in _as_list(source.get("items")):
            # Kubernetes reports these on the source, not on the item (its own field paths).
            causes += _downward_file_causes(item, here)
    elif chosen == "projected":
        causes += _mode_causes(source.get("defaultMode"), f"{here}.defaultMode")
        causes += _projected_sources_causes(_as_list(source.get("sources")), here)
    return causes


def _host_path_causes(source: Mapping[str, Any], path: str) -> list[Cause]:
    host = _text(source.get("path"))
    if not host:
        return [required(f"{path}.path")]
    causes = backstep_causes(host, f"{path}.path")  # absolute by nature: only `..` is refused
    kind = source.get("type")
    if kind is not None and kind not in HOST_PATH_TYPES:
        causes.append(not_supported(f"{path}.type", kind, HOST_PATH_TYPES))
    return causes


def _claim_causes(source: Mapping[str, Any], path: str) -> list[Cause]:
    claim = _text(source.get("claimName"))
    if not claim:
        return [required(f"{path}.claimName")]
    # Stricter than kube-apiserver, which only requires a name here (its kubelet then finds
    # no claim): a claim is an object name, and the name becomes a folder on this node.
    return [invalid(f"{path}.claimName", claim, m)
            for m in name_messages(claim, "dns1123-subdomain")]


def _required_name(source: Mapping[str, Any], key: str, path: str) -> list[Cause]:
    return [] if _text(source.get(key)) else [required(f"{path}.{key}")]


def _projection_causes(source: Mapping[str, Any], path: str) -> list[Cause]:
    """A configMap or secret volume: its default mode and `items`."""
    causes = _mode_causes(source.get("defaultMode"), f"{path}.defaultMode")
    for index, item in enumerate(_as_list(source.get("items"))):
        causes += _key_to_path_causes(item, f"{path}.items[{index}]")
    return causes


def _key_to_path_causes(item: Any, path: str) -> list[Cause]:
    if not isinstance(item, Mapping):
        return []
    causes: list[Cause] = []
    if not _text(item.get("key")):
        causes.append(required(f"{path}.key"))
    target = _text(item.get("path"))
    if not target:
        causes.append(required(f"{path}.path"))
    causes += non_reserved_path_causes(target, f"{path}.path")
    return causes + _mode_causes(item.get("mode"), f"{path}.mode")


def _downward_file_causes(item: Any, path: str) -> list[Cause]:
    if not isinstance(item, Mapping):
        return []
    causes: list[Cause] = []
    target = _text(item.get("path"))
    if not target:
        causes.append(required(f"{path}.path"))
    causes += non_reserved_path_causes(target, f"{path}.path")
    if item.get("fieldRef") is not None:
        if item.get("resourceFieldRef") is not None:
            causes.append(invalid(path, "resource", "fieldRef and resourceFieldRef can not be "
                                                    "specified simultaneously"))
    elif item.get("resourceFieldRef") is None:
        causes.append(required(path, "one of fieldRef and resourceFieldRef is required"))
    return causes + _mode_causes(item.get("mode"), f"{path}.mode")


def _projected_sources_causes(sources: list[Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    paths: set[str] = set()

    def claim(target: str, value: Any) -> None:
        if target in paths:
            causes.append(invalid(path, value, "conflicting duplicate paths"))
        paths.add(target)

    for index, source in enumerate(sources):
        if not isinstance(source, Mapping):
            continue
        here = f"{path}.sources[{index}]"
        kinds = 0
        for kind in ("secret", "configMap"):
            projection = source.get(kind)
            if projection is None:
                continue
            kinds += 1
            projection = projection if isinstance(projection, Mapping) else {}
            causes += _required_name(projection, "name", f"{here}.{kind}")
            for j, item in enumerate(_as_list(projection.get("items"))):
                causes += _key_to_path_causes(item, f"{here}.{kind}.items[{j}]")
                if isinstance(item, Mapping) and _text(item.get("path")):
                    claim(_text(item.get("path")), _text(projection.get("name")))
        downward = source.get("downwardAPI")
        if downward is not None:
            kinds += 1
            items = _as_list(downward.get("items")) if isinstance(downward, Mapping) else []
            for item in items:
                causes += _downward_file_causes(item, f"{here}.downwardAPI")
                if isinstance(item, Mapping) and _text(item.get("path")):
                    claim(_text(item.get("path")), _text(item.get("path")))
        token = source.get("serviceAccountToken")
        if token is not None:
            kinds += 1
            causes += _token_causes(token if isinstance(token, Mapping) else {}, here, path)
        bundle = source.get("clusterTrustBundle")
        if bundle is not None:
            kinds += 1
            target = _text(bundle.get("path")) if isinstance(bundle, Mapping) else ""
            if not target:
                causes.append(required(f"{here}.clusterTrustBundle.path"))
            causes += non_reserved_path_causes(target, f"{here}.clusterTrustBundle.path")
            claim(target, target)
        if kinds > 1:
            causes.append(forbidden(here, "may not specify more than 1 volume type per source"))
    return causes


def _token_causes(token: Mapping[str, Any], here: str, projected: str) -> list[Cause]:
    causes: list[Cause] = []
    seconds: Any = token.get("expirationSeconds")
    if _is_int(seconds):
        here_seconds = f"{here}.serviceAccountToken.expirationSeconds"
        if int(seconds) < 600:
            causes.append(invalid(here_seconds, seconds,
                                  "may not specify a duration less than 10 minutes"))
        if int(seconds) > 1 << 32:
            causes.append(invalid(here_seconds, seconds,
                                  "may not specify a duration larger than 2^32 seconds"))
    target = _text(token.get("path"))
    # Kubernetes reports the token's path on the projected volume, not on the source.
    if not target:
        causes.append(required(f"{projected}.path"))
    else:
        causes += non_reserved_path_causes(target, f"{projected}.path")
    return causes


def _mode_causes(mode: Any, path: str) -> list[Cause]:
    if _is_int(mode) and not 0 <= int(mode) <= 0o777:
        return [invalid(path, mode, FILE_MODE_MSG)]
    return []


# --- mounts -----------------------------------------------------------------------------
def _mounts(mounts: list[Any], path: str, volumes: set[str]) -> list[Cause]:
    causes: list[Cause] = []
    targets: set[str] = set()
    for index, mount in enumerate(mounts):
        if not isinstance(mount, Mapping):
            continue
        here = f"{path}[{index}]"
        name = _text(mount.get("name"))
        if not name:
            causes.append(required(f"{here}.name"))
        if name not in volumes:
            causes.append(Cause("FieldValueNotFound", f'Not found: "{name}"', f"{here}.name"))
        target = _text(mount.get("mountPath"))
        if not target:
            causes.append(required(f"{here}.mountPath"))
        if target in targets:
            causes.append(invalid(f"{here}.mountPath", target, "must be unique"))
        targets.add(target)
        sub_path = _text(mount.get("subPath"))
        # Kubernetes names the list, not the mount, in these two (its own field paths).
        if sub_path:
            causes += descending_path_causes(sub_path, f"{path}.subPath")
        expression = _text(mount.get("subPathExpr"))
        if expression:
            if sub_path:
                causes.append(invalid(f"{here}.subPathExpr", expression,
                                      "subPathExpr and subPath are mutually exclusive"))
            causes += descending_path_causes(expression, f"{path}.subPathExpr")
    return causes


# --- ConfigMap and Secret data ----------------------------------------------------------
def data_size_causes(obj: Mapping[str, Any], kind: str) -> list[Cause]:
    """Over 1 MiB of data in all: a ConfigMap reports it on the whole object (`[]`), a
    Secret on `data` (with `stringData` merged in, as it is decoded)."""
    data = _as_mapping(obj.get("data"))
    if kind == "Secret":
        sizes = {str(k): _decoded_size(v) for k, v in data.items()}
        sizes.update({str(k): _utf8_size(v) for k, v in
                      _as_mapping(obj.get("stringData")).items()})
        field = "data"
    else:
        sizes = {f"data/{k}": _utf8_size(v) for k, v in data.items()}
        sizes.update({f"binaryData/{k}": _decoded_size(v) for k, v in
                      _as_mapping(obj.get("binaryData")).items()})
        field = "[]"
    if sum(sizes.values()) > MAX_DATA_BYTES:
        return [Cause("FieldValueTooLong", f"Too long: must have at most {MAX_DATA_BYTES} bytes",
                      field)]
    return []


def _utf8_size(value: Any) -> int:
    return len(value.encode("utf-8", "surrogatepass")) if isinstance(value, str) else 0


def _decoded_size(value: Any) -> int:
    if not isinstance(value, str):
        return 0
    try:
        return len(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        return len(value) * 3 // 4  # bad base64 is reported by the decoder, not here


# --- helpers ----------------------------------------------------------------------------
def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


__all__ = [
    "FILE_MODE_MSG",
    "MAX_DATA_BYTES",
    "backstep_causes",
    "data_size_causes",
    "descending_path_causes",
    "non_reserved_path_causes",
    "pod_volume_causes",
]
