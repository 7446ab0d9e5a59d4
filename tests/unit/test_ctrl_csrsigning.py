"""The CSR signing controller against a real control plane: an approved client request is
issued a certificate from the cluster CA; one it may not issue is marked Failed."""

from __future__ import annotations

import asyncio
import base64
from typing import Any, Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from orchestrator import ControlPlane
from orchestrator.client import Client


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(data_dir=tmp_path_factory.mktemp("cp"), components=("controllers",)) as cp:
        yield cp


def request(name: str, usages: list[str]) -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    der = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, name)])).sign(key, hashes.SHA256())
    pem = der.public_bytes(serialization.Encoding.PEM)
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": {"request": base64.b64encode(pem).decode(), "usages": usages,
                     "signerName": "kubernetes.io/kube-apiserver-client"}}


async def approved(client: Client, obj: dict[str, Any]) -> dict[str, Any]:
    rt = client.resource("certificates.k8s.io/v1", "CertificateSigningRequest")
    csr = await client.create(rt, obj)
    csr["status"] = {"conditions": [{"type": "Approved", "status": "True",
                                     "reason": "Test", "message": "approved by the test"}]}
    await client.replace(rt, csr, "approval")
    for _ in range(200):
        csr = await client.get(rt, obj["metadata"]["name"])
        status = csr.get("status") or {}
        if status.get("certificate") or any(c["type"] == "Failed"
                                            for c in status.get("conditions") or []):
            return csr
        await asyncio.sleep(0.05)
    raise AssertionError(f"not signed: {csr}")


def test_signs_approved_and_fails_unfit_requests(control_plane: ControlPlane) -> None:
    async def main() -> None:
        async with Client.from_kubeconfig(control_plane.kubeconfig) as client:
            rt = client.resource("certificates.k8s.io/v1", "CertificateSigningRequest")
            good = await approved(client, request("alice", ["client auth"]))
            cert = x509.load_pem_x509_certificate(base64.b64decode(
                good["status"]["certificate"]))
            assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice"
            bad = await approved(client, request("bob", ["server auth"]))
            assert "certificate" not in bad["status"]
            failed = [c for c in bad["status"]["conditions"] if c["type"] == "Failed"]
            assert failed[0]["reason"] == "SignerValidationFailure"
            for name in ("alice", "bob"):
                await client.delete(rt, name)
    asyncio.run(main())
