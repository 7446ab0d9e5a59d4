"""CertificateSigningRequest strategy and validation (orchestrator.api.certificates)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from orchestrator.api import certificates
from orchestrator.api.errors import Invalid
from orchestrator.api.rbac import UserInfo
from orchestrator.api.table_cluster import csr_condition

NOW, LATER = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"


def _request() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    built = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "u")])).sign(key, hashes.SHA256())
    return base64.b64encode(built.public_bytes(serialization.Encoding.PEM)).decode()


def _csr(conditions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"conditions": conditions} if conditions else {}
    return {"metadata": {"name": "c"}, "status": status, "spec": {
        "request": _request(), "signerName": "example.com/signer", "usages": ["client auth"],
        "username": "alice"}}


APPROVED = {"type": "Approved", "status": "True", "reason": "R", "lastUpdateTime": NOW,
            "lastTransitionTime": NOW}


def test_prepare_create_takes_the_requester_from_the_user() -> None:
    csr = _csr([APPROVED])
    csr["spec"]["groups"] = ["forged"]
    certificates.prepare_create(csr, UserInfo("bob", ("devs",), "u-1", {"k": ("v",)}))
    assert (csr["spec"]["username"], csr["spec"]["groups"], csr["spec"]["uid"]) == \
        ("bob", ["devs"], "u-1")
    assert csr["spec"]["extra"] == {"k": ["v"]}
    assert csr["status"] == {}


def test_approval_changes_only_conditions_and_stamps_them() -> None:
    current = _csr()
    new = _csr([{"type": "Approved", "status": "True", "reason": "OK"}])
    new["spec"]["usages"] = ["server auth"]
    out = certificates.prepare_update(current, new, new, "approval", LATER)
    assert out["spec"] == current["spec"]
    (condition,) = out["status"]["conditions"]
    assert condition["lastUpdateTime"] == LATER and condition["lastTransitionTime"] == LATER


def test_status_endpoint_keeps_approval_conditions_as_they_were() -> None:
    current = _csr([APPROVED])
    changed = dict(APPROVED, reason="Rewritten")
    new = _csr([changed, {"type": "Failed", "status": "True", "reason": "Signer"}])
    merged = dict(current, status=new["status"])
    out = certificates.prepare_update(current, new, merged, "status", LATER)
    assert out["status"]["conditions"][0] == APPROVED
    assert out["status"]["conditions"][1]["type"] == "Failed"


@pytest.mark.parametrize("subresource, conditions, message", [
    ("status", [APPROVED], 'updates may not add a condition of type "Approved"'),
    ("", [APPROVED], None),  # the main endpoint keeps status as it was: nothing added
])
def test_only_approval_adds_approval(subresource: str, conditions: list[dict[str, Any]],
                                     message: str | None) -> None:
    current, new = _csr(), _csr(conditions)
    merged = dict(current, status=new["status"]) if subresource == "status" else dict(current)
    if message is None:
        assert "conditions" not in certificates.prepare_update(current, new, merged,
                                                               subresource, LATER)["status"]
        return
    with pytest.raises(Invalid, match=message):
        certificates.prepare_update(current, new, merged, subresource, LATER)


def test_approval_conditions_are_never_removed() -> None:
    with pytest.raises(Invalid, match='may not remove a condition of type "Approved"'):
        certificates.prepare_update(_csr([APPROVED]), _csr(), _csr(), "approval", LATER)


def test_causes_of_a_broken_request() -> None:
    csr = _csr([APPROVED, dict(APPROVED, type="Denied"), {"type": "Failed", "status": "No"}])
    csr["spec"].update(request=base64.b64encode(b"\x00").decode(), usages=["x", "x"],
                       expirationSeconds=599, signerName="example.com")
    found = {(c.field, c.message) for c in certificates.causes(csr)}
    assert ("spec.request", "Invalid value: []byte{0x0}: PEM block type must be "
                            "CERTIFICATE REQUEST") in found
    assert ("spec.usages[1]", 'Duplicate value: "x"') in found
    assert any(f == "spec.usages[0]" and m.startswith('Unsupported value: "x"') for f, m in found)
    assert ("spec.expirationSeconds", "Invalid value: 599: may not specify a duration less "
                                      "than 600 seconds (10 minutes)") in found
    assert ("spec.signerName", "Invalid value: \"example.com\": must be a fully qualified "
                               "domain and path of the form 'example.com/signer-name'") in found
    assert ("status.conditions[1].type", 'Invalid value: "Denied": Approved and Denied '
                                         "conditions are mutually exclusive") in found
    assert ("status.conditions[2].status", 'Unsupported value: "No": supported values: '
                                           '"True"') in found


def test_a_valid_request_has_no_causes() -> None:
    assert certificates.causes(_csr()) == []
    wrapped = _csr()
    pem = base64.b64decode(wrapped["spec"]["request"])
    wrapped["spec"]["request"] = base64.encodebytes(pem).decode()  # line breaks, as Go allows
    assert certificates.causes(wrapped) == []


@pytest.mark.parametrize("signer, problem", [
    ("", "Required value"),
    ("a/b/c", "must be a fully qualified domain"),
    ("example/signer", "should be a domain with at least two segments separated by dots"),
    ("Example.com/signer", 'validating label "Example"'),
    ("example.com/Signer", 'validating label "Signer"'),
])
def test_signer_names(signer: str, problem: str) -> None:
    messages = [c.message for c in certificates.signer_name_causes("spec.signerName", signer)]
    assert any(problem in m for m in messages), messages


def test_condition_column_reads_as_kubectl_prints_it() -> None:
    assert csr_condition(_csr()) == "Pending"
    assert csr_condition(_csr([APPROVED])) == "Approved"
    issued = _csr([APPROVED, {"type": "Failed", "status": "True"}])
    issued["status"]["certificate"] = "Y2VydA=="
    assert csr_condition(issued) == "Approved,Failed,Issued"
    assert csr_condition(_csr([dict(APPROVED, type="Denied")])) == "Denied"
