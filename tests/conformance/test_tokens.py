"""Service-account tokens as kube-apiserver checks them: bound tokens die with their object,
a token for another audience does not authenticate here, a bad token is 401 on every path
(`/version` included), and only a request without credentials is anonymous."""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
import requests

from orchestrator import ControlPlane
from tests.conftest import Kubectl, wait_for

API_AUDIENCE = "https://kubernetes.default.svc.cluster.local"
NS = "tokens"
SETUP = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {NS}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: runner, namespace: {NS}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: runner-view, namespace: {NS}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}}
subjects: [{{kind: ServiceAccount, name: runner, namespace: {NS}}}]
"""
POD = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: tokens}}
spec:
  serviceAccountName: {account}
  schedulerName: nobody   # never scheduled: only its API object matters here
  containers: [{{name: c, image: busybox}}]
"""


@pytest.fixture(scope="module")
def setup(kubectl: Kubectl) -> Iterator[None]:
    kubectl.run("apply", "-f", "-", input=SETUP)
    yield
    kubectl.run("delete", "namespace", NS, "--wait=false")


def _get(cp: ControlPlane, path: str, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.get(cp.url + path, headers=headers, verify=cp.ca_file)


def _pods(cp: ControlPlane, token: str) -> int:
    return _get(cp, f"/api/v1/namespaces/{NS}/pods", token).status_code


def _review(cp: ControlPlane, token: str, audiences: list[str] | None = None
            ) -> dict[str, Any]:
    """A TokenReview, as Vault or a webhook posts it (here with the admin's token)."""
    spec: dict[str, Any] = {"token": token}
    if audiences is not None:
        spec["audiences"] = audiences
    resp = requests.post(cp.url + "/apis/authentication.k8s.io/v1/tokenreviews",
                         headers={"Authorization": f"Bearer {cp.token}"}, verify=cp.ca_file,
                         json={"apiVersion": "authentication.k8s.io/v1",
                               "kind": "TokenReview", "spec": spec})
    assert resp.status_code == 201, resp.text
    status: dict[str, Any] = resp.json()["status"]
    return status


def test_a_deleted_pods_token_is_refused(control_plane: ControlPlane, kubectl: Kubectl,
                                         setup: None) -> None:
    kubectl.run("apply", "-f", "-", input=POD.format(name="bound", account="runner"))
    token = kubectl.run("create", "token", "runner", "-n", NS, "--bound-object-kind", "Pod",
                        "--bound-object-name", "bound").stdout.strip()
    assert _pods(control_plane, token) == 200
    kubectl.run("delete", "pod", "bound", "-n", NS, "--grace-period=0", "--force")
    wait_for(lambda: _pods(control_plane, token) == 401)
    review = _review(control_plane, token)
    assert review["authenticated"] is False
    assert review["error"] == "service account token has been invalidated"
    # A new pod of the same name is another object: the token stays dead.
    kubectl.run("apply", "-f", "-", input=POD.format(name="bound", account="runner"))
    assert _pods(control_plane, token) == 401


def test_a_deleted_secrets_token_is_refused(control_plane: ControlPlane, kubectl: Kubectl,
                                            setup: None) -> None:
    kubectl.run("create", "secret", "generic", "anchor", "-n", NS, "--from-literal=a=b")
    token = kubectl.run("create", "token", "runner", "-n", NS, "--bound-object-kind", "Secret",
                        "--bound-object-name", "anchor").stdout.strip()
    assert _pods(control_plane, token) == 200
    kubectl.run("delete", "secret", "anchor", "-n", NS)
    assert _pods(control_plane, token) == 401


def test_binding_a_token_checks_the_object(control_plane: ControlPlane, kubectl: Kubectl,
                                           setup: None) -> None:
    kubectl.run("apply", "-f", "-", input=POD.format(name="other-sa", account="default"))
    wrong = kubectl.run("create", "token", "runner", "-n", NS, "--bound-object-kind", "Pod",
                        "--bound-object-name", "other-sa", check=False)
    assert wrong.returncode != 0
    assert ('cannot bind token for serviceaccount "runner" to pod running with different '
            'serviceaccount name.' in wrong.stderr)
    missing = kubectl.run("create", "token", "runner", "-n", NS, "--bound-object-kind", "Pod",
                          "--bound-object-name", "nope", check=False)
    assert missing.returncode != 0 and 'pods "nope" not found' in missing.stderr
    stale = kubectl.run("create", "token", "runner", "-n", NS, "--bound-object-kind", "Pod",
                        "--bound-object-name", "other-sa", "--bound-object-uid", "0000",
                        check=False)
    assert stale.returncode != 0
    assert "the UID in the bound object reference (0000) does not match" in stale.stderr
    # A TokenReview tells which pod a bound token stands for.
    kubectl.run("apply", "-f", "-", input=POD.format(name="mine", account="runner"))
    uid = kubectl.json("get", "pod", "mine", "-n", NS)["metadata"]["uid"]
    token = kubectl.run("create", "token", "runner", "-n", NS, "--bound-object-kind", "Pod",
                        "--bound-object-name", "mine", "--bound-object-uid", uid
                        ).stdout.strip()
    extra = _review(control_plane, token)["user"]["extra"]
    assert extra["authentication.kubernetes.io/pod-name"] == ["mine"]
    assert extra["authentication.kubernetes.io/pod-uid"] == [uid]
    assert extra["authentication.kubernetes.io/credential-id"][0].startswith("JTI=")


def test_a_token_for_another_audience_is_refused(control_plane: ControlPlane,
                                                  kubectl: Kubectl, setup: None) -> None:
    token = kubectl.run("create", "token", "runner", "-n", NS, "--audience",
                        "https://vault.example.com").stdout.strip()
    assert _pods(control_plane, token) == 401
    here = _review(control_plane, token)
    assert here["authenticated"] is False
    assert here["error"] == ('token audiences ["https://vault.example.com"] is invalid for '
                             f'the target audiences ["{API_AUDIENCE}"]')
    # What Vault would ask: is this token good for me?
    theirs = _review(control_plane, token, ["https://vault.example.com", "other"])
    assert theirs["authenticated"] is True
    assert theirs["audiences"] == ["https://vault.example.com"]
    assert theirs["user"]["username"] == f"system:serviceaccount:{NS}:runner"
    # And a token for this server is not good for Vault.
    ours = kubectl.run("create", "token", "runner", "-n", NS).stdout.strip()
    assert _review(control_plane, ours)["audiences"] == [API_AUDIENCE]
    assert _review(control_plane, ours, ["https://vault.example.com"])["authenticated"] is False


def test_a_bad_token_is_401_everywhere(control_plane: ControlPlane, kubectl: Kubectl,
                                       setup: None) -> None:
    for path in ("/version", "/version/", "/healthz", "/readyz", "/api", "/apis",
                 f"/api/v1/namespaces/{NS}/pods"):
        resp = _get(control_plane, path, "not-a-token")
        assert resp.status_code == 401, path
        assert resp.json()["reason"] == "Unauthorized"
    expired_sa = kubectl.run("create", "token", "runner", "-n", NS).stdout.strip()
    kubectl.run("delete", "serviceaccount", "runner", "-n", NS)
    try:
        assert _get(control_plane, "/version", expired_sa).status_code == 401
    finally:
        kubectl.run("apply", "-f", "-", input=SETUP)


def test_no_token_is_anonymous_on_public_paths_only(control_plane: ControlPlane,
                                                    kubectl: Kubectl) -> None:
    version = _get(control_plane, "/version", None)
    assert version.status_code == 200 and "gitVersion" in version.json()
    assert _get(control_plane, "/healthz", None).status_code == 200
    assert _get(control_plane, "/api", None).status_code == 401
    # It is RBAC that lets anonymous in (system:public-info-viewer): without the binding,
    # anonymous is forbidden, as on a real cluster.
    saved = kubectl.json("get", "clusterrolebinding", "system:public-info-viewer")
    kubectl.run("delete", "clusterrolebinding", "system:public-info-viewer")
    try:
        denied = _get(control_plane, "/version", None)
        assert denied.status_code == 403
        assert denied.json()["message"] == (
            'forbidden: User "system:anonymous" cannot get path "/version"')
    finally:
        for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
            saved["metadata"].pop(key, None)
        kubectl.run("create", "-f", "-", input=json.dumps(saved))
    assert _get(control_plane, "/version", None).status_code == 200


def test_token_review_needs_a_token(control_plane: ControlPlane) -> None:
    empty = requests.post(control_plane.url + "/apis/authentication.k8s.io/v1/tokenreviews",
                          headers={"Authorization": f"Bearer {control_plane.token}"},
                          verify=control_plane.ca_file,
                          json={"apiVersion": "authentication.k8s.io/v1",
                                "kind": "TokenReview", "spec": {}})
    assert empty.status_code == 400
    assert empty.json()["message"] == "token is required for TokenReview in authentication"
