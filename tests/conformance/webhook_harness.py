"""Helpers for the admission webhook tests: a CA of the webhook's own, serving certificates
from it, and the webhook server (webhook_server.py) as a loopback process."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER = str(Path(__file__).parent / "webhook_server.py")


class WebhookCA:
    """A throwaway CA; `bundle` is what a webhook configuration's caBundle holds."""

    def __init__(self, name: str = "webhook-test-ca") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()),
                           critical=False)
            .sign(self.key, hashes.SHA256()))

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def bundle(self) -> str:
        return base64.b64encode(self.pem).decode()

    def serving(self, directory: Path, dns: list[str], ips: list[str] = ()) -> tuple[Path, Path]:
        """(tls.crt, tls.key) of a serving certificate for those names, under directory."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns[0])]))
            .issuer_name(self.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256()))
        directory.mkdir(parents=True, exist_ok=True)
        crt, pem_key = directory / "tls.crt", directory / "tls.key"
        crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        pem_key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
        return crt, pem_key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LoopbackWebhook:
    """webhook_server.py on 127.0.0.1:<port>, started by the test, recording requests."""

    def __init__(self, ca: WebhookCA, directory: Path) -> None:
        self.port = free_port()
        self.record = directory / "requests.jsonl"
        crt, key = ca.serving(directory, ["localhost"], ["127.0.0.1"])
        self.proc = subprocess.Popen(
            [sys.executable, "-u", SERVER, str(crt), str(key), "127.0.0.1", str(self.port),
             str(self.record)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert "ready" in line, line + self.proc.stdout.read()

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        out = [json.loads(line) for line in self.record.read_text().splitlines() if line]
        return [r["review"] for r in out if path is None or r["path"].startswith(path)]

    def paths(self) -> list[str]:
        """The request paths (with their query) received so far."""
        if not self.record.exists():
            return []
        return [json.loads(line)["path"] for line in self.record.read_text().splitlines()
                if line]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def webhook(name: str, client_config: dict[str, Any], *, resources: list[str],
            operations: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """One webhook entry (sideEffects None, admissionReviewVersions v1 unless given)."""
    hook: dict[str, Any] = {
        "name": name, "clientConfig": client_config, "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "rules": [{"operations": operations or ["CREATE"], "apiGroups": [""],
                   "apiVersions": ["v1"], "resources": resources}]}
    hook.update(extra)
    return hook


def configuration(kind: str, name: str, *hooks: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
            "metadata": {"name": name}, "webhooks": list(hooks)}


def iter_lines(text: str) -> Iterator[str]:
    return (line for line in text.splitlines() if line.strip())
