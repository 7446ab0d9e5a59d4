"""The securityContext every pod we generate carries: what the `restricted` Pod Security
Standard asks for, so Dask clusters, training Jobs and their helpers run in a user namespace
labelled `pod-security.kubernetes.io/enforce: restricted` (DaskHub labels them so).

- no privilege escalation, every Linux capability dropped, the runtime's default seccomp
  profile;
- a non-root user. Images that start as root (the Dask image does) would be refused by the
  kubelet under `runAsNonRoot` alone, so the user is named: uid 1000 (the Jupyter images'
  `jovyan`), with group 1000 owning the pod's volumes (`fsGroup`) so outputs stay writable.
"""

from __future__ import annotations

from typing import Any

RUN_AS_USER = 1000
FS_GROUP = 1000


def pod_security_context() -> dict[str, Any]:
    return {"runAsNonRoot": True, "runAsUser": RUN_AS_USER, "fsGroup": FS_GROUP,
            "seccompProfile": {"type": "RuntimeDefault"}}


def container_security_context() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def harden(pod_spec: dict[str, Any]) -> dict[str, Any]:
    """`pod_spec` with the restricted settings added wherever it does not set them already
    (what a caller set explicitly wins); returns it for chaining."""
    pod_spec["securityContext"] = {**pod_security_context(),
                                   **(pod_spec.get("securityContext") or {})}
    for key in ("initContainers", "containers"):
        for container in pod_spec.get(key) or []:
            container["securityContext"] = {**container_security_context(),
                                            **(container.get("securityContext") or {})}
    return pod_spec
