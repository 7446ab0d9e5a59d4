"""RBAC decisions and request attributes (pure)."""

from __future__ import annotations

from orchestrator.api.rbac import Attributes, RBACState, UserInfo, authorize, forbidden_message
from orchestrator.api.rbac_aggregation import aggregated_rules
from orchestrator.api.rbac_defaults import default_cluster_role_bindings, default_cluster_roles
from orchestrator.api.requestinfo import request_attributes


def _state(roles=(), bindings=(), cluster_bindings=()) -> RBACState:
    cluster_roles = {r["metadata"]["name"]: r for r in default_cluster_roles()}
    for _ in range(3):  # admin <- edit <- view, as the aggregation controller fills them
        for role in cluster_roles.values():
            rules = aggregated_rules(role, cluster_roles.values())
            if rules is not None:
                role["rules"] = rules
    return RBACState(
        {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in roles},
        cluster_roles, list(bindings),
        list(default_cluster_role_bindings()) + list(cluster_bindings))


def _binding(ns: str, role_kind: str, role: str, sa: str) -> dict:
    return {"metadata": {"name": f"{sa}-{role}", "namespace": ns},
            "roleRef": {"kind": role_kind, "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]}


def test_request_attributes_follow_kube_request_info() -> None:
    a = request_attributes("GET", "/api/v1/namespaces/alice/pods/p1/log", {})
    assert (a.verb, a.namespace, a.resource, a.name, a.subresource) == (
        "get", "alice", "pods", "p1", "log")
    assert request_attributes("GET", "/apis/apps/v1/deployments", {"watch": "1"}).verb == "watch"
    assert request_attributes("DELETE", "/api/v1/namespaces/a/pods", {}).verb == "deletecollection"
    ns = request_attributes("PUT", "/api/v1/namespaces/a/finalize", {})
    assert (ns.resource, ns.name, ns.subresource) == ("namespaces", "a", "finalize")
    assert request_attributes("GET", "/api/v1/namespaces/a/pods/p/exec", {}).verb == "create"
    assert not request_attributes("GET", "/apis", {}).resource_request


def test_edit_role_in_own_namespace_only() -> None:
    alice = UserInfo.service_account("alice", "jupyter")
    state = _state(bindings=[_binding("alice", "ClusterRole", "edit", "jupyter")])
    mine = Attributes("delete", "alice", "", "pods", name="x")
    theirs = Attributes("delete", "bob", "", "pods", name="x")
    assert authorize(alice, mine, state)[0]
    assert not authorize(alice, theirs, state)[0]
    hub_secret = Attributes("get", "hub", "", "secrets", name="hub-secret")
    assert not authorize(alice, hub_secret, state)[0]
    assert forbidden_message(alice, theirs) == (
        'pods "x" is forbidden: User "system:serviceaccount:alice:jupyter" cannot delete '
        'resource "pods" in API group "" in the namespace "bob"')


def test_view_cannot_read_secrets_or_exec() -> None:
    viewer = UserInfo.service_account("team", "viewer")
    state = _state(bindings=[_binding("team", "ClusterRole", "view", "viewer")])
    assert authorize(viewer, Attributes("list", "team", "apps", "deployments"), state)[0]
    assert not authorize(viewer, Attributes("get", "team", "", "secrets", name="s"), state)[0]
    assert not authorize(viewer, Attributes("create", "team", "", "pods", "exec", "p"), state)[0]


def test_role_rules_with_resource_names_and_subresources() -> None:
    role = {"metadata": {"name": "one-cm", "namespace": "ns"}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["settings"],
         "verbs": ["get"]},
        {"apiGroups": ["apps"], "resources": ["*/scale", "deployments/*"],
         "verbs": ["update"]}]}
    user = UserInfo.service_account("ns", "app")
    state = _state(roles=[role], bindings=[_binding("ns", "Role", "one-cm", "app")])
    assert authorize(user, Attributes("get", "ns", "", "configmaps", name="settings"), state)[0]
    assert not authorize(user, Attributes("get", "ns", "", "configmaps", name="other"), state)[0]
    assert authorize(user, Attributes("update", "ns", "apps", "deployments", "scale", "d"),
                     state)[0]
    assert not authorize(user, Attributes("update", "ns", "apps", "deployments", "", "d"),
                         state)[0]
    # As in Kubernetes, `deployments/*` is no wildcard; only `*/scale` matched above.
    assert not authorize(user, Attributes("update", "ns", "apps", "deployments", "status",
                                          "d"), state)[0]


def test_masters_and_discovery() -> None:
    admin = UserInfo("kubernetes-admin", ("system:masters", "system:authenticated"))
    anyone = UserInfo("someone", ("system:authenticated",))
    state = _state()
    assert authorize(admin, Attributes("delete", "x", "", "nodes", name="n"), state)[0]
    discovery = Attributes("get", path="/apis/apps/v1", resource_request=False)
    assert authorize(anyone, discovery, state)[0]
    assert not authorize(anyone, Attributes("list", "", "", "nodes"), state)[0]
