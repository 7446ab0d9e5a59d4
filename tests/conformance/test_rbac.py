"""Service-account tokens and RBAC on the embedded API server, through kubectl."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import yaml

from orchestrator import ControlPlane
from tests.conftest import Kubectl

SETUP = """
apiVersion: v1
kind: Namespace
metadata: {name: alice}
---
apiVersion: v1
kind: Namespace
metadata: {name: bob}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: jupyter, namespace: alice}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: jupyter-edit, namespace: alice}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{kind: ServiceAccount, name: jupyter, namespace: alice}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: private, namespace: bob}
data: {k: v}
"""


def _as_user(cp: ControlPlane, kubectl: Kubectl, token: str, tmp: Path) -> Kubectl:
    config = yaml.safe_load(open(cp.kubeconfig))
    config["users"][0]["user"] = {"token": token}
    path = tmp / "user-kubeconfig"
    path.write_text(yaml.safe_dump(config))

    class UserCP:
        kubeconfig = str(path)

    return Kubectl(UserCP(), kubectl.cache_dir.parent / "user-cache")  # type: ignore[arg-type]


def test_service_account_is_confined_to_its_namespace(control_plane: ControlPlane,
                                                      kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl.run("apply", "-f", "-", input=SETUP)
    token = kubectl.run("create", "token", "jupyter", "-n", "alice").stdout.strip()
    assert token.count(".") == 2
    user = _as_user(control_plane, kubectl, token, tmp_path)

    assert user.run("auth", "can-i", "create", "pods", "-n", "alice").stdout.strip() == "yes"
    assert user.run("auth", "can-i", "delete", "pods", "-n", "bob",
                    check=False).stdout.strip() == "no"
    assert "system:serviceaccount:alice:jupyter" in user.run("auth", "whoami").stdout

    user.run("create", "configmap", "mine", "-n", "alice", "--from-literal=a=b")
    denied = user.run("get", "configmap", "private", "-n", "bob", check=False)
    assert denied.returncode != 0
    assert ('configmaps "private" is forbidden: User "system:serviceaccount:alice:jupyter" '
            'cannot get resource "configmaps" in API group "" in the namespace "bob"'
            in denied.stderr)
    nodes = user.run("get", "nodes", check=False)
    assert nodes.returncode != 0 and "forbidden" in nodes.stderr


def test_deleting_the_account_revokes_its_tokens(control_plane: ControlPlane,
                                                  kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl.run("create", "namespace", "carol")
    kubectl.run("create", "serviceaccount", "temp", "-n", "carol")
    token = kubectl.run("create", "token", "temp", "-n", "carol").stdout.strip()
    user = _as_user(control_plane, kubectl, token, tmp_path)
    # Authenticated (the answer is "no", not an authentication error) until deleted.
    assert user.run("auth", "can-i", "get", "pods", "-n", "carol",
                    check=False).stdout.strip() == "no"
    kubectl.run("delete", "serviceaccount", "temp", "-n", "carol")
    gone = user.run("get", "pods", "-n", "carol", check=False)
    assert gone.returncode != 0 and "Unauthorized" in gone.stderr + gone.stdout


def test_admin_is_cluster_admin(kubectl: Kubectl) -> None:
    assert kubectl.run("auth", "can-i", "*", "*").stdout.strip() == "yes"
    review = kubectl.json("get", "clusterrolebinding", "cluster-admin")
    assert review["subjects"][0]["name"] == "system:masters"



def test_tampered_token_is_refused(control_plane: ControlPlane, kubectl: Kubectl,
                                   tmp_path: Path) -> None:
    token = kubectl.run("create", "token", "default", "-n", "default").stdout.strip()
    header, claims, signature = token.split(".")
    forged = json.loads(_unb64(claims))
    forged["kubernetes.io"]["namespace"] = "kube-system"
    tampered = ".".join([header, _b64(json.dumps(forged).encode()), signature])
    user = _as_user(control_plane, kubectl, tampered, tmp_path)
    refused = user.run("get", "pods", check=False)
    assert refused.returncode != 0 and "Unauthorized" in refused.stderr + refused.stdout


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_impersonation_follows_rbac(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", input=SETUP)
    as_sa = ["--as", "system:serviceaccount:alice:jupyter"]
    assert kubectl.run("auth", "can-i", "create", "pods", "-n", "alice", *as_sa
                       ).stdout.strip() == "yes"
    assert kubectl.run("auth", "can-i", "get", "secrets", "-n", "bob", *as_sa,
                       check=False).stdout.strip() == "no"
    denied = kubectl.run("get", "configmap", "private", "-n", "bob", *as_sa, check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr
