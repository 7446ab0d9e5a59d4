"""RBAC escalation prevention: nobody grants permissions they do not hold, as kube-apiserver's
RBAC registry refuses it (403, `... is attempting to grant RBAC permissions not currently
held:`), unless they hold `escalate` (roles) or `bind` (bindings) on the role.

The attackers are a namespace admin (a tenant bound to `admin` in its own namespace) and the
hub (a service account with DaskHub's hub rights: create RoleBindings, `bind` on `edit`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from orchestrator import ControlPlane
from tests.conftest import Kubectl
from tests.tenants import Tenant, make_tenant

RBAC = "/apis/rbac.authorization.k8s.io/v1"
EVERYTHING = {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}
HUB_SETUP = """
apiVersion: v1
kind: Namespace
metadata: {name: hub}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: hub, namespace: hub}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: test-hub}
rules:
  - apiGroups: [""]
    resources: [namespaces, serviceaccounts]
    verbs: [get, create]
  - apiGroups: [rbac.authorization.k8s.io]
    resources: [rolebindings]
    verbs: [get, create]
  - apiGroups: [rbac.authorization.k8s.io]
    resources: [clusterroles]
    verbs: [bind]
    resourceNames: [edit]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: test-hub}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: test-hub}
subjects: [{kind: ServiceAccount, name: hub, namespace: hub}]
"""


def _groups(ns: str) -> str:
    return f'(groups=["system:serviceaccounts" "system:serviceaccounts:{ns}" ' \
           '"system:authenticated"])'


def _not_held(kind: str, name: str, ns: str, account: str, missing: list[str]) -> str:
    """kube's message when `system:serviceaccount:<ns>:<account>` grants `missing`."""
    return (f'{kind}.rbac.authorization.k8s.io "{name}" is forbidden: user '
            f'"system:serviceaccount:{ns}:{account}" {_groups(ns)} is attempting to grant '
            "RBAC permissions not currently held:\n" + "\n".join(missing))


CLUSTER_ADMIN_RULES = ['{APIGroups:["*"], Resources:["*"], Verbs:["*"]}',
                       '{NonResourceURLs:["*"], Verbs:["*"]}']


class API:
    """Raw requests with one bearer token: the Status bodies are what is asserted."""

    def __init__(self, cp: ControlPlane, token: str) -> None:
        self.cp = cp
        self.headers = {"Authorization": f"Bearer {token}"}

    def post(self, path: str, body: dict[str, Any], **params: str) -> requests.Response:
        return requests.post(self.cp.url + path, json=body, params=params,
                             headers=self.headers, verify=self.cp.ca_file)

    def put(self, path: str, body: dict[str, Any]) -> requests.Response:
        return requests.put(self.cp.url + path, json=body, headers=self.headers,
                            verify=self.cp.ca_file)

    def get(self, path: str) -> requests.Response:
        return requests.get(self.cp.url + path, headers=self.headers, verify=self.cp.ca_file)


def _role(name: str, rules: list[dict[str, Any]], kind: str = "Role") -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
            "metadata": {"name": name}, "rules": rules}


def _binding(name: str, role_kind: str, role: str, ns: str = "",
             kind: str = "RoleBinding") -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind,
                        "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": "jupyter", "namespace": ns}]}


def _assert_forbidden(resp: requests.Response, message: str) -> None:
    assert resp.status_code == 403, resp.text
    status = resp.json()
    assert status["reason"] == "Forbidden"
    assert status["message"] == message


@pytest.fixture(scope="module")
def ns_admin(control_plane: ControlPlane, kubectl: Kubectl,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenant]:
    tenant = make_tenant(control_plane, kubectl, "esc-admin", tmp_path_factory.mktemp("t"),
                         role="admin")
    yield tenant
    kubectl.run("delete", "namespace", tenant.namespace, "--wait=false")


@pytest.fixture(scope="module")
def hub(control_plane: ControlPlane, kubectl: Kubectl) -> Iterator[API]:
    kubectl.run("apply", "-f", "-", input=HUB_SETUP)
    token = kubectl.run("create", "token", "hub", "-n", "hub").stdout.strip()
    yield API(control_plane, token)
    kubectl.run("delete", "namespace", "hub", "--wait=false")
    kubectl.run("delete", "clusterrolebinding,clusterrole", "test-hub")


def test_namespace_admin_cannot_bind_cluster_admin(control_plane: ControlPlane,
                                                   ns_admin: Tenant) -> None:
    api = API(control_plane, ns_admin.token)
    ns = ns_admin.namespace
    resp = api.post(f"{RBAC}/namespaces/{ns}/rolebindings",
                    _binding("root", "ClusterRole", "cluster-admin", ns))
    _assert_forbidden(resp, _not_held("rolebindings", "root", ns, "jupyter",
                                      CLUSTER_ADMIN_RULES))
    assert api.get(f"{RBAC}/namespaces/{ns}/rolebindings/root").status_code == 404
    # A dry run is refused alike.
    dry = api.post(f"{RBAC}/namespaces/{ns}/rolebindings",
                   _binding("root", "ClusterRole", "cluster-admin", ns), dryRun="All")
    assert dry.status_code == 403


def test_namespace_admin_cannot_write_a_role_granting_everything(
        control_plane: ControlPlane, ns_admin: Tenant) -> None:
    api = API(control_plane, ns_admin.token)
    ns = ns_admin.namespace
    resp = api.post(f"{RBAC}/namespaces/{ns}/roles", _role("all", [EVERYTHING]))
    _assert_forbidden(resp, _not_held("roles", "all", ns, "jupyter",
                                      ['{APIGroups:["*"], Resources:["*"], Verbs:["*"]}']))
    # kubectl shows kube's message as is.
    denied = ns_admin.kubectl.run("create", "role", "all", "-n", ns, "--verb=*",
                                  "--resource=*.*", check=False)
    assert denied.returncode != 0
    assert ('roles.rbac.authorization.k8s.io "all" is forbidden: user '
            f'"system:serviceaccount:{ns}:jupyter"' in denied.stderr)
    assert "is attempting to grant RBAC permissions not currently held:" in denied.stderr


def test_namespace_admin_cannot_widen_a_role_by_update(control_plane: ControlPlane,
                                                       ns_admin: Tenant) -> None:
    api = API(control_plane, ns_admin.token)
    ns = ns_admin.namespace
    mine = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]
    created = api.post(f"{RBAC}/namespaces/{ns}/roles", _role("reader", mine))
    assert created.status_code == 201, created.text
    widened = created.json()
    widened["rules"].append({"apiGroups": [""], "resources": ["nodes", "pods/status"],
                             "verbs": ["update", "patch"]})
    resp = api.put(f"{RBAC}/namespaces/{ns}/roles/reader", widened)
    _assert_forbidden(resp, _not_held("roles", "reader", ns, "jupyter", [
        '{APIGroups:[""], Resources:["nodes"], Verbs:["update" "patch"]}',
        '{APIGroups:[""], Resources:["pods/status"], Verbs:["update" "patch"]}']))
    # Through kubectl apply (a patch) too.
    applied = ns_admin.kubectl.run("apply", "-f", "-", check=False, input=f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: reader, namespace: {ns}}}
rules: [{{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}}]
""")
    assert applied.returncode != 0
    assert "is attempting to grant RBAC permissions not currently held" in applied.stderr
    current = api.get(f"{RBAC}/namespaces/{ns}/roles/reader").json()
    assert current["rules"] == mine


def test_namespace_admin_may_grant_what_it_holds(control_plane: ControlPlane,
                                                 ns_admin: Tenant) -> None:
    api = API(control_plane, ns_admin.token)
    ns = ns_admin.namespace
    for role in ("edit", "view", "admin"):
        resp = api.post(f"{RBAC}/namespaces/{ns}/rolebindings",
                        _binding(f"peer-{role}", "ClusterRole", role, ns))
        assert resp.status_code == 201, resp.text
    subset = [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]}]
    resp = api.post(f"{RBAC}/namespaces/{ns}/roles", _role("deployer", subset))
    assert resp.status_code == 201, resp.text
    resp = api.post(f"{RBAC}/namespaces/{ns}/rolebindings",
                    _binding("deployer", "Role", "deployer", ns))
    assert resp.status_code == 201, resp.text


def test_binding_a_missing_role_is_not_found(control_plane: ControlPlane,
                                             ns_admin: Tenant) -> None:
    api = API(control_plane, ns_admin.token)
    ns = ns_admin.namespace
    resp = api.post(f"{RBAC}/namespaces/{ns}/rolebindings",
                    _binding("ghost", "ClusterRole", "no-such-role", ns))
    assert resp.status_code == 404, resp.text
    assert resp.json()["message"] == (
        'clusterroles.rbac.authorization.k8s.io "no-such-role" not found')


def test_hub_binds_edit_but_not_cluster_admin(control_plane: ControlPlane, hub: API,
                                              kubectl: Kubectl) -> None:
    kubectl.run("create", "namespace", "hub-user-a")
    try:
        ok = hub.post(f"{RBAC}/namespaces/hub-user-a/rolebindings",
                      _binding("user-edit", "ClusterRole", "edit", "hub-user-a"))
        assert ok.status_code == 201, ok.text
        resp = hub.post(f"{RBAC}/namespaces/hub-user-a/rolebindings",
                        _binding("user-root", "ClusterRole", "cluster-admin", "hub-user-a"))
        _assert_forbidden(resp, _not_held("rolebindings", "user-root", "hub", "hub",
                                          CLUSTER_ADMIN_RULES))
    finally:
        kubectl.run("delete", "namespace", "hub-user-a", "--wait=false")


def test_holders_of_escalate_and_bind_may(control_plane: ControlPlane, kubectl: Kubectl,
                                          tmp_path: Path) -> None:
    tenant = make_tenant(control_plane, kubectl, "esc-power", tmp_path, role="admin")
    ns = tenant.namespace
    api = API(control_plane, tenant.token)
    try:
        kubectl.run("apply", "-f", "-", input=f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: escalator, namespace: {ns}}}
rules:
  - apiGroups: [rbac.authorization.k8s.io]
    resources: [roles]
    verbs: [escalate]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: escalator, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: escalator}}
subjects: [{{kind: ServiceAccount, name: jupyter, namespace: {ns}}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: esc-power-bind-cluster-admin}}
rules:
  - apiGroups: [rbac.authorization.k8s.io]
    resources: [clusterroles]
    verbs: [bind]
    resourceNames: [cluster-admin]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: binder, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole,
          name: esc-power-bind-cluster-admin}}
subjects: [{{kind: ServiceAccount, name: jupyter, namespace: {ns}}}]
""")
        resp = api.post(f"{RBAC}/namespaces/{ns}/roles", _role("all", [EVERYTHING]))
        assert resp.status_code == 201, resp.text
        resp = api.post(f"{RBAC}/namespaces/{ns}/rolebindings",
                        _binding("root", "ClusterRole", "cluster-admin", ns))
        assert resp.status_code == 201, resp.text
        # `bind` in this namespace only: a ClusterRoleBinding is still refused.
        resp = api.post(f"{RBAC}/clusterrolebindings",
                        _binding("esc-power-root", "ClusterRole", "cluster-admin", ns,
                                 kind="ClusterRoleBinding"))
        assert resp.status_code == 403, resp.text
    finally:
        kubectl.run("delete", "namespace", ns, "--wait=false")
        kubectl.run("delete", "clusterrole", "esc-power-bind-cluster-admin")


def test_aggregation_rule_needs_cluster_admin(control_plane: ControlPlane, kubectl: Kubectl
                                              ) -> None:
    kubectl.run("apply", "-f", "-", input="""
apiVersion: v1
kind: ServiceAccount
metadata: {name: role-writer, namespace: default}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: test-role-writer}
rules:
  - apiGroups: [rbac.authorization.k8s.io]
    resources: [clusterroles]
    verbs: [create, update, get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: test-role-writer}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: test-role-writer}
subjects: [{kind: ServiceAccount, name: role-writer, namespace: default}]
""")
    try:
        token = kubectl.run("create", "token", "role-writer", "-n", "default").stdout.strip()
        api = API(control_plane, token)
        gatherer = _role("test-gatherer", [], kind="ClusterRole")
        gatherer["aggregationRule"] = {"clusterRoleSelectors": [
            {"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}}]}
        resp = api.post(f"{RBAC}/clusterroles", gatherer)
        _assert_forbidden(resp, 'clusterroles.rbac.authorization.k8s.io "test-gatherer" is '
                                "forbidden: must have cluster-admin privileges to use the "
                                "aggregationRule")
        # A plain role within its rights is fine.
        resp = api.post(f"{RBAC}/clusterroles", _role("test-plain", [
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
             "verbs": ["get"]}], kind="ClusterRole"))
        assert resp.status_code == 201, resp.text
    finally:
        kubectl.run("delete", "clusterrolebinding", "test-role-writer")
        kubectl.run("delete", "clusterrole", "test-role-writer", "test-plain",
                    "--ignore-not-found")
        kubectl.run("delete", "serviceaccount", "role-writer", "-n", "default")


def test_role_ref_cannot_change(control_plane: ControlPlane, kubectl: Kubectl) -> None:
    kubectl.run("create", "rolebinding", "fixed-ref", "-n", "default", "--clusterrole=view",
                "--serviceaccount=default:default")
    try:
        changed = kubectl.run("create", "rolebinding", "fixed-ref", "-n", "default",
                              "--clusterrole=edit", "--serviceaccount=default:default",
                              "--dry-run=client", "-o", "yaml").stdout
        resp = kubectl.run("replace", "-f", "-", input=changed, check=False)
        assert resp.returncode != 0
        assert "roleRef: Invalid value" in resp.stderr and "cannot change roleRef" in resp.stderr
    finally:
        kubectl.run("delete", "rolebinding", "fixed-ref", "-n", "default")
