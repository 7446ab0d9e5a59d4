"""Objects every cluster starts with: the system namespaces and the `kubernetes` Service."""

from __future__ import annotations

from typing import Any

from orchestrator.api import errors
from orchestrator.api.kinds import ResourceType
from orchestrator.api.rbac_defaults import default_cluster_role_bindings, default_cluster_roles
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
        _ensure(service, roles, "", role, opts)
    for binding in default_cluster_role_bindings():
        _ensure(service, bindings, "", binding, opts)
    _ensure(service, services, "default", {
        "metadata": {"name": "kubernetes", "labels": {
            "component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": "127.96.0.1", "ports": [
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
