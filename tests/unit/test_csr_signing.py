"""The CSR signers' decisions and certificates (orchestrator.api.csr_signing)."""

from __future__ import annotations

import base64
import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from orchestrator.api.csr_signing import (
    DEFAULT_DURATION,
    Authority,
    Fail,
    Sign,
    duration,
    plan,
    sign,
)

NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)


def _csr(cn: str = "alice", orgs: tuple[str, ...] = (), usages: tuple[str, ...] = ("client auth",),
         signer: str = "kubernetes.io/kube-apiserver-client", conditions: Any = ("Approved",),
         **spec: Any) -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]
                     + [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs])
    pem = x509.CertificateSigningRequestBuilder().subject_name(name).sign(
        key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    return {"spec": {"request": base64.b64encode(pem).decode(), "signerName": signer,
                     "usages": list(usages), **spec},
            "status": {"conditions": [{"type": c, "status": "True"} for c in conditions]}}


def _authority(not_after: datetime.datetime) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256()))
    return Authority(cert, key)


def test_only_approved_unsigned_requests_for_our_signers() -> None:
    assert isinstance(plan(_csr()), Sign)
    assert plan(_csr(conditions=())) is None
    assert plan(_csr(conditions=("Approved", "Denied"))) is None
    assert plan(_csr(conditions=("Approved", "Failed"))) is None
    assert plan(_csr(signer="example.com/mine")) is None
    signed = _csr()
    signed["status"]["certificate"] = "Zm9v"
    assert plan(signed) is None


def test_refusals() -> None:
    assert plan(_csr(usages=("client auth", "server auth"))) == Fail(
        "invalid usage for client certificate: server auth")
    kubelet = "kubernetes.io/kube-apiserver-client-kubelet"
    assert plan(_csr("system:node:a", ("system:nodes",), ("digital signature", "client auth"),
                     signer=kubelet)).__class__ is Sign
    assert plan(_csr("system:node:a", ("x",), signer=kubelet)) == Fail(
        "subject organization is not system:nodes")


def test_durations() -> None:
    assert duration(None, DEFAULT_DURATION) == DEFAULT_DURATION
    assert duration(60, DEFAULT_DURATION) == datetime.timedelta(minutes=10)
    assert duration(10 ** 9, DEFAULT_DURATION) == DEFAULT_DURATION
    assert duration(3600, DEFAULT_DURATION) == datetime.timedelta(hours=1)


def test_certificate_contents_and_ca_expiry_cap() -> None:
    decision = plan(_csr(orgs=("devs",), usages=("client auth", "digital signature"),
                         expirationSeconds=86400))
    assert isinstance(decision, Sign)
    ca = _authority(NOW + datetime.timedelta(hours=12))
    cert = x509.load_pem_x509_certificate(sign(ca, decision, NOW))
    assert cert.subject.rfc4514_string() == "O=devs,CN=alice"
    assert cert.not_valid_before_utc == NOW - datetime.timedelta(minutes=5)
    assert cert.not_valid_after_utc == NOW + datetime.timedelta(hours=12)  # the CA's end
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    expired = _authority(NOW - datetime.timedelta(seconds=1))
    try:
        sign(expired, decision, NOW)
    except ValueError as exc:
        assert "refusing to sign a certificate that expired in the past" in str(exc)
    else:
        raise AssertionError("an expired CA signed")
