"""Objects every cluster starts with: the system namespaces and the `kubernetes` Service."""

from __future__ import annotations

from typing import Any

from orchestrator.api import errors
from orchestrator.api.jsoncopy import json_copy
from orchestrator.api.kinds import ResourceType
from orchestrator.api.rbac_aggregation import plan as aggregation_plan
from orchestrator.api.rbac_defaults import (
    AUTOUPDATE,
    default_cluster_role_bindings,
    default_cluster_roles,
)
from orchestrator.server import metrics_objects
from orchestrator.server.objects import ObjectService, WriteOptions

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
MANAGER = "daskhub-lite-apiserver"


def bootstrap(service: ObjectService) -> None:
    """Create what is missing; idempotent across restarts."""
    opts = WriteOptions(field_manager=MANAGER)
    reg = service.registry
    namespaces = reg.lookup("", "v1", "namespaces")
    services = reg.lookup("", "v1", "services")
    assert namespaces is not None and services is not None
    for name in SYSTEM_NAMESPACES:
        _ensure(service, namespaces, "", {"metadata": {"name": name}}, opts)
    roles = reg.lookup("rbac.authorization.k8s.io", "v1", "clusterroles")
    bindings = reg.lookup("rbac.authorization.k8s.io", "v1", "clusterrolebindings")
    assert roles is not None and bindings is not None
    for role in default_cluster_roles():
        _reconcile_role(service, roles, role, opts)
    metrics_objects.ensure(service, opts)  # its reader role aggregates into view/edit/admin
    _aggregate(service, roles, opts)
    for binding in default_cluster_role_bindings():
        _reconcile_binding(service, bindings, binding, opts)
    _ensure(service, services, "default", {
        "metadata": {"name": "kubernetes", "labels": {
            "component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": service.ranges.kubernetes_ip, "ports": [
            {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]},
    }, opts)


def _ensure(
    service: ObjectService, rt: ResourceType, ns: str, body: dict[str, Any], opts: WriteOptions
) -> None:
    if service.store.get(rt.key, ns, body["metadata"]["name"]) is not None:
        return
    try:
        service.create(rt, ns, body, opts)
    except errors.AlreadyExists:
        pass


def _autoupdate(obj: dict[str, Any]) -> bool:
    return bool((obj["metadata"].get("annotations") or {}).get(AUTOUPDATE, "true") == "true")


def _with_labels(current: dict[str, Any], default: dict[str, Any]) -> dict[str, Any]:
    out = json_copy(current)
    md = out["metadata"]
    for key in ("labels", "annotations"):
        md[key] = {**default["metadata"][key], **(md.get(key) or {})}
    return out


def _reconcile_role(service: ObjectService, rt: ResourceType, default: dict[str, Any],
                    opts: WriteOptions) -> None:
    """Create a default ClusterRole, or bring a stored one back to its default rules.

    Unlike kube-apiserver's additive reconciliation this also removes rules: the defaults of
    earlier versions were broader than Kubernetes' (edit could write pods/status and
    endpoints), and a restart must take that back. Customise a default role by setting
    its `rbac.authorization.kubernetes.io/autoupdate` annotation to "false", as in
    Kubernetes."""
    current = service.store.get(rt.key, "", default["metadata"]["name"])
    if current is None:
        _ensure(service, rt, "", default, opts)
        return
    if not _autoupdate(current):
        return
    wanted = _with_labels(current, default)
    if "aggregationRule" in default:
        wanted["aggregationRule"] = default["aggregationRule"]  # rules: the aggregation's
    else:
        wanted.pop("aggregationRule", None)
        wanted["rules"] = default["rules"]
    if wanted != current:
        service.update(rt, "", current["metadata"]["name"], wanted, opts)


def _aggregate(service: ObjectService, rt: ResourceType, opts: WriteOptions) -> None:
    """Fill aggregating ClusterRoles now, as the aggregation controller would: `edit` grants
    what it should from the first request on (and without the controllers component)."""
    for _ in range(8):  # roles aggregate roles that aggregate (admin <- edit <- view)
        changed = False
        cluster_roles = service.store.objects(rt.key)
        for role in cluster_roles:
            rules = aggregation_plan(role, cluster_roles)
            if rules is not None:
                service.update(rt, "", role["metadata"]["name"], {**role, "rules": rules},
                               opts)
                changed = True
        if not changed:
            return


def _reconcile_binding(service: ObjectService, rt: ResourceType, default: dict[str, Any],
                       opts: WriteOptions) -> None:
    """Create a default ClusterRoleBinding, or add the default subjects it lacks."""
    current = service.store.get(rt.key, "", default["metadata"]["name"])
    if current is None:
        _ensure(service, rt, "", default, opts)
        return
    if not _autoupdate(current):
        return
    wanted = _with_labels(current, default)
    subjects = list(wanted.get("subjects") or [])
    subjects += [s for s in default.get("subjects") or [] if s not in subjects]
    if subjects:
        wanted["subjects"] = subjects
    if wanted != current:
        service.update(rt, "", current["metadata"]["name"], wanted, opts)
