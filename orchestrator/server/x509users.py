"""Users from client certificates: kube-apiserver's x509 authenticator.

The TLS layer (`tls.server_context(..., client_ca_path)`) has already checked that the
certificate chains to the client CA, is in its validity period and allows client auth. What
is left is kube's `CommonNameUserConversion`: the user is the subject's common name, the
groups its organizations (in order), plus `system:authenticated`; the credential id
(`authentication.kubernetes.io/credential-id`, shown by `kubectl auth whoami`) is
`X509SHA256=` and the hex SHA-256 of the certificate. A certificate without a common name
authenticates nobody (the request goes on to bearer tokens).
"""

from __future__ import annotations

import hashlib
import ssl
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from orchestrator.api.rbac import AUTHENTICATED, UserInfo

CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"
# kube 1.33+'s optional user uid in the subject (AllowParsingUserUIDFromCertAuth).
UID_OID = x509.ObjectIdentifier("1.3.6.1.4.1.57683.2")
_CACHE_LIMIT = 1024

_users: dict[bytes, UserInfo | None] = {}


def peer_certificate(transport: Any) -> bytes | None:
    """The DER certificate the client sent on this connection, if any."""
    if transport is None:
        return None
    ssl_object = transport.get_extra_info("ssl_object")
    if not isinstance(ssl_object, (ssl.SSLObject, ssl.SSLSocket)):
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return der or None


def user_from_certificate(der: bytes) -> UserInfo | None:
    """The user a verified client certificate names (remembered per certificate: a
    connection sends the same one with every request)."""
    digest = hashlib.sha256(der).digest()
    if digest in _users:
        return _users[digest]
    user = _convert(der, digest.hex())
    if len(_users) >= _CACHE_LIMIT:
        _users.clear()
    _users[digest] = user
    return user


def _convert(der: bytes, fingerprint: str) -> UserInfo | None:
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return None
    subject = cert.subject
    names = [str(a.value) for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if not names or not names[0]:
        return None
    groups = [str(a.value) for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    uids = [str(a.value) for a in subject.get_attributes_for_oid(UID_OID)]
    if AUTHENTICATED not in groups:
        groups.append(AUTHENTICATED)
    return UserInfo(names[0], tuple(groups), uids[0] if len(uids) == 1 else "",
                    {CREDENTIAL_ID: (f"X509SHA256={fingerprint}",)})
