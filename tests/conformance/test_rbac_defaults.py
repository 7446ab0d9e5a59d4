"""The default ClusterRoles are Kubernetes': `edit` may not write status, endpoints or quotas
(writing a pod's `status.podIP` was the first step of reaching host ports through
pods/proxy), `view` may not proxy, and `admin`/`edit`/`view` are aggregated from the
labelled `system:aggregate-to-*` roles, so a CRD installer's role reaches them."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import requests
import yaml

from orchestrator import ControlPlane
from tests.conftest import Kubectl, wait_for
from tests.tenants import Tenant, make_tenant

# What `kubectl get clusterroles` shows on a fresh cluster and clients rely on.
KUBERNETES_ROLES = [
    "cluster-admin", "admin", "edit", "view", "system:aggregate-to-admin",
    "system:aggregate-to-edit", "system:aggregate-to-view", "system:auth-delegator",
    "system:basic-user", "system:discovery", "system:public-info-viewer", "system:heapster",
    "system:kube-aggregator", "system:kube-controller-manager", "system:kube-dns",
    "system:kube-scheduler", "system:volume-scheduler", "system:node", "system:node-proxier",
    "system:node-bootstrapper", "system:monitoring", "system:kubelet-api-admin",
    "system:persistent-volume-provisioner", "system:service-account-issuer-discovery",
    "system:certificates.k8s.io:kube-apiserver-client-approver",
]
POD = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {ns}}}
spec:
  schedulerName: nobody   # never scheduled: only its API object matters here
  containers: [{{name: c, image: busybox, command: [sleep, "3600"]}}]
"""


@pytest.fixture(scope="module")
def editor(control_plane: ControlPlane, kubectl: Kubectl,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenant]:
    tenant = make_tenant(control_plane, kubectl, "defaults-edit", tmp_path_factory.mktemp("e"))
    yield tenant
    kubectl.run("delete", "namespace", tenant.namespace, "--wait=false")


@pytest.fixture(scope="module")
def viewer(control_plane: ControlPlane, kubectl: Kubectl,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenant]:
    tenant = make_tenant(control_plane, kubectl, "defaults-view", tmp_path_factory.mktemp("v"),
                         role="view")
    yield tenant
    kubectl.run("delete", "namespace", tenant.namespace, "--wait=false")


def _can(tenant: Tenant, *args: str) -> str:
    return tenant.kubectl.run("auth", "can-i", *args, "-n", tenant.namespace,
                              check=False).stdout.strip()


def _may(cp: ControlPlane, tenant: Tenant, verb: str, group: str, resource: str) -> bool:
    """A SelfSubjectAccessReview (kubectl can-i cannot name a group the server lacks)."""
    resp = requests.post(
        cp.url + "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        headers={"Authorization": f"Bearer {tenant.token}"}, verify=cp.ca_file,
        json={"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": {"resourceAttributes": {"namespace": tenant.namespace, "verb": verb,
                                              "group": group, "resource": resource}}})
    assert resp.status_code == 201, resp.text
    return bool(resp.json()["status"]["allowed"])


def test_the_kubernetes_default_roles_exist(kubectl: Kubectl) -> None:
    names = kubectl.run("get", "clusterroles", "-o", "name").stdout.split()
    assert {f"clusterrole.rbac.authorization.k8s.io/{n}" for n in KUBERNETES_ROLES} <= set(names)
    edit = kubectl.json("get", "clusterrole", "edit")
    assert edit["aggregationRule"] == {"clusterRoleSelectors": [
        {"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}}]}
    assert edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-admin"] == "true"
    binding = kubectl.json("get", "clusterrolebinding", "system:public-info-viewer")
    assert {s["name"] for s in binding["subjects"]} == {"system:authenticated",
                                                         "system:unauthenticated"}


def test_edit_cannot_write_status_or_endpoints(editor: Tenant) -> None:
    for args in (("update", "pods", "--subresource=status"),
                 ("patch", "pods", "--subresource=status"),
                 ("patch", "services", "--subresource=status"),
                 ("update", "namespaces", "--subresource=status"),
                 ("create", "endpoints"), ("update", "endpoints"),
                 ("create", "resourcequotas"), ("create", "limitranges"),
                 ("create", "rolebindings"), ("get", "nodes")):
        assert _can(editor, *args) == "no", args
    for args in (("create", "pods"), ("create", "pods", "--subresource=exec"),
                 ("get", "pods", "--subresource=proxy"), ("create", "secrets"),
                 ("create", "serviceaccounts", "--subresource=token"),
                 ("patch", "deployments.apps", "--subresource=scale"), ("create", "jobs.batch"),
                 ("get", "pods", "--subresource=status"), ("list", "endpoints")):
        assert _can(editor, *args) == "yes", args


def test_edit_cannot_move_its_pod_to_loopback(editor: Tenant) -> None:
    ns = editor.namespace
    editor.kubectl.run("apply", "-f", "-", input=POD.format(name="victim", ns=ns))
    moved = editor.kubectl.run("patch", "pod", "victim", "-n", ns, "--subresource=status",
                               "--type=merge", "-p", '{"status":{"podIP":"127.0.0.1"}}',
                               check=False)
    assert moved.returncode != 0
    assert (f'pods "victim" is forbidden: User "system:serviceaccount:{ns}:jupyter" cannot '
            f'patch resource "pods/status" in API group "" in the namespace "{ns}"'
            in moved.stderr)
    endpoints = editor.kubectl.run("apply", "-f", "-", check=False, input=f"""
apiVersion: v1
kind: Endpoints
metadata: {{name: host, namespace: {ns}}}
subsets: [{{addresses: [{{ip: 127.0.0.1}}], ports: [{{port: 22}}]}}]
""")
    assert endpoints.returncode != 0 and "forbidden" in endpoints.stderr


def test_view_cannot_proxy_or_read_secrets(viewer: Tenant) -> None:
    for args in (("get", "pods", "--subresource=proxy"),
                 ("create", "pods", "--subresource=proxy"),
                 ("get", "services", "--subresource=proxy"), ("get", "secrets"),
                 ("create", "pods", "--subresource=portforward"),
                 ("create", "pods", "--subresource=exec")):
        assert _can(viewer, *args) == "no", args
    for args in (("get", "pods"), ("get", "pods", "--subresource=log"),
                 ("list", "deployments.apps"),
                 ("get", "services", "--subresource=status")):
        assert _can(viewer, *args) == "yes", args
    denied = viewer.kubectl.run("get", "--raw",
                                f"/api/v1/namespaces/{viewer.namespace}/pods/x/proxy/",
                                check=False)
    assert denied.returncode != 0
    assert 'cannot get resource "pods/proxy"' in denied.stderr


def test_a_labelled_role_reaches_edit_view_and_admin(control_plane: ControlPlane,
                                                     kubectl: Kubectl, editor: Tenant,
                                                     viewer: Tenant) -> None:
    kubectl.run("apply", "-f", "-", input="""
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: widgets-edit
  labels: {rbac.authorization.k8s.io/aggregate-to-edit: "true"}
rules:
  - apiGroups: [widgets.example.com]
    resources: [widgets]
    verbs: [create, delete, patch, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: widgets-view
  labels: {rbac.authorization.k8s.io/aggregate-to-view: "true"}
rules:
  - apiGroups: [widgets.example.com]
    resources: [widgets]
    verbs: [get, list, watch]
""")
    try:
        def holds(role: str, verb: str) -> bool:
            rules = kubectl.json("get", "clusterrole", role).get("rules") or []
            return any("widgets.example.com" in r.get("apiGroups", []) and verb in r["verbs"]
                       for r in rules)

        wait_for(lambda: holds("edit", "create") and holds("edit", "list"))
        wait_for(lambda: holds("admin", "create") and holds("view", "list"))
        assert not holds("view", "create")
        assert _may(control_plane, editor, "create", "widgets.example.com", "widgets")
        assert _may(control_plane, viewer, "list", "widgets.example.com", "widgets")
        assert not _may(control_plane, viewer, "create", "widgets.example.com", "widgets")
    finally:
        kubectl.run("delete", "clusterrole", "widgets-edit", "widgets-view")
    # Taking the role away takes the rules away.
    wait_for(lambda: not any("widgets.example.com" in r.get("apiGroups", [])
                             for r in kubectl.json("get", "clusterrole", "edit")["rules"]))


def test_restart_takes_back_broad_old_defaults(tmp_path: Path) -> None:
    """A data dir from before: `edit` without aggregation, writing pods/status. The next
    start brings it back to Kubernetes' (unless its autoupdate annotation says false)."""
    with ControlPlane(data_dir=tmp_path / "cp", components=()) as cp:
        admin = Kubectl(cp, tmp_path / "cache")
        old_edit = admin.json("get", "clusterrole", "edit")
        old_edit.pop("aggregationRule")
        old_edit["rules"] = [{"apiGroups": [""], "resources": ["pods", "pods/status"],
                              "verbs": ["*"]}]
        admin.run("replace", "-f", "-", input=yaml.safe_dump(old_edit))
        custom = admin.json("get", "clusterrole", "view")
        custom["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"] = \
            "false"
        custom.pop("aggregationRule")
        custom["rules"] = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
        admin.run("replace", "-f", "-", input=yaml.safe_dump(custom))
    with ControlPlane(data_dir=tmp_path / "cp", components=()) as cp:
        admin = Kubectl(cp, tmp_path / "cache")
        edit = admin.json("get", "clusterrole", "edit")
        assert "aggregationRule" in edit
        assert not any("pods/status" in r.get("resources", []) and "update" in r["verbs"]
                       for r in edit["rules"])
        assert any("secrets" in r.get("resources", []) for r in edit["rules"])
        view = admin.json("get", "clusterrole", "view")
        assert view["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
