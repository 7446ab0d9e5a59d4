"""The cluster-administration APIs served with kube's validation, defaults and printer
columns: CertificateSigningRequests (with `kubectl certificate approve|deny`), APIServices,
webhook configurations and admission policies, PodTemplates and the CSI storage kinds."""

from __future__ import annotations

import base64
import json
from typing import Any, Iterator

import pytest
import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from orchestrator import ControlPlane
from tests.conftest import Kubectl, wait_for

CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
ADMISSION = "/apis/admissionregistration.k8s.io/v1"
STORAGE = "/apis/storage.k8s.io/v1"


@pytest.fixture(scope="module")
def api(control_plane: ControlPlane) -> k8s.ApiClient:
    return k8s_config.new_client_from_config(config_file=control_plane.kubeconfig)


@pytest.fixture(scope="module")
def session(control_plane: ControlPlane) -> Iterator[requests.Session]:
    token = yaml.safe_load(open(control_plane.kubeconfig))["users"][0]["user"]["token"]
    s = requests.Session()
    s.verify = control_plane.ca_file
    s.trust_env = False
    s.headers["Authorization"] = f"Bearer {token}"
    yield s
    s.close()


def csr_request(common_name: str) -> str:
    """A real PKCS#10 request, PEM, base64 as `spec.request` carries it."""
    key = ec.generate_private_key(ec.SECP256R1())
    request = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])).sign(key, hashes.SHA256())
    return base64.b64encode(request.public_bytes(serialization.Encoding.PEM)).decode()


def csr(name: str, **spec: Any) -> dict[str, Any]:
    body = {"request": csr_request(name), "signerName": "kubernetes.io/kube-apiserver-client",
            "expirationSeconds": 86400, "usages": ["client auth"], **spec}
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": name}, "spec": body}


def columns(kubectl: Kubectl, *args: str) -> list[list[str]]:
    return [line.split() for line in kubectl.run("get", *args).stdout.splitlines()]


# --- discovery ----------------------------------------------------------------------------
def test_kubectl_discovers_the_new_resources(kubectl: Kubectl) -> None:
    rows = {line.split()[0]: line.split() for line in
            kubectl.run("api-resources", "--no-headers").stdout.splitlines()}
    assert rows["certificatesigningrequests"][1:] == [
        "csr", "certificates.k8s.io/v1", "false", "CertificateSigningRequest"]
    expected = {
        "apiservices": ("apiregistration.k8s.io/v1", "false"),
        "validatingwebhookconfigurations": ("admissionregistration.k8s.io/v1", "false"),
        "mutatingwebhookconfigurations": ("admissionregistration.k8s.io/v1", "false"),
        "validatingadmissionpolicies": ("admissionregistration.k8s.io/v1", "false"),
        "validatingadmissionpolicybindings": ("admissionregistration.k8s.io/v1", "false"),
        "podtemplates": ("v1", "true"),
        "csidrivers": ("storage.k8s.io/v1", "false"),
        "csinodes": ("storage.k8s.io/v1", "false"),
        "volumeattachments": ("storage.k8s.io/v1", "false"),
        "csistoragecapacities": ("storage.k8s.io/v1", "true"),
    }
    for plural, (api_version, namespaced) in expected.items():
        assert tuple(rows[plural][1:3]) == (api_version, namespaced), rows.get(plural)
    extensions = kubectl.run("api-resources", "--categories=api-extensions", "-o", "name").stdout
    assert "apiservices.apiregistration.k8s.io" in extensions.split()
    assert "validatingwebhookconfigurations.admissionregistration.k8s.io" in extensions.split()


# --- CertificateSigningRequests -----------------------------------------------------------
def test_kubectl_certificate_approve_and_deny(kubectl: Kubectl) -> None:
    me = kubectl.run("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout
    kubectl.run("apply", "-f", "-", input=json.dumps(csr("alice")))
    kubectl.run("create", "-f", "-", input=json.dumps(csr("bob")))
    created = kubectl.json("get", "csr", "alice")
    assert created["spec"]["username"] == me  # who asked, filled in by the server
    assert created["status"] == {}
    header, row = columns(kubectl, "csr", "alice")
    assert header == ["NAME", "AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION", "CONDITION"]
    assert row[:1] + row[2:] == ["alice", "kubernetes.io/kube-apiserver-client", me, "24h",
                                 "Pending"]
    # kubectl sends the request back, as protobuf, to its approval subresource.
    approve = kubectl.run("certificate", "approve", "alice", "-v=8")
    assert "certificatesigningrequest.certificates.k8s.io/alice approved" in approve.stdout
    assert "/certificatesigningrequests/alice/approval" in approve.stderr
    assert "Content-Type: application/vnd.kubernetes.protobuf" in approve.stderr
    condition = kubectl.json("get", "csr", "alice")["status"]["conditions"]
    assert [(c["type"], c["status"], c["reason"]) for c in condition] == [
        ("Approved", "True", "KubectlApprove")]
    assert condition[0]["lastUpdateTime"] and condition[0]["lastTransitionTime"]
    refused = kubectl.run("certificate", "deny", "alice", check=False)
    assert refused.returncode == 1
    assert 'certificate signing request "alice" is already Approved' in refused.stderr
    assert "denied" in kubectl.run("certificate", "deny", "bob").stdout
    conditions = {row[0]: row[-1] for row in columns(kubectl, "csr", "--no-headers")}
    assert conditions["bob"] == "Denied"
    # The kube-apiserver-client signer then issues alice's certificate.
    wait_for(lambda: {row[0]: row[-1] for row in columns(kubectl, "csr", "--no-headers")}[
        "alice"] == "Approved,Issued")


def test_an_invalid_request_is_refused(control_plane: ControlPlane,
                                       session: requests.Session) -> None:
    body = csr("not-pem")
    body["spec"]["request"] = base64.b64encode(b"hi").decode()
    resp = session.post(control_plane.url + CSRS, json=body)
    assert resp.status_code == 422
    assert resp.json()["message"] == (
        'CertificateSigningRequest.certificates.k8s.io "not-pem" is invalid: spec.request: '
        "Invalid value: []byte{0x68, 0x69}: PEM block type must be CERTIFICATE REQUEST")
    body = csr("no-usages", usages=[], signerName="example")
    resp = session.post(control_plane.url + CSRS, json=body)
    assert resp.status_code == 422
    assert resp.json()["message"] == (
        'CertificateSigningRequest.certificates.k8s.io "no-usages" is invalid: '
        "[spec.usages: Required value, spec.signerName: Invalid value: \"example\": must be a "
        "fully qualified domain and path of the form 'example.com/signer-name']")
    short = csr("short", expirationSeconds=60)
    resp = session.post(control_plane.url + CSRS, json=short)
    assert resp.status_code == 422
    assert "spec.expirationSeconds: Invalid value: 60: may not specify a duration less than " \
           "600 seconds (10 minutes)" in resp.json()["message"]
    assert session.get(control_plane.url + CSRS + "/not-pem").status_code == 404


def test_approval_rules_of_each_endpoint(control_plane: ControlPlane,
                                         session: requests.Session) -> None:
    url = control_plane.url + CSRS + "/carol"
    # A signer no controller here handles: nothing else writes the request meanwhile.
    body = csr("carol", signerName="example.com/approval-test")
    assert session.post(control_plane.url + CSRS, json=body).status_code == 201
    approved = {"type": "Approved", "status": "True", "reason": "Test"}
    # Approval is only the approval subresource's to set.
    current = session.get(url).json()
    current["status"] = {"conditions": [approved]}
    resp = session.put(url + "/status", json=current)
    assert resp.status_code == 422
    assert resp.json()["details"]["causes"] == [{
        "reason": "FieldValueForbidden", "field": "status.conditions",
        "message": 'Forbidden: updates may not add a condition of type "Approved"'}]
    resp = session.put(url + "/approval", json=current)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"]["conditions"][0]["type"] == "Approved"
    # ...and never taken back.
    current = resp.json()
    current["status"]["conditions"] = []
    resp = session.put(url + "/approval", json=current)
    assert resp.status_code == 422
    assert 'updates may not remove a condition of type "Approved"' in resp.json()["message"]
    # The main endpoint keeps spec and status as they are.
    current = session.get(url).json()
    current["spec"]["usages"] = ["server auth"]
    current["metadata"]["labels"] = {"seen": "yes"}
    updated = session.put(url, json=current).json()
    assert updated["spec"]["usages"] == ["client auth"]
    assert updated["metadata"]["labels"] == {"seen": "yes"}
    assert updated["status"]["conditions"][0]["type"] == "Approved"


def test_python_client_round_trips_a_csr(api: k8s.ApiClient) -> None:
    certs = k8s.CertificatesV1Api(api)
    created = certs.create_certificate_signing_request(csr("dave"))
    assert isinstance(created, k8s.V1CertificateSigningRequest)
    created.status.conditions = [k8s.V1CertificateSigningRequestCondition(
        type="Denied", status="True", reason="NotToday", message="no")]
    denied = certs.replace_certificate_signing_request_approval("dave", created)
    assert denied.status.conditions[0].type == "Denied"
    certs.delete_certificate_signing_request("dave")


# --- admission configuration --------------------------------------------------------------
def _webhook(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "sideEffects": "None", "admissionReviewVersions": ["v1"],
            "clientConfig": {"service": {"namespace": "default", "name": "hooks"}},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                       "resources": ["pods"]}], **extra}


def test_webhook_configurations_are_defaulted_and_printed(control_plane: ControlPlane,
                                                          session: requests.Session,
                                                          kubectl: Kubectl) -> None:
    resp = session.post(control_plane.url + ADMISSION + "/validatingwebhookconfigurations",
                        json={"metadata": {"name": "checks"},
                              "webhooks": [_webhook("pods.checks.example.com")]})
    assert resp.status_code == 201, resp.text
    hook = resp.json()["webhooks"][0]
    assert (hook["failurePolicy"], hook["matchPolicy"], hook["timeoutSeconds"]) == \
        ("Fail", "Equivalent", 10)
    assert hook["namespaceSelector"] == {} and hook["objectSelector"] == {}
    assert hook["rules"][0]["scope"] == "*"
    assert hook["clientConfig"]["service"]["port"] == 443
    resp = session.post(control_plane.url + ADMISSION + "/mutatingwebhookconfigurations",
                        json={"metadata": {"name": "mutations"},
                              "webhooks": [_webhook("a.mutations.example.com"),
                                           _webhook("b.mutations.example.com")]})
    assert resp.json()["webhooks"][0]["reinvocationPolicy"] == "Never"
    rows = columns(kubectl, "mutatingwebhookconfigurations")
    assert rows[0] == ["NAME", "WEBHOOKS", "AGE"] and rows[1][:2] == ["mutations", "2"]


def test_webhook_configuration_refusals(control_plane: ControlPlane,
                                        session: requests.Session) -> None:
    bad = _webhook("short.name", clientConfig={"url": "http://example.com/hook"})
    del bad["sideEffects"]
    resp = session.post(control_plane.url + ADMISSION + "/validatingwebhookconfigurations",
                        json={"metadata": {"name": "broken"}, "webhooks": [bad]})
    assert resp.status_code == 422
    causes = {(c["field"], c["message"]) for c in resp.json()["details"]["causes"]}
    assert causes == {
        ("webhooks[0].name", 'Invalid value: "short.name": should be a domain with at least '
                             "three segments separated by dots"),
        ("webhooks[0].sideEffects", "Required value: must specify one of None, NoneOnDryRun"),
        ("webhooks[0].clientConfig.url", "Invalid value: \"http\": 'https' is the only allowed "
                                         "URL scheme; desired format: https://host[/path]"),
    }
    both = _webhook("both.ways.example.com",
                    clientConfig={"url": "https://example.com", "service": {"namespace": "a",
                                                                             "name": "b"}})
    resp = session.post(control_plane.url + ADMISSION + "/validatingwebhookconfigurations",
                        json={"metadata": {"name": "both"}, "webhooks": [both, both]})
    assert resp.status_code == 422
    assert "webhooks[0].clientConfig: Required value: exactly one of url or service is " \
           "required" in resp.json()["message"]
    assert 'webhooks[1].name: Duplicate value: "both.ways.example.com"' in resp.json()["message"]


def test_validating_admission_policies(control_plane: ControlPlane, session: requests.Session,
                                       kubectl: Kubectl) -> None:
    policy = {"metadata": {"name": "replicas-limit"}, "spec": {
        "matchConstraints": {"resourceRules": [{
            "apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
            "resources": ["deployments"]}]},
        "validations": [{"expression": "object.spec.replicas <= 5"}]}}
    resp = session.post(control_plane.url + ADMISSION + "/validatingadmissionpolicies",
                        json=policy)
    assert resp.status_code == 201, resp.text
    assert resp.json()["spec"]["failurePolicy"] == "Fail"
    assert resp.json()["spec"]["matchConstraints"]["matchPolicy"] == "Equivalent"
    rows = columns(kubectl, "validatingadmissionpolicies")
    assert rows[0] == ["NAME", "VALIDATIONS", "PARAMKIND", "AGE"]
    assert rows[1][:3] == ["replicas-limit", "1", "<unset>"]
    binding = {"metadata": {"name": "replicas-limit"},
               "spec": {"policyName": "replicas-limit", "validationActions": ["Deny", "Warn"]}}
    resp = session.post(control_plane.url + ADMISSION + "/validatingadmissionpolicybindings",
                        json=binding)
    assert resp.status_code == 422
    assert "must not contain both Deny and Warn" in resp.json()["message"]
    empty = {"metadata": {"name": "empty"}, "spec": {}}
    resp = session.post(control_plane.url + ADMISSION + "/validatingadmissionpolicies",
                        json=empty)
    assert resp.status_code == 422
    assert {c["field"] for c in resp.json()["details"]["causes"]} == {
        "spec.matchConstraints", "spec.validations"}


# --- APIServices --------------------------------------------------------------------------
def test_api_services_are_stored_and_printed(control_plane: ControlPlane,
                                             session: requests.Session, kubectl: Kubectl) -> None:
    url = control_plane.url + "/apis/apiregistration.k8s.io/v1/apiservices"
    remote = {"metadata": {"name": "v1beta1.metrics.example.com"}, "spec": {
        "group": "metrics.example.com", "version": "v1beta1", "groupPriorityMinimum": 100,
        "versionPriority": 10, "insecureSkipTLSVerify": True,
        "service": {"namespace": "kube-system", "name": "metrics"}}}
    resp = session.post(url, json=remote)
    assert resp.status_code == 201, resp.text
    assert resp.json()["spec"]["service"]["port"] == 443
    local = {"metadata": {"name": "v1.local.example.com"}, "spec": {
        "group": "local.example.com", "version": "v1", "groupPriorityMinimum": 100,
        "versionPriority": 10}}
    assert session.post(url, json=local).status_code == 201
    rows = {row[0]: row for row in columns(kubectl, "apiservices")}
    assert rows["NAME"] == ["NAME", "SERVICE", "AVAILABLE", "AGE"]
    # The availability checks: no such Service, and local ones always available.
    rows = wait_for(lambda: (r := {row[0]: row for row in columns(kubectl, "apiservices")})
                    and r["v1beta1.metrics.example.com"][1:4] == ["kube-system/metrics",
                                                                  "False", "(ServiceNotFound)"]
                    and r["v1.local.example.com"][1:3] == ["Local", "True"] and r)
    wrong = json.loads(json.dumps(local))
    wrong["metadata"]["name"] = "v2.local.example.com"
    resp = session.post(url, json=wrong)
    assert resp.status_code == 422
    assert resp.json()["message"] == (
        'APIService.apiregistration.k8s.io "v2.local.example.com" is invalid: metadata.name: '
        'Invalid value: "v2.local.example.com": must be `spec.version+"."+spec.group`: '
        '"v1.local.example.com"')


# --- PodTemplates and CSI -----------------------------------------------------------------
def test_pod_templates(api: k8s.ApiClient, kubectl: Kubectl) -> None:
    core = k8s.CoreV1Api(api)
    core.create_namespaced_pod_template("default", k8s.V1PodTemplate(
        metadata=k8s.V1ObjectMeta(name="worker"), template=k8s.V1PodTemplateSpec(
            metadata=k8s.V1ObjectMeta(labels={"role": "worker"}),
            spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="main", image="python")]))))
    assert columns(kubectl, "podtemplates") == [
        ["NAME", "CONTAINERS", "IMAGES", "POD", "LABELS"], ["worker", "main", "python",
                                                           "role=worker"]]
    deleted = core.delete_namespaced_pod_template("worker", "default")
    assert isinstance(deleted, k8s.V1PodTemplate) and deleted.metadata.name == "worker"


def test_csi_kinds(api: k8s.ApiClient, control_plane: ControlPlane, session: requests.Session,
                   kubectl: Kubectl) -> None:
    storage = k8s.StorageV1Api(api)
    driver = storage.create_csi_driver(k8s.V1CSIDriver(
        metadata=k8s.V1ObjectMeta(name="hostpath.csi.example.com"), spec=k8s.V1CSIDriverSpec()))
    assert (driver.spec.attach_required, driver.spec.pod_info_on_mount,
            driver.spec.volume_lifecycle_modes, driver.spec.fs_group_policy) == \
        (True, False, ["Persistent"], "ReadWriteOnceWithFSType")
    assert columns(kubectl, "csidrivers")[1][:7] == [
        "hostpath.csi.example.com", "true", "false", "false", "<unset>", "false", "Persistent"]
    storage.create_csi_node(k8s.V1CSINode(metadata=k8s.V1ObjectMeta(name="node-a"),
                                          spec=k8s.V1CSINodeSpec(drivers=[k8s.V1CSINodeDriver(
                                              name="hostpath.csi.example.com",
                                              node_id="node-a")])))
    assert columns(kubectl, "csinodes")[1][:2] == ["node-a", "1"]
    attachment = session.post(control_plane.url + STORAGE + "/volumeattachments", json={
        "metadata": {"name": "va-1"}, "spec": {"attacher": "hostpath.csi.example.com",
                                              "nodeName": "node-a",
                                              "source": {"persistentVolumeName": "pv-1"}}})
    assert attachment.status_code == 201, attachment.text
    assert attachment.json()["status"] == {"attached": False}
    assert columns(kubectl, "volumeattachments")[1][:5] == [
        "va-1", "hostpath.csi.example.com", "pv-1", "node-a", "false"]
    no_source = session.post(control_plane.url + STORAGE + "/volumeattachments", json={
        "metadata": {"name": "va-2"}, "spec": {"attacher": "a", "nodeName": "b", "source": {}}})
    assert no_source.status_code == 422
    assert "spec.source: Required value: must specify exactly one of inlineVolumeSpec and " \
           "persistentVolumeName" in no_source.json()["message"]
    capacity = session.post(control_plane.url + STORAGE + "/namespaces/default/"
                            "csistoragecapacities", json={
        "metadata": {"name": "cap-1"}, "storageClassName": "standard", "capacity": "10Gi"})
    assert capacity.status_code == 201, capacity.text
    # Its registry prints the default table, not the internalversion columns.
    assert columns(kubectl, "csistoragecapacities")[0] == ["NAME", "CREATED", "AT"]
    deleted = storage.delete_csi_driver("hostpath.csi.example.com")
    assert isinstance(deleted, k8s.V1CSIDriver)
    assert isinstance(storage.delete_volume_attachment("va-1"), k8s.V1VolumeAttachment)
