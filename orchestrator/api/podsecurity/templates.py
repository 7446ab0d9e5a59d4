"""Where a pod spec sits in the kinds that carry one: the pod itself, or the pod template of
a workload. Workloads are only warned about (their pods are checked when created)."""

from __future__ import annotations

from typing import Any, Mapping

PODS = "/pods"
# Resource keys of the kinds with a pod template, and the path to it.
TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "/replicationcontrollers": ("spec", "template"),
    "/podtemplates": ("template",),
    "apps/replicasets": ("spec", "template"),
    "apps/deployments": ("spec", "template"),
    "apps/statefulsets": ("spec", "template"),
    "apps/daemonsets": ("spec", "template"),
    "batch/jobs": ("spec", "template"),
    "batch/cronjobs": ("spec", "jobTemplate", "spec", "template"),
}


def pod_spec_of(resource_key: str, obj: Mapping[str, Any]
                ) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    """(metadata, spec) of the pod or pod template in `obj`, or None when it has none."""
    if resource_key == PODS:
        return _mapping(obj.get("metadata")), _mapping(obj.get("spec"))
    path = TEMPLATE_PATHS.get(resource_key)
    if path is None:
        return None
    cur: Any = obj
    for key in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(key)
    if not isinstance(cur, dict):
        return None
    return _mapping(cur.get("metadata")), _mapping(cur.get("spec"))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}
