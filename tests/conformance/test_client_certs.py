"""Client certificates as kube-apiserver and kube-controller-manager handle them: a
CertificateSigningRequest approved with `kubectl certificate approve` is signed from the
cluster CA, its certificate in a kubeconfig authenticates to kubectl and the `kubernetes`
client (user = CN, groups = O), the signers refuse what kube's refuse, and the admission
plugins CertificateApproval and CertificateSubjectRestriction guard approval and
system:masters. Bearer tokens keep working beside certificates."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from orchestrator import ControlPlane
from tests.conftest import Kubectl, wait_for

CLIENT = "kubernetes.io/kube-apiserver-client"
KUBELET = "kubernetes.io/kube-apiserver-client-kubelet"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _subject(cn: str | None, orgs: list[str]) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else []
    return x509.Name(attrs + [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs])


def csr_object(name: str, key: ec.EllipticCurvePrivateKey, cn: str, orgs: list[str], *,
               signer: str = CLIENT, usages: list[str] | None = None,
               seconds: int | None = None, dns: list[str] | None = None) -> dict[str, Any]:
    builder = x509.CertificateSigningRequestBuilder().subject_name(_subject(cn, orgs))
    if dns:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
    pem = builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    spec: dict[str, Any] = {"request": base64.b64encode(pem).decode(), "signerName": signer,
                            "usages": usages or ["client auth"]}
    if seconds is not None:
        spec["expirationSeconds"] = seconds
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": name}, "spec": spec}


def issued(kubectl: Kubectl, name: str) -> x509.Certificate:
    data = wait_for(lambda: kubectl.run("get", "csr", name, "-o",
                                        "jsonpath={.status.certificate}").stdout)
    return x509.load_pem_x509_certificate(base64.b64decode(data))


def conditions(kubectl: Kubectl, name: str) -> dict[str, dict[str, Any]]:
    csr = kubectl.json("get", "csr", name)
    return {c["type"]: c for c in (csr.get("status") or {}).get("conditions") or []}


def cert_kubeconfig(cp: ControlPlane, path: Path, cert_pem: bytes,
                    key: ec.EllipticCurvePrivateKey, token: str | None = None) -> str:
    user: dict[str, Any] = {"client-certificate-data": base64.b64encode(cert_pem).decode(),
                            "client-key-data": base64.b64encode(_key_pem(key)).decode()}
    if token is not None:
        user["token"] = token
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
              "clusters": [{"name": "c", "cluster": {"server": cp.url,
                                                     "certificate-authority": cp.ca_file}}],
              "users": [{"name": "u", "user": user}],
              "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u",
                                                     "namespace": "default"}}]}
    path.write_text(yaml.safe_dump(config))
    return str(path)


def as_user(kubectl: Kubectl, kubeconfig: str, *args: str, check: bool = True) -> Any:
    base = kubectl.base()
    base[base.index("--kubeconfig") + 1] = kubeconfig
    proc = subprocess.run(base + list(args), capture_output=True, text=True, timeout=60,
                          env={**os.environ, "HOME": str(kubectl.cache_dir)})
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed:\n{proc.stderr}")
    return proc


def certificate(cn: str | None, orgs: list[str], key: ec.EllipticCurvePrivateKey,
                days: float = 1, issuer_key: Any = None, issuer: x509.Name | None = None
                ) -> bytes:
    """A client certificate, self-signed unless an issuer is given."""
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_subject(cn, orgs))
            .issuer_name(issuer or _subject(cn, orgs)).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=2))
            .not_valid_after(now + datetime.timedelta(days=days))
            .sign(issuer_key or key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def alice(kubectl: Kubectl, control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[str, x509.Certificate, ec.EllipticCurvePrivateKey]]:
    """alice (groups devs, ops), through a CSR approved with kubectl, in a kubeconfig."""
    key = _key()
    obj = csr_object("alice", key, "alice", ["devs", "ops"], seconds=3600)
    kubectl.run("create", "-f", "-", input=json.dumps(obj))
    out = kubectl.run("certificate", "approve", "alice").stdout
    assert "certificatesigningrequest.certificates.k8s.io/alice approved" in out
    cert = issued(kubectl, "alice")
    path = tmp_path_factory.mktemp("alice") / "kubeconfig"
    kubeconfig = cert_kubeconfig(control_plane, path,
                                 cert.public_bytes(serialization.Encoding.PEM), key)
    yield kubeconfig, cert, key
    kubectl.run("delete", "csr", "alice", "--ignore-not-found")


def test_approved_csr_certificate_authenticates_kubectl(
        kubectl: Kubectl, alice: tuple[str, x509.Certificate, Any]) -> None:
    kubeconfig, cert, _ = alice
    listed = kubectl.run("get", "csr", "alice").stdout
    assert "Approved,Issued" in listed and CLIENT in listed
    approved = conditions(kubectl, "alice")["Approved"]
    assert approved["status"] == "True" and approved["reason"] == "KubectlApprove"
    fingerprint = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    who = as_user(kubectl, kubeconfig, "auth", "whoami").stdout
    lines = {line.split()[0]: line for line in who.splitlines() if line.strip()}
    assert lines["Username"].split()[-1] == "alice"
    assert "[devs ops system:authenticated]" in lines["Groups"]
    assert f"[X509SHA256={fingerprint}]" in who
    review = json.loads(as_user(kubectl, kubeconfig, "auth", "whoami", "-o", "json").stdout)
    assert review["status"]["userInfo"]["username"] == "alice"
    assert review["status"]["userInfo"]["groups"] == ["devs", "ops", "system:authenticated"]


def test_certificate_user_is_authorized_by_rbac(kubectl: Kubectl,
                                                alice: tuple[str, Any, Any]) -> None:
    kubeconfig = alice[0]
    denied = as_user(kubectl, kubeconfig, "get", "configmaps", check=False)
    assert denied.returncode != 0
    assert ('configmaps is forbidden: User "alice" cannot list resource "configmaps" in API '
            'group "" in the namespace "default"') in denied.stderr
    kubectl.run("create", "rolebinding", "devs-view", "--clusterrole=view", "--group=devs")
    try:
        wait_for(lambda: as_user(kubectl, kubeconfig, "get", "configmaps",
                                 check=False).returncode == 0)
    finally:
        kubectl.run("delete", "rolebinding", "devs-view")


def test_certificate_works_with_the_kubernetes_client(
        alice: tuple[str, Any, Any]) -> None:
    from kubernetes import client as k8s
    from kubernetes import config

    api = config.new_client_from_config(config_file=alice[0])
    try:
        review = k8s.AuthenticationV1Api(api).create_self_subject_review(
            k8s.V1SelfSubjectReview(metadata=k8s.V1ObjectMeta()))
        assert review.status.user_info.username == "alice"
        assert review.status.user_info.groups == ["devs", "ops", "system:authenticated"]
    finally:
        api.close()


def test_certificate_wins_over_a_bad_token_and_tokens_still_work(
        kubectl: Kubectl, control_plane: ControlPlane, alice: tuple[str, Any, Any],
        tmp_path: Path) -> None:
    # kube's union authenticator asks the x509 authenticator first.
    _, cert, key = alice
    both = cert_kubeconfig(control_plane, tmp_path / "both", cert.public_bytes(
        serialization.Encoding.PEM), key, token="not-a-valid-token")
    who = as_user(kubectl, both, "auth", "whoami", "-o", "json").stdout
    assert json.loads(who)["status"]["userInfo"]["username"] == "alice"
    admin = json.loads(kubectl.run("auth", "whoami", "-o", "json").stdout)
    assert admin["status"]["userInfo"]["username"] == "kubernetes-admin"


def test_expiration_seconds_and_signing_duration(kubectl: Kubectl) -> None:
    key = _key()
    kubectl.run("create", "-f", "-", input=json.dumps(
        csr_object("short", key, "short", [], seconds=600)))
    kubectl.run("create", "-f", "-", input=json.dumps(csr_object("long", key, "long", [])))
    try:
        kubectl.run("certificate", "approve", "short", "long")
        short, long = issued(kubectl, "short"), issued(kubectl, "long")
        # Backdated 5 minutes; a short certificate keeps its whole lifetime from now.
        assert short.not_valid_after_utc - short.not_valid_before_utc == datetime.timedelta(
            seconds=600 + 300)
        assert long.not_valid_after_utc - long.not_valid_before_utc == datetime.timedelta(
            days=365)
        assert short.subject.rfc4514_string() == "CN=short"
        assert short.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value[0] \
            == x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH
        assert not short.extensions.get_extension_for_class(
            x509.BasicConstraints).value.ca
        ca = x509.load_pem_x509_certificate(Path(kubectl.cp.ca_file).read_bytes())
        assert short.issuer == ca.subject
        ca.public_key().verify(short.signature, short.tbs_certificate_bytes,
                               ec.ECDSA(short.signature_hash_algorithm))
        listed = kubectl.run("get", "csr", "short").stdout
        assert "10m" in listed  # REQUESTEDDURATION
        too_short = csr_object("tooshort", key, "x", [], seconds=599)
        bad = kubectl.run("create", "-f", "-", input=json.dumps(too_short), check=False)
        assert bad.returncode != 0
        assert "spec.expirationSeconds: Invalid value: 599: may not specify a duration less " \
               "than 600 seconds (10 minutes)" in bad.stderr
    finally:
        kubectl.run("delete", "csr", "short", "long", "--ignore-not-found")


def test_denied_csr_gets_no_certificate(kubectl: Kubectl) -> None:
    kubectl.run("create", "-f", "-", input=json.dumps(
        csr_object("mallory", _key(), "mallory", [])))
    try:
        out = kubectl.run("certificate", "deny", "mallory").stdout
        assert "certificatesigningrequest.certificates.k8s.io/mallory denied" in out
        denied = wait_for(lambda: conditions(kubectl, "mallory").get("Denied"))
        assert denied["status"] == "True" and denied["reason"] == "KubectlDeny"
        # Give the signer every chance to (wrongly) act: approve something else, wait for it.
        kubectl.run("create", "-f", "-", input=json.dumps(csr_object("other", _key(), "o", [])))
        kubectl.run("certificate", "approve", "other")
        issued(kubectl, "other")
        csr = kubectl.json("get", "csr", "mallory")
        assert not (csr.get("status") or {}).get("certificate")
        assert "Denied" in kubectl.run("get", "csr", "mallory").stdout
    finally:
        kubectl.run("delete", "csr", "mallory", "other", "--ignore-not-found")


@pytest.mark.parametrize("signer,cn,orgs,usages,message", [
    (CLIENT, "bob", [], ["client auth", "server auth"],
     "invalid usage for client certificate: server auth"),
    (CLIENT, "bob", [], ["digital signature"],
     "missing required usage for client certificate: client auth"),
    (KUBELET, "system:node:n1", ["devs"], ["digital signature", "client auth"],
     "subject organization is not system:nodes"),
    (KUBELET, "bob", ["system:nodes"], ["digital signature", "client auth"],
     "subject common name does not begin with system:node:"),
    (KUBELET, "system:node:n1", ["system:nodes"], ["client auth"],
     "usages did not match [client auth digital signature key encipherment]"),
])
def test_signer_refuses_with_a_failed_condition(kubectl: Kubectl, signer: str, cn: str,
                                                orgs: list[str], usages: list[str],
                                                message: str) -> None:
    kubectl.run("create", "-f", "-", input=json.dumps(
        csr_object("refused", _key(), cn, orgs, signer=signer, usages=usages)))
    try:
        kubectl.run("certificate", "approve", "refused")
        failed = wait_for(lambda: conditions(kubectl, "refused").get("Failed"))
        assert failed["status"] == "True"
        assert failed["reason"] == "SignerValidationFailure"
        assert failed["message"] == message
        assert not (kubectl.json("get", "csr", "refused").get("status") or {}).get(
            "certificate")
        assert "Approved,Failed" in kubectl.run("get", "csr", "refused").stdout
    finally:
        kubectl.run("delete", "csr", "refused", "--ignore-not-found")


def test_kubelet_client_signer_issues_node_certificates(kubectl: Kubectl) -> None:
    kubectl.run("create", "-f", "-", input=json.dumps(csr_object(
        "node-n1", _key(), "system:node:n1", ["system:nodes"], signer=KUBELET,
        usages=["digital signature", "client auth"])))
    try:
        kubectl.run("certificate", "approve", "node-n1")
        cert = issued(kubectl, "node-n1")
        assert cert.subject.rfc4514_string() == "O=system:nodes,CN=system:node:n1"
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert usage.digital_signature and not usage.key_encipherment
    finally:
        kubectl.run("delete", "csr", "node-n1", "--ignore-not-found")


def test_system_masters_cannot_be_requested(kubectl: Kubectl) -> None:
    bad = kubectl.run("create", "-f", "-", check=False, input=json.dumps(
        csr_object("root", _key(), "root", ["system:masters"])))
    assert bad.returncode != 0
    assert ('certificatesigningrequests.certificates.k8s.io "root" is forbidden: use of '
            'kubernetes.io/kube-apiserver-client signer with system:masters group is not '
            'allowed') in bad.stderr
    assert kubectl.run("get", "csr", "root", check=False).returncode != 0


APPROVER = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: csr-updater}
rules:
- {apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests], verbs: [get, list]}
- apiGroups: [certificates.k8s.io]
  resources: [certificatesigningrequests/approval]
  verbs: [update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: csr-updater}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: csr-updater}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: carol}]
"""
SIGNER_APPROVE = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: client-approver}
rules:
- apiGroups: [certificates.k8s.io]
  resources: [signers]
  resourceNames: [kubernetes.io/*]
  verbs: [approve]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: client-approver}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: client-approver}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: carol}]
"""


def test_approving_needs_approve_on_the_signer(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", input=APPROVER)
    kubectl.run("create", "-f", "-", input=json.dumps(csr_object("dave", _key(), "dave", [])))
    try:
        bad = kubectl.run("certificate", "approve", "dave", "--as=carol", check=False)
        assert bad.returncode != 0
        assert ('certificatesigningrequests.certificates.k8s.io "dave" is forbidden: user not '
                'permitted to approve requests with signerName '
                '"kubernetes.io/kube-apiserver-client"') in bad.stderr
        assert "Approved" not in conditions(kubectl, "dave")
        kubectl.run("apply", "-f", "-", input=SIGNER_APPROVE)
        wait_for(lambda: kubectl.run("certificate", "approve", "dave", "--as=carol",
                                     check=False).returncode == 0)
        issued(kubectl, "dave")
    finally:
        kubectl.run("delete", "csr", "dave", "--ignore-not-found")
        kubectl.run("delete", "clusterrolebinding", "csr-updater", "client-approver",
                    "--ignore-not-found")
        kubectl.run("delete", "clusterrole", "csr-updater", "client-approver",
                    "--ignore-not-found")


def _refused_at_handshake(control_plane: ControlPlane, cert_pem: bytes,
                          key: ec.EllipticCurvePrivateKey, tmp_path: Path) -> bool:
    """Whether the server ends the TLS handshake of a client presenting this certificate
    (OpenSSL checks a sent certificate during the handshake; kube answers 401 instead)."""
    crt, pem_key = tmp_path / "c.crt", tmp_path / "c.key"
    crt.write_bytes(cert_pem)
    pem_key.write_bytes(_key_pem(key))
    try:
        requests.get(control_plane.url + "/api/v1/namespaces", verify=control_plane.ca_file,
                     cert=(str(crt), str(pem_key)), timeout=10)
    except (requests.exceptions.SSLError, requests.exceptions.ConnectionError):
        return True
    return False


def test_certificates_the_cluster_ca_did_not_sign_are_refused(
        control_plane: ControlPlane, tmp_path: Path) -> None:
    key = _key()
    foreign = certificate("eve", ["system:masters"], key)
    assert _refused_at_handshake(control_plane, foreign, key, tmp_path)
    # Signed by the cluster CA but expired: refused too.
    pki = Path(control_plane.ca_file).parent
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), None)
    ca = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    expired = certificate("eve", [], key, days=-1, issuer_key=ca_key, issuer=ca.subject)
    assert _refused_at_handshake(control_plane, expired, key, tmp_path)
    valid = certificate("eve", [], key, issuer_key=ca_key, issuer=ca.subject)
    assert not _refused_at_handshake(control_plane, valid, key, tmp_path)


def test_certificate_without_common_name_is_nobody(
        kubectl: Kubectl, control_plane: ControlPlane, tmp_path: Path) -> None:
    pki = Path(control_plane.ca_file).parent
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), None)
    ca = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    key = _key()
    nameless = certificate(None, ["devs"], key, issuer_key=ca_key, issuer=ca.subject)
    crt, pem_key = tmp_path / "n.crt", tmp_path / "n.key"
    crt.write_bytes(nameless)
    pem_key.write_bytes(_key_pem(key))
    response = requests.get(control_plane.url + "/api/v1/namespaces",
                            verify=control_plane.ca_file, cert=(str(crt), str(pem_key)),
                            timeout=10)
    assert response.status_code == 401
    assert response.json()["reason"] == "Unauthorized"
    # The same certificate with a common name is somebody (fails on a server that does
    # not ask for certificates at all).
    named = certificate("nina", ["devs"], key, issuer_key=ca_key, issuer=ca.subject)
    crt.write_bytes(named)
    who = requests.post(control_plane.url + "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                        json={"apiVersion": "authentication.k8s.io/v1",
                              "kind": "SelfSubjectReview"},
                        verify=control_plane.ca_file, cert=(str(crt), str(pem_key)), timeout=10)
    assert who.status_code == 201, who.text
    assert who.json()["status"]["userInfo"]["username"] == "nina"
