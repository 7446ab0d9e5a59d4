"""Escalation prevention and ClusterRole aggregation, as Kubernetes decides them (pure)."""

from __future__ import annotations

from typing import Any

from orchestrator.api.rbac import RBACState, UserInfo
from orchestrator.api.rbac_aggregation import aggregated_rules, plan
from orchestrator.api.rbac_defaults import default_cluster_role_bindings, default_cluster_roles
from orchestrator.api.rbac_escalation import (
    breakdown_rule,
    compact_rules,
    compact_string,
    covers,
    escalation_error,
)


def _rule(groups: list[str], resources: list[str], verbs: list[str],
          names: list[str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    if names:
        rule["resourceNames"] = names
    return rule


def _state(bindings: list[dict[str, Any]] = (), roles: list[dict[str, Any]] = ()
           ) -> RBACState:  # type: ignore[assignment]
    cluster_roles = {r["metadata"]["name"]: r for r in default_cluster_roles()}
    for _ in range(3):
        for role in cluster_roles.values():
            rules = aggregated_rules(role, cluster_roles.values())
            if rules is not None:
                role["rules"] = rules
    return RBACState({(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in roles},
                     cluster_roles, list(bindings), default_cluster_role_bindings())


def _bound(ns: str, kind: str, role: str) -> dict[str, Any]:
    return {"metadata": {"name": f"x-{role}", "namespace": ns},
            "roleRef": {"kind": kind, "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": "u", "namespace": ns}]}


def test_breakdown_and_cover() -> None:
    rule = _rule([""], ["pods", "pods/log"], ["get", "list"], ["a"])
    assert len(breakdown_rule(rule)) == 4
    assert covers([_rule(["*"], ["*"], ["*"])], [rule]) == (True, [])
    assert covers([_rule([""], ["*/log", "pods"], ["get", "list"])], [rule])[0]
    # `pods/*` is no wildcard for Covers either; names narrow what is owned.
    assert not covers([_rule([""], ["pods/*", "pods"], ["*"])], [rule])[0]
    assert not covers([_rule([""], ["pods", "pods/log"], ["*"], ["b"])], [rule])[0]
    ok, missing = covers([_rule([""], ["pods"], ["get"])], [_rule([""], ["pods"], ["get"])])
    assert ok and not missing
    urls = {"nonResourceURLs": ["/healthz", "/api/v1"], "verbs": ["get"]}
    assert covers([{"nonResourceURLs": ["/api/*", "/healthz"], "verbs": ["get"]}], [urls])[0]
    assert not covers([{"nonResourceURLs": ["/api"], "verbs": ["get"]}], [urls])[0]


def test_compact_message_matches_kube() -> None:
    _, missing = covers([], [_rule([""], ["nodes", "pods/status"], ["update", "patch"]),
                             {"nonResourceURLs": ["*"], "verbs": ["*"]}])
    assert sorted(compact_string(r) for r in compact_rules(missing)) == [
        '{APIGroups:[""], Resources:["nodes"], Verbs:["update" "patch"]}',
        '{APIGroups:[""], Resources:["pods/status"], Verbs:["update" "patch"]}',
        '{NonResourceURLs:["*"], Verbs:["*"]}']
    assert compact_string(_rule(["apps"], ["deployments"], ["get"], ["web"])) == (
        '{APIGroups:["apps"], Resources:["deployments"], ResourceNames:["web"], Verbs:["get"]}')


def test_namespace_admin_grants_only_what_it_holds() -> None:
    user = UserInfo.service_account("team", "u")
    state = _state([_bound("team", "ClusterRole", "admin")])
    edit = state.cluster_roles["edit"]["rules"]
    assert escalation_error(user, "team", edit, state) is None
    assert escalation_error(user, "other", edit, state) is not None  # not in another namespace
    message = escalation_error(user, "team", [_rule(["*"], ["*"], ["*"])], state)
    assert message == (
        'user "system:serviceaccount:team:u" (groups=["system:serviceaccounts" '
        '"system:serviceaccounts:team" "system:authenticated"]) is attempting to grant RBAC '
        'permissions not currently held:\n{APIGroups:["*"], Resources:["*"], Verbs:["*"]}')


def test_resolution_errors_are_reported() -> None:
    user = UserInfo.service_account("team", "u")
    state = _state([_bound("team", "ClusterRole", "gone")])
    message = escalation_error(user, "team", [_rule([""], ["pods"], ["get"])], state)
    assert message is not None and message.endswith(
        '; resolution errors: [clusterroles.rbac.authorization.k8s.io "gone" not found]')


def test_default_edit_and_view_are_kubernetes() -> None:
    state = _state()
    edit, view = state.cluster_roles["edit"]["rules"], state.cluster_roles["view"]["rules"]
    status_writes = [_rule([""], ["pods/status"], ["update"]),
                     _rule([""], ["services/status"], ["patch"]),
                     _rule([""], ["namespaces/status"], ["update"]),
                     _rule([""], ["endpoints"], ["create"])]
    for rule in status_writes:
        assert not covers(edit, [rule])[0], rule
    assert not covers(view, [_rule([""], ["pods/proxy"], ["get"])])[0]
    assert not covers(view, [_rule([""], ["services/proxy"], ["get"])])[0]
    assert covers(edit, view)[0]  # edit aggregates view
    assert covers(state.cluster_roles["admin"]["rules"], edit)[0]


def test_aggregation_plan() -> None:
    target = {"metadata": {"name": "mine"}, "aggregationRule": {"clusterRoleSelectors": [
        {"matchLabels": {"team": "a"}}, {"matchExpressions": [
            {"key": "team", "operator": "In", "values": ["b"]}]}]}, "rules": []}
    a1 = {"metadata": {"name": "z-a", "labels": {"team": "a"}}, "rules": [
        _rule([""], ["pods"], ["get"])]}
    a2 = {"metadata": {"name": "a-a", "labels": {"team": "a"}}, "rules": [
        _rule([""], ["pods"], ["get"]), _rule([""], ["secrets"], ["get"])]}
    b = {"metadata": {"name": "b", "labels": {"team": "b"}}, "rules": [
        _rule(["apps"], ["deployments"], ["get"])]}
    other = {"metadata": {"name": "c", "labels": {"team": "c"}}, "rules": [
        _rule(["*"], ["*"], ["*"])]}
    wanted = plan(target, [target, a1, a2, b, other])
    assert wanted == [_rule([""], ["pods"], ["get"]), _rule([""], ["secrets"], ["get"]),
                      _rule(["apps"], ["deployments"], ["get"])]
    assert plan({**target, "rules": wanted}, [target, a1, a2, b, other]) is None
    assert plan({"metadata": {"name": "plain"}, "rules": []}, [a1]) is None
    broken = {**target, "aggregationRule": {"clusterRoleSelectors": [
        {"matchExpressions": [{"key": "x", "operator": "Bogus"}]}]}}
    assert plan(broken, [a1]) is None
