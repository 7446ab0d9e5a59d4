"""The ClusterRoles and ClusterRoleBindings every cluster starts with (the user-facing
`cluster-admin`, `admin`, `edit`, `view`, and the discovery roles every authenticated user
holds), written from the Kubernetes documentation of the default roles."""

from __future__ import annotations

from typing import Any

READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]

# Namespaced resources a namespace's users work with, by API group.
_WORKLOADS: dict[str, list[str]] = {
    "": ["pods", "pods/log", "pods/status", "services", "services/status", "endpoints",
         "configmaps", "persistentvolumeclaims", "persistentvolumeclaims/status",
         "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
         "events", "limitranges", "resourcequotas", "resourcequotas/status",
         "namespaces/status", "pods/proxy", "services/proxy"],
    "apps": ["deployments", "deployments/scale", "deployments/status", "replicasets",
             "replicasets/scale", "replicasets/status", "statefulsets", "statefulsets/scale",
             "statefulsets/status", "daemonsets", "daemonsets/status", "controllerrevisions"],
    "batch": ["jobs", "jobs/status", "cronjobs", "cronjobs/status"],
    "autoscaling": ["horizontalpodautoscalers", "horizontalpodautoscalers/status"],
    "networking.k8s.io": ["ingresses", "ingresses/status", "networkpolicies"],
    "discovery.k8s.io": ["endpointslices"],
    "policy": ["poddisruptionbudgets", "poddisruptionbudgets/status"],
    "events.k8s.io": ["events"],
    "coordination.k8s.io": ["leases"],
}
# Writable by `edit` and `admin`, but never readable by `view` (secrets) or status-only.
_EDIT_EXTRA: dict[str, list[str]] = {
    "": ["secrets", "pods/exec", "pods/attach", "pods/portforward", "pods/eviction",
         "serviceaccounts/token"],
}
# Dask's custom resources are part of the everyday toolset of a data-science namespace.
_DASK = {"kubernetes.dask.org": ["daskclusters", "daskclusters/scale", "daskworkergroups",
                                 "daskworkergroups/scale", "daskjobs", "daskautoscalers"]}


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def _cluster_role(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                         "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
            "rules": rules}


def _binding(name: str, role: str, group: str) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                         "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                          "name": group}]}


def _namespace_rules(verbs: list[str], with_secrets: bool) -> list[dict[str, Any]]:
    rules = [_rule([g], r, verbs) for g, r in {**_WORKLOADS, **_DASK}.items()]
    if with_secrets:
        rules += [_rule([g], r, READ + WRITE) for g, r in _EDIT_EXTRA.items()]
    return rules


def default_cluster_roles() -> list[dict[str, Any]]:
    view = _namespace_rules(READ, with_secrets=False)
    edit = _namespace_rules(READ + WRITE, with_secrets=True)
    admin = edit + [
        _rule(["rbac.authorization.k8s.io"], ["roles", "rolebindings"], READ + WRITE),
        _rule(["authorization.k8s.io"], ["localsubjectaccessreviews"], ["create"]),
    ]
    return [
        _cluster_role("cluster-admin", [_rule(["*"], ["*"], ["*"]),
                                        {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
        _cluster_role("admin", admin),
        _cluster_role("edit", edit),
        _cluster_role("view", view),
        _cluster_role("system:discovery", [{
            "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez",
                                "/readyz", "/openapi", "/openapi/*", "/version", "/version/"],
            "verbs": ["get"]}]),
        _cluster_role("system:basic-user", [
            _rule(["authorization.k8s.io"], ["selfsubjectaccessreviews",
                                             "selfsubjectrulesreviews"], ["create"]),
            _rule(["authentication.k8s.io"], ["selfsubjectreviews"], ["create"]),
        ]),
        # Cluster DNS in pods resolves names through the API with the pod's own token; on a
        # real cluster DNS answers anyone, so every service account may read what it tells.
        _cluster_role("system:daskhub-lite:cluster-dns", [
            _rule([""], ["services", "endpoints"], ["get"])]),
    ]


def default_cluster_role_bindings() -> list[dict[str, Any]]:
    return [
        _binding("cluster-admin", "cluster-admin", "system:masters"),
        _binding("system:discovery", "system:discovery", "system:authenticated"),
        _binding("system:basic-user", "system:basic-user", "system:authenticated"),
        _binding("system:daskhub-lite:cluster-dns", "system:daskhub-lite:cluster-dns",
                 "system:serviceaccounts"),
    ]
