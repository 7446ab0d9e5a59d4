"""Hundreds of generated malformed requests: each gets a 4xx Status, none a 500, nothing is
written, and the server stays up."""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator import ControlPlane

PATHS = [
    "/api/v1/namespaces/default/configmaps",
    "/api/v1/namespaces/default/configmaps/base",
    "/api/v1/namespaces/default/pods",
    "/api/v1/namespaces/default/pods/p0",
    "/api/v1/namespaces/default/pods/p0/status",
    "/api/v1/namespaces/default/pods/p0/binding",
    "/api/v1/namespaces/default/pods/p0/log",
    "/api/v1/namespaces/default/pods/p0/ephemeralcontainers",
    "/api/v1/namespaces/default/pods/base/ephemeralcontainers",
    "/api/v1/namespaces/default/pods/base/exec",
    "/api/v1/namespaces/default/pods/base/attach",
    "/apis/apps/v1/namespaces/default/deployments",
    "/apis/apps/v1/namespaces/default/deployments/base",
    "/apis/apps/v1/namespaces/default/deployments/base/scale",
    "/apis/apps/v1/namespaces/nope/deployments",
    "/api/v1/namespaces",
    "/api/v1/nodes/n1",
    "/apis/batch/v1/namespaces/default/jobs",
    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
    "/apis/nonexistent.io/v1/things",
    "/api/v1/namespaces/default/configmaps/base/unknownsub",
    "/api/v1/namespaces/default/podtemplates",
    "/apis/certificates.k8s.io/v1/certificatesigningrequests",
    "/apis/certificates.k8s.io/v1/certificatesigningrequests/base",
    "/apis/certificates.k8s.io/v1/certificatesigningrequests/base/approval",
    "/apis/certificates.k8s.io/v1/certificatesigningrequests/base/status",
    "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
    "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
    "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies",
    "/apis/apiregistration.k8s.io/v1/apiservices",
    "/apis/storage.k8s.io/v1/csidrivers",
    "/apis/storage.k8s.io/v1/volumeattachments",
    "/openapi/v2",
]
CONTENT_TYPES = [
    "application/json", "application/yaml", "application/json-patch+json",
    "application/merge-patch+json", "application/strategic-merge-patch+json",
    "application/apply-patch+yaml", "application/vnd.kubernetes.protobuf", "text/plain",
    "application/x-www-form-urlencoded",
]
QUERY = [
    "", "?labelSelector=a%20in%20(", "?labelSelector=!!x", "?fieldSelector=spec.bogus=1",
    "?fieldValidation=Strict", "?fieldValidation=Bogus", "?limit=abc", "?continue=@@@",
    "?dryRun=Some", "?watch=1&resourceVersion=abc&timeoutSeconds=1", "?fieldManager=",
    "?gracePeriodSeconds=x", "?propagationPolicy=Sideways", "?force=true",
    "?command=sh&stdin=true&tty=true", "?stdout=false&stderr=false&container=nope",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["metadata", "spec", "kind", "apiVersion", "name",
                                       "data", "op", "path", "value", "status", "items",
                                       "containers", "replicas", "$patch", "selector"]),
                      children, max_size=5),
    max_leaves=25,
)


def _typed(kind: str, api_version: str) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(
        {"apiVersion": st.sampled_from([api_version, "v2", "apps/v1", ""]),
         "kind": st.sampled_from([kind, "Pod", "Deployment", ""])},
        optional={"metadata": json_values | st.fixed_dictionaries(
            {"name": st.sampled_from(["base", "UPPER", "a" * 300, "", "ok-name", "-x"]),
             "namespace": st.sampled_from(["default", "other", ""]),
             "resourceVersion": st.sampled_from(["1", "abc", "999999"])}),
                  "spec": json_values, "data": json_values},
    )


bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    _typed("ConfigMap", "v1").map(lambda v: json.dumps(v).encode()),
    _typed("Deployment", "apps/v1").map(lambda v: json.dumps(v).encode()),
    _typed("CertificateSigningRequest", "certificates.k8s.io/v1").map(
        lambda v: json.dumps(v).encode()),
    _typed("ValidatingWebhookConfiguration", "admissionregistration.k8s.io/v1").map(
        lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    st.just(b'{"a": [' * 2000),
    st.just(b"- - - : : {"),
)


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    # The API server alone: with no node, scheduler or controllers writing in the
    # background, any change of the global revision is the request under test writing.
    with ControlPlane(data_dir=tmp_path_factory.mktemp("cp"), components=()) as cp:
        yield cp


@pytest.fixture(scope="module")
def session(control_plane: ControlPlane) -> requests.Session:
    import yaml

    token = yaml.safe_load(open(control_plane.kubeconfig))["users"][0]["user"]["token"]
    s = requests.Session()
    s.verify = control_plane.ca_file
    s.trust_env = False  # REQUESTS_CA_BUNDLE would replace our CA
    s.headers["Authorization"] = f"Bearer {token}"
    base = control_plane.url
    s.post(f"{base}/api/v1/namespaces/default/configmaps",
           json={"metadata": {"name": "base"}, "data": {"a": "b"}})
    s.post(f"{base}/api/v1/namespaces/default/pods", json={
        "metadata": {"name": "base"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})
    s.post(f"{base}/apis/apps/v1/namespaces/default/deployments", json={
        "metadata": {"name": "base"},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
            "metadata": {"labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    s.post(f"{base}/apis/certificates.k8s.io/v1/certificatesigningrequests", json={
        "metadata": {"name": "base"}, "spec": {
            "request": _csr_request(), "signerName": "example.com/signer",
            "usages": ["client auth"]}})
    return s


def _csr_request() -> str:
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    request = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "base")])).sign(key, hashes.SHA256())
    return base64.b64encode(request.public_bytes(serialization.Encoding.PEM)).decode()


def _revision(s: requests.Session, base: str) -> str:
    return str(s.get(f"{base}/api/v1/namespaces").json()["metadata"]["resourceVersion"])


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(method=st.sampled_from(["POST", "PUT", "PATCH", "DELETE", "GET"]),
       path=st.sampled_from(PATHS), query=st.sampled_from(QUERY),
       ctype=st.sampled_from(CONTENT_TYPES), body=bodies)
def test_malformed_requests_get_a_status_and_write_nothing(
    session: requests.Session, control_plane: ControlPlane, method: str, path: str,
    query: str, ctype: str, body: bytes,
) -> None:
    base = control_plane.url
    before = _revision(session, base)
    resp = session.request(method, base + path + query, data=body,
                           headers={"Content-Type": ctype}, timeout=10)
    assert resp.status_code != 500 and resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        status = resp.json()
        assert status["kind"] == "Status" and status["code"] == resp.status_code
        assert status["message"]
        assert _revision(session, base) == before, f"{method} {path} wrote despite {status}"
    assert session.get(base + "/healthz").status_code == 200


def test_oversized_body_is_413(session: requests.Session, control_plane: ControlPlane) -> None:
    big = {"metadata": {"name": "big"}, "data": {"x": "y" * (3 * 1024 * 1024 + 10)}}
    resp = session.post(f"{control_plane.url}/api/v1/namespaces/default/configmaps", json=big)
    assert resp.status_code == 413
    assert resp.json()["reason"] == "RequestEntityTooLarge"


def test_unauthenticated_is_401(control_plane: ControlPlane) -> None:
    resp = requests.get(f"{control_plane.url}/api/v1/namespaces", verify=control_plane.ca_file)
    assert resp.status_code == 401 and resp.json()["reason"] == "Unauthorized"
    wrong = requests.get(f"{control_plane.url}/api/v1/namespaces", verify=control_plane.ca_file,
                         headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    health = requests.get(f"{control_plane.url}/healthz", verify=control_plane.ca_file)
    assert health.status_code == 200


def test_kind_mismatch_is_400(session: requests.Session, control_plane: ControlPlane) -> None:
    resp = session.post(f"{control_plane.url}/api/v1/namespaces/default/configmaps",
                        json={"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}})
    assert resp.status_code == 400
    assert "does not match the expected kind" in resp.json()["message"]


def test_bad_name_is_422_naming_the_field(session: requests.Session,
                                          control_plane: ControlPlane) -> None:
    resp = session.post(f"{control_plane.url}/api/v1/namespaces/default/configmaps",
                        json={"metadata": {"name": "Not_Valid"}})
    assert resp.status_code == 422
    assert resp.json()["details"]["causes"][0]["field"] == "metadata.name"


def test_strict_unknown_field_is_400(session: requests.Session,
                                     control_plane: ControlPlane) -> None:
    resp = session.post(
        f"{control_plane.url}/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
        json={"metadata": {"name": "strict"}, "bogus": 1})
    assert resp.status_code == 400
    assert 'unknown field "bogus"' in resp.json()["message"]
    warn = session.post(f"{control_plane.url}/api/v1/namespaces/default/configmaps",
                        json={"metadata": {"name": "warned"}, "bogus": 1})
    assert warn.status_code == 201
    assert "bogus" in warn.headers.get("Warning", "")
    assert "bogus" not in warn.json()


def test_nan_and_infinity_are_not_json(session: requests.Session,
                                       control_plane: ControlPlane) -> None:
    for literal in ("NaN", "Infinity", "-Infinity"):
        resp = session.post(
            f"{control_plane.url}/apis/apps/v1/namespaces/default/deployments",
            data='{"metadata": {"name": "nan"}, "spec": {"replicas": %s}}' % literal,
            headers={"Content-Type": "application/json"})
        assert resp.status_code == 400, (literal, resp.text)
        assert "could not be decoded as JSON" in resp.json()["message"]
    listed = session.get(f"{control_plane.url}/apis/apps/v1/namespaces/default/deployments")
    assert "nan" not in [d["metadata"]["name"] for d in listed.json()["items"]]
