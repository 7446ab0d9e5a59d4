"""A private CA and serving certificate for the API server, made once per data dir.

Kubernetes clients (client-go, and so kubectl and Helm) will not send a bearer token over
plain HTTP, so the server speaks TLS with a certificate its kubeconfig trusts.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SERVER_NAMES = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local")
SERVER_IPS = ("127.0.0.1", "::1", "127.96.0.1", "10.96.0.1")
VALIDITY = datetime.timedelta(days=3650)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def ensure_certificates(directory: Path, extra_ips: tuple[str, ...] = ()
                        ) -> tuple[Path, Path, Path]:
    """(ca.crt, server.crt, server.key) under `directory`, created if missing."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_path, crt_path, key_path = (directory / "ca.crt", directory / "server.crt",
                                   directory / "server.key")
    if ca_path.exists() and crt_path.exists() and key_path.exists():
        return ca_path, crt_path, key_path
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "daskhub-lite-ca")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True,
            content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in SERVER_NAMES]
    sans += [x509.IPAddress(ipaddress.ip_address(ip))
             for ip in dict.fromkeys(SERVER_IPS + extra_ips)]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    crt_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_private(key_path, _key_pem(key))
    _write_private(directory / "ca.key", _key_pem(ca_key))
    return ca_path, crt_path, key_path


def server_context(crt_path: Path, key_path: Path,
                   client_ca_path: Path | None = None) -> ssl.SSLContext:
    """The API server's TLS context. With `client_ca_path` (kube-apiserver's
    `--client-ca-file`) it asks every client for a certificate, optionally: one that is
    sent must chain to that CA and allow client auth, and then names the user
    (`orchestrator.server.x509users`); clients without one go on to bearer tokens.

    Unlike Go's `tls.RequestClientCert`, OpenSSL checks a certificate that is sent during
    the handshake: an expired or foreign one ends the connection there (the client sees it
    closed: kubectl's "Unable to connect to the server: EOF") instead of getting a 401.
    """
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(crt_path), str(key_path))
    if client_ca_path is not None:
        ctx.load_verify_locations(cafile=str(client_ca_path))
        ctx.verify_mode = ssl.CERT_OPTIONAL
        # Go's verifier is not RFC 5280-strict (missing key identifiers are fine); newer
        # Pythons turn strict checking on by default.
        ctx.verify_flags &= ~getattr(ssl, "VERIFY_X509_STRICT", 0)
    return ctx


def ensure_front_proxy(directory: Path) -> tuple[Path, Path, Path]:
    """(front-proxy-ca.crt, front-proxy-client.crt, front-proxy-client.key), created if
    missing: kube-apiserver's --requestheader-client-ca-file and --proxy-client-cert-file.
    The API server presents the client certificate to aggregated API servers, which trust
    the X-Remote-User/Group headers of a request made with it (kubeadm's layout)."""
    ca_path, crt_path, key_path = (directory / "front-proxy-ca.crt",
                                   directory / "front-proxy-client.crt",
                                   directory / "front-proxy-client.key")
    if ca_path.exists() and crt_path.exists() and key_path.exists():
        return ca_path, crt_path, key_path
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "front-proxy-ca")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                    "front-proxy-client")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256()))
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    crt_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_private(key_path, _key_pem(key))
    _write_private(directory / "front-proxy-ca.key", _key_pem(ca_key))
    return ca_path, crt_path, key_path
