"""The ClusterRoles and ClusterRoleBindings every cluster starts with, as kube-apiserver
bootstraps them (the rule data of `plugin/pkg/auth/authorizer/rbac/bootstrappolicy`, which
`kubectl get clusterroles` shows on a fresh cluster; the per-controller
`system:controller:*` roles are left out: our controllers act as the cluster admin).

`admin`, `edit` and `view` hold no rules of their own: they aggregate the ClusterRoles
labelled `rbac.authorization.k8s.io/aggregate-to-<role>: "true"` (the clusterrole
aggregation controller fills their rules), so a CRD's installer extends them by labelling
its own roles. Like Kubernetes, `edit` may not write any `/status`, `endpoints`, quotas or
limits, and `view` may not use `pods/proxy` or `services/proxy`.
"""

from __future__ import annotations

import copy
from typing import Any

AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
BOOTSTRAPPING = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AGGREGATE_TO = "rbac.authorization.k8s.io/aggregate-to-"

READ = "get list watch"
WRITE = "create delete deletecollection patch update"
READ_WRITE = "create delete deletecollection get list patch update watch"
EVENTS = ('"" events.k8s.io', "events", "create patch update")


def _r(groups: str, resources: str, verbs: str, names: str = "") -> dict[str, Any]:
    """A rule from space-separated lists; `""` stands for the core group."""
    rule: dict[str, Any] = {
        "apiGroups": ["" if g == '""' else g for g in groups.split()],
        "resources": resources.split(), "verbs": verbs.split()}
    if names:
        rule["resourceNames"] = names.split()
    return rule


def _urls(urls: str, verbs: str = "get") -> dict[str, Any]:
    return {"nonResourceURLs": urls.split(), "verbs": verbs.split()}


def _approver(signer: str) -> list[dict[str, Any]]:
    return [_r("certificates.k8s.io", "signers", "approve", f"kubernetes.io/{signer}")]


_AGGREGATE_TO_ADMIN = [
    _r("authorization.k8s.io", "localsubjectaccessreviews", "create"),
    _r("rbac.authorization.k8s.io", "rolebindings roles", READ_WRITE),
]
_AGGREGATE_TO_EDIT = [
    # Reading these escalates (secrets, or reaching into pods): edit's, not view's.
    _r('""', "pods/attach pods/exec pods/portforward pods/proxy secrets services/proxy", READ),
    _r('""', "serviceaccounts", "impersonate"),
    _r('""', "pods pods/attach pods/exec pods/portforward pods/proxy", WRITE),
    _r('""', "pods/eviction", "create"),
    _r('""', "configmaps events persistentvolumeclaims replicationcontrollers "
             "replicationcontrollers/scale secrets serviceaccounts services services/proxy",
       WRITE),
    _r('""', "serviceaccounts/token", "create"),
    _r("apps", "daemonsets deployments deployments/rollback deployments/scale replicasets "
               "replicasets/scale statefulsets statefulsets/scale", WRITE),
    _r("autoscaling", "horizontalpodautoscalers", WRITE),
    _r("batch", "cronjobs jobs", WRITE),
    _r("extensions", "daemonsets deployments deployments/rollback deployments/scale ingresses "
                     "networkpolicies replicasets replicasets/scale "
                     "replicationcontrollers/scale", WRITE),
    _r("policy", "poddisruptionbudgets", WRITE),
    _r("networking.k8s.io", "ingresses networkpolicies", WRITE),
    _r("coordination.k8s.io", "leases", READ_WRITE),
]
_AGGREGATE_TO_VIEW = [
    _r('""', "configmaps endpoints persistentvolumeclaims persistentvolumeclaims/status pods "
             "replicationcontrollers replicationcontrollers/scale serviceaccounts services "
             "services/status", READ),
    _r('""', "bindings events limitranges namespaces/status pods/log pods/status "
             "replicationcontrollers/status resourcequotas resourcequotas/status", READ),
    _r('""', "namespaces", READ),
    _r("discovery.k8s.io", "endpointslices", READ),
    _r("apps", "controllerrevisions daemonsets daemonsets/status deployments deployments/scale "
               "deployments/status replicasets replicasets/scale replicasets/status "
               "statefulsets statefulsets/scale statefulsets/status", READ),
    _r("autoscaling", "horizontalpodautoscalers horizontalpodautoscalers/status", READ),
    _r("batch", "cronjobs cronjobs/status jobs jobs/status", READ),
    _r("extensions", "daemonsets daemonsets/status deployments deployments/scale "
                     "deployments/status ingresses ingresses/status networkpolicies "
                     "replicasets replicasets/scale replicasets/status "
                     "replicationcontrollers/scale", READ),
    _r("policy", "poddisruptionbudgets poddisruptionbudgets/status", READ),
    _r("networking.k8s.io", "ingresses ingresses/status networkpolicies", READ),
]
_NODE = [
    _r("authentication.k8s.io", "tokenreviews", "create"),
    _r("authorization.k8s.io", "localsubjectaccessreviews subjectaccessreviews", "create"),
    _r('""', "services", READ),
    _r('""', "nodes", "create get list watch"),
    _r('""', "nodes/status", "patch update"),
    _r('""', "nodes", "patch update"),
    _r('""', "events", "create patch update"),
    _r('""', "pods", READ),
    _r('""', "pods", "create delete"),
    _r('""', "pods/status", "patch update"),
    _r('""', "pods/eviction", "create"),
    _r('""', "configmaps secrets", READ),
    _r('""', "persistentvolumeclaims persistentvolumes", "get"),
    _r('""', "endpoints", "get"),
    _r("certificates.k8s.io", "certificatesigningrequests", "create get list watch"),
    _r("coordination.k8s.io", "leases", "create delete get patch update"),
    _r("storage.k8s.io", "volumeattachments", "get"),
    _r('""', "serviceaccounts/token", "create"),
    _r('""', "persistentvolumeclaims/status", "get patch update"),
    _r("storage.k8s.io", "csidrivers", READ),
    _r("storage.k8s.io", "csinodes", "create delete get patch update"),
    _r("node.k8s.io", "runtimeclasses", READ),
]
_KUBE_CONTROLLER_MANAGER = [
    _r(*EVENTS),
    _r("coordination.k8s.io", "leases", "create"),
    _r("coordination.k8s.io", "leases", "get update", "kube-controller-manager"),
    _r('""', "secrets serviceaccounts", "create"),
    _r('""', "secrets", "delete"),
    _r('""', "configmaps namespaces secrets serviceaccounts", "get"),
    _r('""', "secrets serviceaccounts", "update"),
    _r("authentication.k8s.io", "tokenreviews", "create"),
    _r("authorization.k8s.io", "subjectaccessreviews", "create"),
    _r("*", "*", "list watch"),
    _r('""', "serviceaccounts/token", "create"),
]
_KUBE_SCHEDULER = [
    _r(*EVENTS),
    _r("coordination.k8s.io", "leases", "create"),
    _r("coordination.k8s.io", "leases", "get update", "kube-scheduler"),
    _r('""', "nodes", READ),
    _r('""', "pods", "delete get list watch"),
    _r('""', "bindings pods/binding", "create"),
    _r('""', "pods/status", "patch update"),
    _r('""', "replicationcontrollers services", READ),
    _r("apps extensions", "replicasets", READ),
    _r("apps", "statefulsets", READ),
    _r("policy", "poddisruptionbudgets", READ),
    _r('""', "persistentvolumeclaims persistentvolumes", READ),
    _r("authentication.k8s.io", "tokenreviews", "create"),
    _r("authorization.k8s.io", "subjectaccessreviews", "create"),
    _r("storage.k8s.io", "csinodes", READ),
    _r('""', "namespaces", READ),
    _r("storage.k8s.io", "csidrivers", READ),
    _r("storage.k8s.io", "csistoragecapacities", READ),
]

# name -> (rules, labels, aggregated role names)
_ROLES: dict[str, tuple[list[dict[str, Any]], dict[str, str], str]] = {
    "cluster-admin": ([_r("*", "*", "*"), _urls("*", "*")], {}, ""),
    "admin": ([], {}, "admin"),
    "edit": ([], {AGGREGATE_TO + "admin": "true"}, "edit"),
    "view": ([], {AGGREGATE_TO + "edit": "true"}, "view"),
    "system:aggregate-to-admin": (_AGGREGATE_TO_ADMIN, {AGGREGATE_TO + "admin": "true"}, ""),
    "system:aggregate-to-edit": (_AGGREGATE_TO_EDIT, {AGGREGATE_TO + "edit": "true"}, ""),
    "system:aggregate-to-view": (_AGGREGATE_TO_VIEW, {AGGREGATE_TO + "view": "true"}, ""),
    "system:auth-delegator": ([
        _r("authentication.k8s.io", "tokenreviews", "create"),
        _r("authorization.k8s.io", "subjectaccessreviews", "create")], {}, ""),
    "system:basic-user": ([
        _r("authorization.k8s.io", "selfsubjectaccessreviews selfsubjectrulesreviews",
           "create"),
        _r("authentication.k8s.io", "selfsubjectreviews", "create")], {}, ""),
    "system:certificates.k8s.io:certificatesigningrequests:nodeclient": ([
        _r("certificates.k8s.io", "certificatesigningrequests/nodeclient", "create")], {}, ""),
    "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient": ([
        _r("certificates.k8s.io", "certificatesigningrequests/selfnodeclient", "create")],
        {}, ""),
    "system:certificates.k8s.io:kube-apiserver-client-approver": (
        _approver("kube-apiserver-client"), {}, ""),
    "system:certificates.k8s.io:kube-apiserver-client-kubelet-approver": (
        _approver("kube-apiserver-client-kubelet"), {}, ""),
    "system:certificates.k8s.io:kubelet-serving-approver": (
        _approver("kubelet-serving"), {}, ""),
    "system:certificates.k8s.io:legacy-unknown-approver": (
        _approver("legacy-unknown"), {}, ""),
    "system:discovery": ([_urls("/api /api/* /apis /apis/* /healthz /livez /openapi "
                                "/openapi/* /readyz /version /version/")], {}, ""),
    "system:heapster": ([_r('""', "events namespaces nodes pods", READ),
                         _r("extensions", "deployments", READ)], {}, ""),
    "system:kube-aggregator": ([_r('""', "endpoints services", READ)], {}, ""),
    "system:kube-controller-manager": (_KUBE_CONTROLLER_MANAGER, {}, ""),
    "system:kube-dns": ([_r('""', "endpoints services", "list watch")], {}, ""),
    "system:kube-scheduler": (_KUBE_SCHEDULER, {}, ""),
    "system:kubelet-api-admin": ([
        _r('""', "nodes", READ), _r('""', "nodes", "proxy"),
        _r('""', "nodes/log nodes/metrics nodes/proxy nodes/stats", "*")], {}, ""),
    "system:monitoring": ([_urls("/healthz /healthz/* /livez /livez/* /metrics /metrics/slis "
                                 "/readyz /readyz/*")], {}, ""),
    "system:node": (_NODE, {}, ""),
    "system:node-bootstrapper": ([
        _r("certificates.k8s.io", "certificatesigningrequests", "create get list watch")],
        {}, ""),
    "system:node-problem-detector": ([
        _r('""', "nodes", "get"), _r('""', "nodes/status", "patch"), _r(*EVENTS)], {}, ""),
    "system:node-proxier": ([
        _r('""', "endpoints services", "list watch"), _r('""', "nodes", READ), _r(*EVENTS),
        _r("discovery.k8s.io", "endpointslices", "list watch")], {}, ""),
    "system:persistent-volume-provisioner": ([
        _r('""', "persistentvolumes", "create delete get list watch"),
        _r('""', "persistentvolumeclaims", "get list update watch"),
        _r("storage.k8s.io", "storageclasses", READ),
        _r('""', "events", "watch"), _r(*EVENTS)], {}, ""),
    "system:public-info-viewer": ([_urls("/healthz /livez /readyz /version /version/")], {}, ""),
    "system:service-account-issuer-discovery": ([
        _urls("/.well-known/openid-configuration /openid/v1/jwks")], {}, ""),
    "system:volume-scheduler": ([
        _r('""', "persistentvolumes", "get list patch update watch"),
        _r("storage.k8s.io", "storageclasses", READ),
        _r('""', "persistentvolumeclaims", "get list patch update watch")], {}, ""),
    # Ours: cluster DNS in pods resolves names through the API with the pod's own token; on
    # a real cluster DNS answers anyone, so every service account may read what it tells.
    "system:daskhub-lite:cluster-dns": ([_r('""', "services endpoints", "get")], {}, ""),
}

# name -> subjects, as (kind, name[, namespace])
_BINDINGS: dict[str, list[tuple[str, ...]]] = {
    "cluster-admin": [("Group", "system:masters")],
    "system:basic-user": [("Group", "system:authenticated")],
    "system:discovery": [("Group", "system:authenticated")],
    "system:public-info-viewer": [("Group", "system:authenticated"),
                                  ("Group", "system:unauthenticated")],
    "system:kube-controller-manager": [("User", "system:kube-controller-manager")],
    "system:kube-dns": [("ServiceAccount", "kube-dns", "kube-system")],
    "system:kube-scheduler": [("User", "system:kube-scheduler")],
    "system:monitoring": [("Group", "system:monitoring")],
    # Kept without subjects, as Kubernetes keeps it since the Node authorizer replaced it.
    "system:node": [],
    "system:node-proxier": [("User", "system:kube-proxy")],
    "system:service-account-issuer-discovery": [("Group", "system:serviceaccounts")],
    "system:volume-scheduler": [("User", "system:kube-scheduler")],
    "system:daskhub-lite:cluster-dns": [("Group", "system:serviceaccounts")],
}


def _metadata(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "labels": {**BOOTSTRAPPING, **labels},
            "annotations": {AUTOUPDATE: "true"}}


def _subject(kind: str, name: str, namespace: str = "") -> dict[str, str]:
    if kind == "ServiceAccount":
        return {"kind": kind, "name": name, "namespace": namespace}
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name}


def _granted_by_strategies() -> dict[str, list[dict[str, Any]]]:
    """system:aggregate-to-<role> name -> the rules kinds' strategies ask for (`grants`),
    one rule per group and verbs, the resources in the registry's order."""
    from orchestrator.api import strategies  # the strategies' rule modules are below us

    resources: dict[tuple[str, str, str], list[str]] = {}
    for strategy in strategies.STRATEGIES:
        for role, verbs in strategy.grants:
            resources.setdefault((role, strategy.group, verbs), []).append(strategy.plural)
    out: dict[str, list[dict[str, Any]]] = {}
    for (role, group, verbs), plurals in resources.items():
        out.setdefault(f"system:aggregate-to-{role}", []).append(
            _r(group or '""', " ".join(plurals), verbs))
    return out


def default_cluster_roles() -> list[dict[str, Any]]:
    out = []
    granted = _granted_by_strategies()
    for name, (rules, labels, aggregate) in _ROLES.items():
        role: dict[str, Any] = {"apiVersion": "rbac.authorization.k8s.io/v1",
                                "kind": "ClusterRole", "metadata": _metadata(name, labels),
                                "rules": copy.deepcopy(rules) + granted.get(name, [])}
        if aggregate:
            role["aggregationRule"] = {"clusterRoleSelectors": [
                {"matchLabels": {AGGREGATE_TO + aggregate: "true"}}]}
        out.append(role)
    return out


def default_cluster_role_bindings() -> list[dict[str, Any]]:
    out = []
    for name, subjects in _BINDINGS.items():
        binding: dict[str, Any] = {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": _metadata(name, {}),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": name}}
        if subjects:
            binding["subjects"] = [_subject(*s) for s in subjects]
        out.append(binding)
    return out
