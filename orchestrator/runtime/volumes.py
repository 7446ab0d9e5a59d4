"""Pod volumes as folders, and how containers see them at their `mountPath`.

Every volume becomes a directory: `<data>/pods/<uid>/volumes/<type>/<name>` (emptyDir,
configMap, secret, downwardAPI, projected), the host path itself (hostPath), or a folder per
claim that outlives pods (`<data>/volumes/pvc/<ns>/<claim>`). Then, per container, either:

- `bind`: where this process may create mount namespaces (root here), the shim runs in a
  private mount namespace (`unshare -m`) and bind-mounts each folder at its `mountPath`, so
  the program sees the real paths. Mount points missing on the host are made inside that
  namespace only, never on the host's filesystem (see mountpoints.py);
- `rewrite`: elsewhere, occurrences of each `mountPath` in `command`, `args` and env values are
  replaced by the folder's path.
"""

from __future__ import annotations

import base64
import functools
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping

from orchestrator.runtime.envs import ConfigError, field_value, resource_value
from orchestrator.runtime.pod_paths import PathEscape, inside, relative_parts, single_name

Lookup = Callable[[str, str], Awaitable[dict[str, Any] | None]]
SERVICE_ACCOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


class VolumeError(Exception):
    """A volume cannot be set up yet (the kubelet's FailedMount)."""


@dataclass
class Mount:
    source: str
    target: str
    read_only: bool = False


@dataclass
class MountPlan:
    mode: str  # "bind" | "rewrite"
    mounts: list[Mount] = field(default_factory=list)

    def rewrite(self, text: str) -> str:
        """Mount paths in `text` → folders (rewrite mode only), longest path first."""
        if self.mode != "rewrite":
            return text
        for m in sorted(self.mounts, key=lambda m: len(m.target), reverse=True):
            target = m.target.rstrip("/")
            idx = text.find(target)
            while idx >= 0:
                end = idx + len(target)
                boundary_ok = (idx == 0 or not (text[idx - 1].isalnum() or text[idx - 1] in
                                                 "_-./")) and (end == len(text) or
                                                               text[end] in "/:;,'\" =\n")
                if boundary_ok:
                    text = text[:idx] + m.source + text[end:]
                    idx = text.find(target, idx + len(m.source))
                else:
                    idx = text.find(target, end)
        return text


@functools.lru_cache(maxsize=1)
def mount_namespaces_available() -> bool:
    """Whether `unshare -m` works for this process (root with util-linux); the shim then
    mounts with mount(2) itself."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    try:
        probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                               capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def _write_files(folder: Path, files: Mapping[str, bytes], mode: int) -> None:
    """Replace the folder's contents atomically enough for readers started afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        # Keys and item paths name files inside the volume, never outside it, also not
        # through a link the container left in the folder (PathEscape, pod_paths.py).
        parts = relative_parts(name, "item path")
        if not parts:
            raise PathEscape(f"item path {name!r} names the volume itself, not a file in it")
        path = inside(folder, *parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        # A fresh, exclusively created temporary file: a link planted at a predictable name
        # would otherwise be followed by the write.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, mode & 0o777)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _volume_folder(base: Path, kind: str, name: str) -> Path:
    """`<pod>/volumes/<kind>/<name>`: the volume's name is one folder name, never a path."""
    return inside(base, kind, single_name(name, "volume name"))


def _key_items(data: Mapping[str, bytes], items: list[dict[str, Any]] | None, kind: str,
               ref: str, optional: bool) -> dict[str, bytes]:
    if not items:
        return dict(data)
    out = {}
    for item in items:
        key = item.get("key")
        if key not in data:
            if optional:
                continue
            raise VolumeError(f"configmap references non-existent config key: {key}"
                              if kind == "ConfigMap" else
                              f"references non-existent secret key: {key}")
        out[str(item.get("path") or key)] = data[str(key)]
    return out


def _object_data(obj: Mapping[str, Any], kind: str) -> dict[str, bytes]:
    if kind == "Secret":
        out = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        out.update({k: str(v).encode() for k, v in (obj.get("stringData") or {}).items()})
        return out
    out = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
    out.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return out


class VolumeBuilder:
    """Materialises one pod's volumes under its folder."""

    def __init__(self, pod: Mapping[str, Any], pod_dir: Path, data_dir: Path, lookup: Lookup,
                 allocatable: Mapping[str, str], service_account_dir: Path) -> None:
        self.pod = pod
        self.pod_dir = pod_dir
        self.data_dir = data_dir
        self.lookup = lookup
        self.allocatable = allocatable
        self.service_account_dir = service_account_dir
        self.paths: dict[str, Path] = {}

    async def build(self) -> dict[str, Path]:
        for volume in (self.pod.get("spec") or {}).get("volumes") or []:
            try:
                self.paths[volume["name"]] = await self._one(volume)
            except PathEscape as exc:
                raise VolumeError(f'MountVolume.SetUp failed for volume "{volume["name"]}" : '
                                  f"{exc}") from exc
        return self.paths

    async def _source_files(self, kind: str, spec: Mapping[str, Any], name_key: str,
                            volume: str) -> dict[str, bytes]:
        name = str(spec.get(name_key, ""))
        optional = bool(spec.get("optional"))
        obj = await self.lookup(kind, name)
        if obj is None:
            if optional:
                return {}
            raise VolumeError(f'MountVolume.SetUp failed for volume "{volume}" : '
                              f'{kind.lower()} "{name}" not found')
        try:
            return _key_items(_object_data(obj, kind), spec.get("items"), kind, name, optional)
        except VolumeError as exc:
            raise VolumeError(f'MountVolume.SetUp failed for volume "{volume}" : {exc}') \
                from exc

    def _downward_files(self, items: list[dict[str, Any]]) -> dict[str, bytes]:
        out = {}
        containers = {c.get("name"): c for c in (self.pod.get("spec") or {}).get(
            "containers") or []}
        for item in items:
            try:
                if "fieldRef" in item:
                    value = field_value(self.pod, str(item["fieldRef"].get("fieldPath", "")))
                else:
                    ref = item.get("resourceFieldRef") or {}
                    container = containers.get(ref.get("containerName")) or {}
                    value = resource_value(container, ref, self.allocatable)
            except ConfigError as exc:
                raise VolumeError(str(exc)) from exc
            out[str(item["path"])] = value.encode()
        return out

    async def _one(self, volume: Mapping[str, Any]) -> Path:
        name = str(volume["name"])
        base = self.pod_dir / "volumes"
        if "hostPath" in volume:
            spec = volume["hostPath"] or {}
            path = Path(str(spec.get("path", "/")))
            if spec.get("type") == "DirectoryOrCreate":
                path.mkdir(parents=True, exist_ok=True)
            elif spec.get("type") == "FileOrCreate" and not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
            return path
        if "persistentVolumeClaim" in volume:
            claim = str((volume["persistentVolumeClaim"] or {}).get("claimName", name))
            ns = str((self.pod.get("metadata") or {}).get("namespace", "default"))
            # One folder per namespace, one per claim in it: a claim name is never a path
            # (`../other-namespace/claim` would be another user's data).
            path = inside(self.data_dir / "volumes" / "pvc", single_name(ns, "namespace"),
                          single_name(claim, "claim name"))
            path.mkdir(parents=True, exist_ok=True)
            return path
        if "configMap" in volume:
            spec = volume["configMap"] or {}
            folder = _volume_folder(base, "configmap", name)
            _write_files(folder, await self._source_files("ConfigMap", spec, "name", name), int(spec.get("defaultMode", 0o644)))
            return folder
        if "secret" in volume:
            spec = volume["secret"] or {}
            folder = _volume_folder(base, "secret", name)
            _write_files(folder, await self._source_files("Secret", spec, "secretName", name), int(spec.get("defaultMode", 0o644)))
            return folder
        if "downwardAPI" in volume:
            spec = volume["downwardAPI"] or {}
            folder = _volume_folder(base, "downward-api", name)
            _write_files(folder, self._downward_files(spec.get("items") or []),
                         int(spec.get("defaultMode", 0o644)))
            return folder
        if "projected" in volume:
            spec = volume["projected"] or {}
            files: dict[str, bytes] = {}
            for source in spec.get("sources") or []:
                if "configMap" in source:
                    files.update(await self._source_files("ConfigMap", source["configMap"],
                                                          "name", name))
                elif "secret" in source:
                    files.update(await self._source_files("Secret", source["secret"], "name",
                                                          name))
                elif "downwardAPI" in source:
                    files.update(self._downward_files(source["downwardAPI"].get("items") or []))
                elif "serviceAccountToken" in source:
                    token = (self.service_account_dir / "token").read_bytes()
                    files[str(source["serviceAccountToken"].get("path", "token"))] = token
            folder = _volume_folder(base, "projected", name)
            _write_files(folder, files, int(spec.get("defaultMode", 0o644)))
            return folder
        folder = _volume_folder(base, "empty-dir", name)  # emptyDir, and anything we do not model
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def plan_mounts(container: Mapping[str, Any], volumes: Mapping[str, Path], bind: bool,
                service_account_dir: Path | None) -> MountPlan:
    plan = MountPlan("bind" if bind else "rewrite")
    for vm in container.get("volumeMounts") or []:
        source = volumes.get(str(vm.get("name")))
        if source is None:
            raise VolumeError(f"volumeMount {vm.get('name')!r} refers to no volume of the pod")
        if vm.get("subPath"):
            try:
                source = inside(source, *relative_parts(str(vm["subPath"]), "subPath"))
            except PathEscape as exc:
                raise VolumeError(f'failed to prepare subPath for volumeMount "{vm.get("name")}"'
                                  f' of container "{container.get("name")}": {exc}') from exc
            if not source.exists():
                source.mkdir(parents=True, exist_ok=True)
        plan.mounts.append(Mount(str(source), str(vm.get("mountPath")),
                                 bool(vm.get("readOnly"))))
    if bind and service_account_dir is not None and not any(
            m.target.rstrip("/") == SERVICE_ACCOUNT_PATH for m in plan.mounts):
        plan.mounts.append(Mount(str(service_account_dir), SERVICE_ACCOUNT_PATH, True))
    return plan
