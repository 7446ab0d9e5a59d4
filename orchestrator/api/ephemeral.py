"""The strategy of `pods/ephemeralcontainers`, as kube-apiserver's (pure functions).

A write there may change `spec.ephemeralContainers` only: everything else (the rest of the
spec, status, metadata but managedFields) is kept from the stored pod, as
`dropNonEphemeralContainerUpdates` does. Then `ValidatePodEphemeralContainersUpdate`: existing
ephemeral containers may be neither removed nor changed, and each one is a container with a
DNS-label name unique among all the pod's containers, an image, a `targetContainerName` naming
one of its (init) containers, volume mounts of its volumes without sub-paths, and none of the
fields a pod's service could come to rely on (ports, probes, lifecycle, resources, ...).
"""

from __future__ import annotations

from typing import Any

from orchestrator.api import errors
from orchestrator.api.defaults import image_pull_policy
from orchestrator.api.jsoncopy import json_copy
from orchestrator.api.names import name_messages

FIELD = "spec.ephemeralContainers"
# EphemeralContainerCommon's fields that may be set (allowedEphemeralContainerFields), and
# EphemeralContainer's own targetContainerName.
ALLOWED = frozenset({
    "name", "image", "command", "args", "workingDir", "envFrom", "env", "volumeMounts",
    "volumeDevices", "terminationMessagePath", "terminationMessagePolicy", "imagePullPolicy",
    "securityContext", "stdin", "stdinOnce", "tty", "targetContainerName"})
FORBIDDEN = ("ports", "resources", "resizePolicy", "restartPolicy", "restartPolicyRules",
             "livenessProbe", "readinessProbe", "startupProbe", "lifecycle")
_NOT_SET_FOR = "cannot be set for an Ephemeral Container"
_POLICIES = ("File", "FallbackToLogsOnError")
_PULL = ("Always", "IfNotPresent", "Never")


def not_found(path: str, value: Any) -> errors.Cause:
    return errors.Cause("FieldValueNotFound", f'Not found: "{value}"', path)


def apply_defaults(containers: Any) -> None:
    """What SetDefaults_EphemeralContainer gives each one (as a container's)."""
    for ec in containers if isinstance(containers, list) else []:
        if isinstance(ec, dict):
            ec.setdefault("imagePullPolicy", image_pull_policy(ec.get("image")))
            ec.setdefault("terminationMessagePath", "/dev/termination-log")
            ec.setdefault("terminationMessagePolicy", "File")


def prepare_update(current: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """The stored pod with `wanted`'s ephemeral containers, defaulted."""
    merged = json_copy(current)
    containers = json_copy(((wanted.get("spec") or {}) if isinstance(wanted.get("spec"), dict)
                            else {}).get("ephemeralContainers"))
    if containers is None:
        merged.setdefault("spec", {}).pop("ephemeralContainers", None)
    else:
        apply_defaults(containers)
        merged.setdefault("spec", {})["ephemeralContainers"] = containers
    managed = (wanted.get("metadata") or {}).get("managedFields") if isinstance(
        wanted.get("metadata"), dict) else None
    if managed is not None:
        merged["metadata"]["managedFields"] = managed
    return merged


def _set(value: Any) -> bool:
    """Whether a field holds something (Go's non-zero value; an empty object or list is as
    good as unset here)."""
    return value not in (None, False, "", 0, [], {})


def _container_causes(ec: dict[str, Any], path: str, taken: set[str], targets: set[str],
                      volumes: set[str]) -> list[errors.Cause]:
    causes: list[errors.Cause] = []
    name = ec.get("name")
    if not name:
        causes.append(errors.required(f"{path}.name"))
    elif not isinstance(name, str):
        causes.append(errors.invalid(f"{path}.name", name, "must be a string"))
    else:
        causes += [errors.invalid(f"{path}.name", name, m)
                   for m in name_messages(name, "dns1123-label")]
        if name in taken:
            causes.append(errors.duplicate(f"{path}.name", name))
        taken.add(name)
    image = ec.get("image")
    if not image:
        causes.append(errors.required(f"{path}.image"))
    elif isinstance(image, str) and image != image.strip():
        causes.append(errors.invalid(f"{path}.image", image,
                                     "must not have leading or trailing whitespace"))
    policy = ec.get("terminationMessagePolicy")
    if policy not in _POLICIES:
        causes.append(errors.required(f"{path}.terminationMessagePolicy") if not policy
                      else errors.not_supported(f"{path}.terminationMessagePolicy", policy,
                                                list(_POLICIES)))
    pull = ec.get("imagePullPolicy")
    if pull not in _PULL:
        causes.append(errors.required(f"{path}.imagePullPolicy") if not pull
                      else errors.not_supported(f"{path}.imagePullPolicy", pull, list(_PULL)))
    target = ec.get("targetContainerName")
    if target and (not isinstance(target, str) or target not in targets):
        causes.append(not_found(f"{path}.targetContainerName", target))
    for key in FORBIDDEN:
        if _set(ec.get(key)):
            causes.append(errors.forbidden(f"{path}.{key}", _NOT_SET_FOR))
    for i, mount in enumerate(ec.get("volumeMounts") or []):
        if not isinstance(mount, dict):
            continue
        where = f"{path}.volumeMounts[{i}]"
        if not mount.get("name"):
            causes.append(errors.required(f"{where}.name"))
        elif not isinstance(mount["name"], str) or mount["name"] not in volumes:
            causes.append(not_found(f"{where}.name", mount["name"]))
        if not mount.get("mountPath"):
            causes.append(errors.required(f"{where}.mountPath"))
        for key in ("subPath", "subPathExpr"):
            if mount.get(key):
                causes.append(errors.forbidden(f"{where}.{key}", _NOT_SET_FOR))
    return causes


def validate_update(new: dict[str, Any], old: dict[str, Any]) -> list[errors.Cause]:
    """ValidatePodEphemeralContainersUpdate for `new` (from prepare_update) over `old`."""
    annotations = (old.get("metadata") or {}).get("annotations") or {}
    if "kubernetes.io/config.mirror" in annotations:
        return [errors.forbidden("", "static pods do not support ephemeral containers")]
    spec = new.get("spec") or {}
    containers = spec.get("ephemeralContainers")
    if containers is None:
        containers = []
    if not isinstance(containers, list) or not all(isinstance(c, dict) for c in containers):
        return [errors.invalid(FIELD, containers, "must be a list of ephemeral containers")]
    targets = {str(c.get("name")) for key in ("containers", "initContainers")
               for c in spec.get(key) or [] if isinstance(c, dict)}
    volumes = {str(v.get("name")) for v in spec.get("volumes") or [] if isinstance(v, dict)}
    causes: list[errors.Cause] = []
    taken = set(targets)
    for i, ec in enumerate(containers):
        causes += _container_causes(ec, f"{FIELD}[{i}]", taken, targets, volumes)
    by_name = {c["name"]: c for c in containers if isinstance(c.get("name"), str)}
    for before in (old.get("spec") or {}).get("ephemeralContainers") or []:
        name = before.get("name") if isinstance(before, dict) else None
        if name not in by_name:
            causes.append(errors.forbidden(
                FIELD, f'existing ephemeral containers "{name}" may not be removed'))
        elif by_name[name] != before:
            causes.append(errors.forbidden(
                FIELD, f'existing ephemeral containers "{name}" may not be changed'))
    return causes
