"""Strategies of rbac.authorization.k8s.io/v1."""

from __future__ import annotations

from orchestrator.api import defaults
from orchestrator.api import table_resources as resources
from orchestrator.api.strategy import Strategy

_RBAC = "rbac.authorization.k8s.io"
_NAME = "path-segment"
STRATEGIES: tuple[Strategy, ...] = (
    Strategy(_RBAC, "Role", "roles", name_rule=_NAME),
    Strategy(_RBAC, "ClusterRole", "clusterroles", namespaced=False, name_rule=_NAME),
    Strategy(_RBAC, "RoleBinding", "rolebindings", name_rule=_NAME, defaults=defaults.role_binding,
             printer=resources.ROLE_BINDING),
    Strategy(_RBAC, "ClusterRoleBinding", "clusterrolebindings", namespaced=False, name_rule=_NAME,
             defaults=defaults.role_binding, printer=resources.CLUSTER_ROLE_BINDING),
)
