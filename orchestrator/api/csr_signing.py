"""Signing approved CertificateSigningRequests: kube-controller-manager's csrsigning
controllers (pkg/controller/certificates/signer) as pure functions.

`plan(csr, now)` says what the signer does with one request:

- nothing, unless it is Approved (and not Denied), not Failed, has no certificate yet and
  names a signer handled here;
- `Fail(message)`: the request is not one this signer may issue (kube's
  `isRequestForSignerFn`: usages for `kubernetes.io/kube-apiserver-client`; O, CN, SANs and
  usages for the kubelet signers) — a `Failed` condition, reason `SignerValidationFailure`;
- `Sign(...)`: issue from the cluster CA with `sign(...)`.

Issued certificates follow kube's PermissiveSigningPolicy: the request's subject, SANs and
key; key usages and extended key usages from `spec.usages`; not a CA; valid from 5 minutes
ago (backdating) for `spec.expirationSeconds` (at least 10 minutes, at most the signer's
duration, a year by default: `--cluster-signing-duration`), never past the CA's own expiry.
"""

from __future__ import annotations

import base64
import binascii
import datetime
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KUBE_APISERVER_CLIENT = "kubernetes.io/kube-apiserver-client"
KUBE_APISERVER_CLIENT_KUBELET = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING = "kubernetes.io/kubelet-serving"
SIGNERS = (KUBE_APISERVER_CLIENT, KUBE_APISERVER_CLIENT_KUBELET, KUBELET_SERVING)
SIGNER_VALIDATION_FAILURE = "SignerValidationFailure"
DEFAULT_DURATION = datetime.timedelta(days=365)  # --cluster-signing-duration=8760h
BACKDATE = datetime.timedelta(minutes=5)
SHORT = datetime.timedelta(hours=8)  # shorter-lived certificates keep their full lifetime
MIN_DURATION = datetime.timedelta(minutes=10)

_KEY_USAGES = {
    "signing": "digital_signature", "digital signature": "digital_signature",
    "content commitment": "content_commitment", "key encipherment": "key_encipherment",
    "key agreement": "key_agreement", "data encipherment": "data_encipherment",
    "cert sign": "key_cert_sign", "crl sign": "crl_sign", "encipher only": "encipher_only",
    "decipher only": "decipher_only",
}
# In Go's ExtKeyUsage order (the signer sorts them by that enum).
_EXT_KEY_USAGES: tuple[tuple[str, x509.ObjectIdentifier], ...] = (
    ("any", ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE),
    ("server auth", ExtendedKeyUsageOID.SERVER_AUTH),
    ("client auth", ExtendedKeyUsageOID.CLIENT_AUTH),
    ("code signing", ExtendedKeyUsageOID.CODE_SIGNING),
    ("email protection", ExtendedKeyUsageOID.EMAIL_PROTECTION),
    ("s/mime", ExtendedKeyUsageOID.EMAIL_PROTECTION),
    ("ipsec end system", x509.ObjectIdentifier("1.3.6.1.5.5.7.3.5")),
    ("ipsec tunnel", x509.ObjectIdentifier("1.3.6.1.5.5.7.3.6")),
    ("ipsec user", x509.ObjectIdentifier("1.3.6.1.5.5.7.3.7")),
    ("timestamping", ExtendedKeyUsageOID.TIME_STAMPING),
    ("ocsp signing", ExtendedKeyUsageOID.OCSP_SIGNING),
    ("microsoft sgc", x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.3")),
    ("netscape sgc", x509.ObjectIdentifier("2.16.840.1.113730.4.1")),
)
_KUBELET_CLIENT_USAGES = ({"digital signature", "key encipherment", "client auth"},
                          {"digital signature", "client auth"})
_KUBELET_SERVING_USAGES = ({"digital signature", "key encipherment", "server auth"},
                           {"digital signature", "server auth"})

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Fail:
    message: str


@dataclass(frozen=True)
class Sign:
    request: x509.CertificateSigningRequest
    usages: tuple[str, ...]
    duration: datetime.timedelta


Decision = Fail | Sign | None


# --- deciding -----------------------------------------------------------------------------
def _conditions(csr: Obj) -> list[Obj]:
    value = (csr.get("status") or {}).get("conditions")
    return [c for c in value if isinstance(c, Mapping)] if isinstance(value, list) else []


def has_true_condition(csr: Obj, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in _conditions(csr))


def is_approved(csr: Obj) -> bool:
    """Approved and not Denied (kube's IsCertificateRequestApproved)."""
    kinds = {c.get("type") for c in _conditions(csr)}
    return "Approved" in kinds and "Denied" not in kinds


def plan(csr: Obj, max_duration: datetime.timedelta = DEFAULT_DURATION) -> Decision:
    """What the signer for `spec.signerName` does with this request now."""
    spec = csr.get("spec") or {}
    signer = spec.get("signerName")
    if signer not in SIGNERS or not is_approved(csr) or has_true_condition(csr, "Failed"):
        return None
    if (csr.get("status") or {}).get("certificate"):
        return None
    request = parse_request(spec.get("request"))
    if request is None:
        return None  # validation refuses such requests; an old one is left alone
    usages = tuple(str(u) for u in spec.get("usages") or [])
    problem = signer_problem(str(signer), request, usages)
    if problem:
        return Fail(problem)
    return Sign(request, usages, duration(spec.get("expirationSeconds"), max_duration))


def parse_request(value: Any) -> x509.CertificateSigningRequest | None:
    """`spec.request` (base64 of PEM) as a CSR, or None."""
    if not isinstance(value, str):
        return None
    try:
        return x509.load_pem_x509_csr(base64.b64decode(value))
    except (binascii.Error, ValueError):
        return None


def duration(expiration_seconds: Any, max_duration: datetime.timedelta
             ) -> datetime.timedelta:
    """The certificate's lifetime: the requested one within [10 minutes, max_duration]."""
    if not isinstance(expiration_seconds, int) or isinstance(expiration_seconds, bool):
        return max_duration
    wanted = datetime.timedelta(seconds=expiration_seconds)
    return max(MIN_DURATION, min(wanted, max_duration))


def signer_problem(signer: str, request: x509.CertificateSigningRequest,
                   usages: Sequence[str]) -> str:
    """Why `signer` may not issue this request (kube's message), or ""."""
    if signer == KUBE_APISERVER_CLIENT:
        return _client_usage_problem(usages)
    if signer == KUBE_APISERVER_CLIENT_KUBELET:
        return _kubelet_client_problem(request, set(usages))
    if signer == KUBELET_SERVING:
        return _kubelet_serving_problem(request, set(usages))
    return f'unrecognized signerName: "{signer}"'


def _client_usage_problem(usages: Sequence[str]) -> str:
    client_auth = False
    for usage in usages:
        if usage == "client auth":
            client_auth = True
        elif usage not in ("digital signature", "key encipherment"):
            return f"invalid usage for client certificate: {usage}"
    return "" if client_auth else "missing required usage for client certificate: client auth"


def _subject(request: x509.CertificateSigningRequest, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in request.subject.get_attributes_for_oid(oid)]


def _sans(request: x509.CertificateSigningRequest) -> x509.SubjectAlternativeName | None:
    try:
        return request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def _san_values(request: x509.CertificateSigningRequest, kind: type[Any]) -> list[Any]:
    sans = _sans(request)
    return list(sans.get_values_for_type(kind)) if sans is not None else []


def _common_name(request: x509.CertificateSigningRequest) -> str:
    names = _subject(request, NameOID.COMMON_NAME)
    return names[0] if names else ""


def _kubelet_client_problem(request: x509.CertificateSigningRequest, usages: set[str]) -> str:
    if _subject(request, NameOID.ORGANIZATION_NAME) != ["system:nodes"]:
        return "subject organization is not system:nodes"
    for kind, what in ((x509.DNSName, "DNS"), (x509.RFC822Name, "Email"),
                       (x509.IPAddress, "IP"), (x509.UniformResourceIdentifier, "URI")):
        if _san_values(request, kind):
            return f"{what} subjectAltNames are not allowed"
    if not _common_name(request).startswith("system:node:"):
        return "subject common name does not begin with system:node:"
    if usages not in _KUBELET_CLIENT_USAGES:
        return "usages did not match [client auth digital signature key encipherment]"
    return ""


def _kubelet_serving_problem(request: x509.CertificateSigningRequest, usages: set[str]) -> str:
    if _subject(request, NameOID.ORGANIZATION_NAME) != ["system:nodes"]:
        return "subject organization is not system:nodes"
    if not _san_values(request, x509.DNSName) and not _san_values(request, x509.IPAddress):
        return "DNS or IP subjectAltName is required"
    if _san_values(request, x509.RFC822Name):
        return "Email subjectAltNames are not allowed"
    if _san_values(request, x509.UniformResourceIdentifier):
        return "URI subjectAltNames are not allowed"
    if usages not in _KUBELET_SERVING_USAGES:
        return "usages did not match [digital signature key encipherment server auth]"
    if not _common_name(request).startswith("system:node:"):
        return "subject common name does not begin with system:node:"
    return ""


# --- signing ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Authority:
    """The signing CA: its certificate and private key."""

    certificate: x509.Certificate
    key: Any  # a private key cryptography can sign with

    @classmethod
    def from_pem(cls, cert_pem: bytes, key_pem: bytes) -> "Authority":
        return cls(x509.load_pem_x509_certificate(cert_pem),
                   serialization.load_pem_private_key(key_pem, password=None))


def sign(authority: Authority, decision: Sign, now: datetime.datetime) -> bytes:
    """The PEM certificate for `decision`; ValueError when the CA cannot issue it."""
    ca = authority.certificate
    ca_expiry = ca.not_valid_after_utc
    not_before = now - BACKDATE
    not_after = (now + decision.duration if decision.duration < SHORT
                 else not_before + decision.duration)
    if not now < ca_expiry:
        raise ValueError(f"refusing to sign a certificate that expired in the past: "
                         f"NotAfter={ca_expiry}")
    not_after = min(not_after, ca_expiry)
    request = decision.request
    builder = (x509.CertificateBuilder()
               .subject_name(request.subject).issuer_name(ca.subject)
               .public_key(request.public_key())
               .serial_number(x509.random_serial_number() >> 31)  # < 2**128, as Go's
               .not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                              critical=True))
    key_usage = _key_usage(decision.usages)
    if key_usage is not None:
        builder = builder.add_extension(key_usage, critical=True)
    ext = [oid for name, oid in _EXT_KEY_USAGES if name in decision.usages]
    if ext:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(dict.fromkeys(ext))),
                                        critical=False)
    sans = _sans(request)
    if sans is not None and len(sans):
        builder = builder.add_extension(sans, critical=False)
    try:
        ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
    except x509.ExtensionNotFound:
        pass  # Go names the issuer's key only when the CA certificate carries its id
    key = authority.key
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey,
                            ed25519.Ed25519PrivateKey)):
        raise ValueError("the signing key is of an unsupported type")
    cert = builder.sign(key, algorithm)
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_usage(usages: Sequence[str]) -> x509.KeyUsage | None:
    flags = {name: False for name in set(_KEY_USAGES.values())}
    for usage in usages:
        if usage in _KEY_USAGES:
            flags[_KEY_USAGES[usage]] = True
    if not any(flags.values()):
        return None
    if not flags["key_agreement"]:
        # x509 gives "encipher/decipher only" a meaning only with key agreement (and
        # cryptography refuses them without it).
        flags["encipher_only"] = flags["decipher_only"] = False
    return x509.KeyUsage(**flags)
