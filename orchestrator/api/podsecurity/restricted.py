"""The restricted checks: pod hardening on top of baseline (no privilege escalation, drop
ALL capabilities, non-root, a seccomp profile, only inline volume types that cannot reach
the host). Same contract as `baseline`: `(metadata, spec) -> CheckResult | None`."""

from __future__ import annotations

from typing import Any, Mapping

from orchestrator.api.podsecurity.baseline import (
    seccomp_bad_setters_result,
    seccomp_explicitly_bad,
)
from orchestrator.api.podsecurity.podspec import (
    CheckResult,
    containers,
    containers_phrase,
    field_of,
    in_user_namespace,
    is_windows,
    items,
    join_quote,
    name_of,
    obj,
    plural,
)

Meta = Mapping[str, Any]
Spec = Mapping[str, Any]


def allow_privilege_escalation_1_8(meta: Meta, spec: Spec) -> CheckResult | None:
    bad = [name_of(c) for c in containers(spec)
           if field_of(c, "allowPrivilegeEscalation") is not False]
    if not bad:
        return None
    return CheckResult("allowPrivilegeEscalation != false", (
        f"{containers_phrase(bad)} must set securityContext.allowPrivilegeEscalation=false"))


def allow_privilege_escalation_1_25(meta: Meta, spec: Spec) -> CheckResult | None:
    # Windows pods cannot set the field at all (API validation), so they pass.
    return None if is_windows(spec) else allow_privilege_escalation_1_8(meta, spec)


def capabilities_1_22(meta: Meta, spec: Spec) -> CheckResult | None:
    missing_drop: list[str] = []
    adding: list[str] = []
    forbidden: set[str] = set()
    for c in containers(spec):
        caps = field_of(c, "capabilities")
        if not isinstance(caps, dict):
            missing_drop.append(name_of(c))
            continue
        if "ALL" not in [str(d) for d in items(caps.get("drop"))]:
            missing_drop.append(name_of(c))
        extra = [str(a) for a in items(caps.get("add")) if a != "NET_BIND_SERVICE"]
        if extra:
            adding.append(name_of(c))
            forbidden.update(extra)
    details: list[str] = []
    if missing_drop:
        details.append(f"{containers_phrase(missing_drop)} must set "
                       'securityContext.capabilities.drop=["ALL"]')
    if adding:
        details.append(f"{containers_phrase(adding)} must not include "
                       f"{join_quote(sorted(forbidden))} in securityContext.capabilities.add")
    return CheckResult("unrestricted capabilities", "; ".join(details)) if details else None


def capabilities_1_25(meta: Meta, spec: Spec) -> CheckResult | None:
    return None if is_windows(spec) else capabilities_1_22(meta, spec)


# Inline volume sources that cannot reach the host or the network beyond the cluster.
_ALLOWED_VOLUMES = ("configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image",
                    "persistentVolumeClaim", "projected", "secret")
# The sources Kubernetes names in the message, in the order it looks for them.
_NAMED_VOLUMES = (
    "hostPath", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "nfs", "iscsi",
    "glusterfs", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "fc", "azureFile",
    "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "portworxVolume",
    "scaleIO", "storageos")


def volume_types(meta: Meta, spec: Spec) -> CheckResult | None:
    bad: list[str] = []
    kinds: set[str] = set()
    for raw in items(spec.get("volumes")):
        volume = obj(raw)
        if any(volume.get(k) is not None for k in _ALLOWED_VOLUMES):
            continue
        bad.append(str(volume.get("name", "")))
        kinds.add(next((k for k in _NAMED_VOLUMES if volume.get(k) is not None), "unknown"))
    if not bad:
        return None
    return CheckResult("restricted volume types", (
        f'{plural("volume", "volumes", len(bad))} {join_quote(bad)} '
        f'{plural("uses", "use", len(bad))} '
        f'{plural("restricted volume type", "restricted volume types", len(kinds))} '
        f"{join_quote(sorted(kinds))}"))


def run_as_non_root_1_0(meta: Meta, spec: Spec) -> CheckResult | None:
    setters: list[str] = []
    pod_value = field_of(spec, "runAsNonRoot")
    pod_non_root = pod_value is True
    if pod_value is False:
        setters.append("pod")
    explicit: list[str] = []
    implicit: list[str] = []
    for c in containers(spec):
        value = field_of(c, "runAsNonRoot")
        if value is False:
            explicit.append(name_of(c))
        elif value is None and not pod_non_root:
            implicit.append(name_of(c))
    if explicit:
        setters.append(containers_phrase(explicit))
    if setters:
        return CheckResult("runAsNonRoot != true", (
            f"{' and '.join(setters)} must not set securityContext.runAsNonRoot=false"))
    if implicit:
        return CheckResult("runAsNonRoot != true", (
            f"pod or {containers_phrase(implicit)} must set securityContext.runAsNonRoot=true"))
    return None


def run_as_non_root_1_35(meta: Meta, spec: Spec) -> CheckResult | None:
    return None if in_user_namespace(spec) else run_as_non_root_1_0(meta, spec)


def _is_zero(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value == 0


def run_as_user_1_23(meta: Meta, spec: Spec) -> CheckResult | None:
    setters = ["pod"] if _is_zero(field_of(spec, "runAsUser")) else []
    bad = [name_of(c) for c in containers(spec) if _is_zero(field_of(c, "runAsUser"))]
    if bad:
        setters.append(containers_phrase(bad))
    if not setters:
        return None
    return CheckResult("runAsUser=0", f"{' and '.join(setters)} must not set runAsUser=0")


def run_as_user_1_35(meta: Meta, spec: Spec) -> CheckResult | None:
    return None if in_user_namespace(spec) else run_as_user_1_23(meta, spec)


def seccomp_profile_1_19(meta: Meta, spec: Spec) -> CheckResult | None:
    setters, values, pod_set = seccomp_explicitly_bad(spec)
    if setters:
        return seccomp_bad_setters_result(setters, values)
    implicit = [name_of(c) for c in containers(spec)
                if not pod_set and field_of(c, "seccompProfile") is None]
    if implicit:
        return CheckResult("seccompProfile", (
            f"pod or {containers_phrase(implicit)} must set securityContext.seccompProfile.type "
            'to "RuntimeDefault" or "Localhost"'))
    return None


def seccomp_profile_1_25(meta: Meta, spec: Spec) -> CheckResult | None:
    return None if is_windows(spec) else seccomp_profile_1_19(meta, spec)
