"""Strategies of rbac.authorization.k8s.io/v1."""

from __future__ import annotations

from orchestrator.api import defaults
from orchestrator.api import table_resources as resources
from orchestrator.api.strategy import Strategy

_RBAC = "rbac.authorization.k8s.io"
STRATEGIES: tuple[Strategy, ...] = (
    Strategy(_RBAC, "Role", "roles"),
    Strategy(_RBAC, "ClusterRole", "clusterroles"),
    Strategy(_RBAC, "RoleBinding", "rolebindings", defaults=defaults.role_binding,
             printer=resources.ROLE_BINDING),
    Strategy(_RBAC, "ClusterRoleBinding", "clusterrolebindings",
             defaults=defaults.role_binding, printer=resources.CLUSTER_ROLE_BINDING),
)
