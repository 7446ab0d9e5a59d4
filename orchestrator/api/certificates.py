"""CertificateSigningRequests (certificates.k8s.io/v1): the registry strategy and validation
of kube-apiserver's pkg/registry/certificates and pkg/apis/certificates/validation.

A request records who asked (the server fills `spec.username`, `uid`, `groups`, `extra`
from the authenticated user) and is immutable after creation except through two
subresources, each with its own rule:

- `approval` (what `kubectl certificate approve|deny` writes): only `status.conditions`
  changes; Approved and Denied are only set here;
- `status` (a signer's): everything in status except the Approved/Denied conditions.

Conditions get `lastUpdateTime` and `lastTransitionTime` filled in when missing. No signer
runs here yet: an approved request keeps no certificate until one does.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Mapping

from cryptography import x509

from orchestrator.api.errors import (
    Cause,
    Invalid,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    required,
)
from orchestrator.api.jsoncopy import json_copy
from orchestrator.api.names import name_messages
from orchestrator.api.rbac import UserInfo

CSR_KEY = "certificates.k8s.io/certificatesigningrequests"
GROUP, KIND = "certificates.k8s.io", "CertificateSigningRequest"
APPROVED, DENIED, FAILED = "Approved", "Denied", "Failed"
_TRUE_ONLY_TYPES = (APPROVED, DENIED, FAILED)
_STATUS_VALUES = ("False", "True", "Unknown")
LEGACY_UNKNOWN_SIGNER = "kubernetes.io/legacy-unknown"
MIN_EXPIRATION_SECONDS = 600

# x509 key usages a request may ask for (certificates.KeyUsage), in Go's sorted order.
VALID_USAGES = (
    "any", "cert sign", "client auth", "code signing", "content commitment", "crl sign",
    "data encipherment", "decipher only", "digital signature", "email protection",
    "encipher only", "ipsec end system", "ipsec tunnel", "ipsec user", "key agreement",
    "key encipherment", "microsoft sgc", "netscape sgc", "ocsp signing", "s/mime",
    "server auth", "signing", "timestamping",
)

Obj = dict[str, Any]

# Schema-required fields whose absence the rules below report in kube's own words.
REQUIRED_CHECKED_HERE = frozenset({("io.k8s.api.certificates.v1.CertificateSigningRequestSpec",
                                    "request")})


# --- strategy -----------------------------------------------------------------------------
def prepare_create(csr: Obj, user: UserInfo | None) -> None:
    """Who asked comes from the request, never from the body; a new request is never
    approved (PrepareForCreate)."""
    spec = csr.setdefault("spec", {})
    if not isinstance(spec, dict):
        return  # schema validation reports it
    for key in ("username", "uid", "groups", "extra"):
        spec.pop(key, None)
    if user is not None:
        if user.name:
            spec["username"] = user.name
        if user.uid:
            spec["uid"] = user.uid
        if user.groups:
            spec["groups"] = list(user.groups)
        if user.extra:
            spec["extra"] = {k: list(v) for k, v in user.extra.items()}
    csr["status"] = {}


def prepare_update(current: Obj, new: Obj, merged: Obj, subresource: str, now: str) -> Obj:
    """`merged` (the generic update of `current` by `new`) as the CSR strategies leave it,
    after refusing what an update through this endpoint may not change."""
    out = json_copy(merged)
    out["spec"] = json_copy(current.get("spec") or {})
    old_status = _mapping(current.get("status"))
    if subresource == "approval":
        status = json_copy(dict(old_status))
        conditions = _conditions(_mapping(new.get("status")))
        status["conditions"] = json_copy(conditions)
        _drop_empty_conditions(status)
        out["status"] = status
    elif subresource == "status":
        status = json_copy(dict(_mapping(out.get("status"))))
        conditions = [dict(c) for c in _conditions(status)]
        for kind in (APPROVED, DENIED):
            _preserve_instances(conditions, _conditions(old_status), kind)
        status["conditions"] = conditions
        _drop_empty_conditions(status)
        out["status"] = status
    else:
        out["status"] = json_copy(dict(old_status))
    _populate_timestamps(_conditions(out["status"]), _conditions(old_status), now)
    causes = update_causes(out, current, subresource)
    if causes:
        name = str(_mapping(current.get("metadata")).get("name", ""))
        raise Invalid.of(KIND, GROUP, name, causes)
    return out


def _preserve_instances(new: list[Obj], old: list[Obj], kind: str) -> None:
    """preserveConditionInstances: the status endpoint keeps approval conditions as they
    were, unless it added or removed some (validation then refuses that)."""
    old_at = [i for i, c in enumerate(old) if c.get("type") == kind]
    new_at = [i for i, c in enumerate(new) if c.get("type") == kind]
    if len(old_at) != len(new_at):
        return
    for n, o in zip(new_at, old_at):
        new[n] = json_copy(old[o])


def _populate_timestamps(new: list[Any], old: list[Obj], now: str) -> None:
    for condition in new:
        if not isinstance(condition, dict):
            continue
        if not condition.get("lastUpdateTime"):
            condition["lastUpdateTime"] = now
        if not condition.get("lastTransitionTime"):
            same = [o.get("lastTransitionTime") for o in old
                    if o.get("type") == condition.get("type")
                    and o.get("status") == condition.get("status") and o.get("lastTransitionTime")]
            condition["lastTransitionTime"] = same[0] if same else now


def _drop_empty_conditions(status: Obj) -> None:
    if not status.get("conditions"):
        status.pop("conditions", None)  # `omitempty`: no conditions, no key


# --- validation ---------------------------------------------------------------------------
def causes(csr: Mapping[str, Any]) -> list[Cause]:
    """validateCertificateSigningRequest: the request, usages, signer, duration and
    conditions of one CSR."""
    spec = _mapping(csr.get("spec"))
    out: list[Cause] = []
    problem = request_problem(spec.get("request"))
    if problem:
        out.append(invalid("spec.request", _go_bytes(spec.get("request")), problem))
    raw_usages = spec.get("usages")
    usages: list[Any] = raw_usages if isinstance(raw_usages, list) else []
    if not usages:
        out.append(required("spec.usages"))
    seen: set[str] = set()
    for index, usage in enumerate(usages):
        if usage not in VALID_USAGES:
            out.append(not_supported(f"spec.usages[{index}]", usage, list(VALID_USAGES)))
    for index, usage in enumerate(usages):
        if usage in seen:
            out.append(duplicate(f"spec.usages[{index}]", usage))
        seen.add(str(usage))
    signer = spec.get("signerName")
    if signer == LEGACY_UNKNOWN_SIGNER:
        out.append(invalid("spec.signerName", signer,
                           "the legacy signerName is not allowed via this API version"))
    else:
        out += signer_name_causes("spec.signerName", signer if isinstance(signer, str) else "")
    expiration = spec.get("expirationSeconds")
    if isinstance(expiration, int) and expiration < MIN_EXPIRATION_SECONDS:
        out.append(invalid("spec.expirationSeconds", expiration,
                           "may not specify a duration less than 600 seconds (10 minutes)"))
    status = _mapping(csr.get("status"))
    out += _condition_causes(_conditions(status))
    certificate = status.get("certificate")
    if isinstance(certificate, str) and certificate:
        problem = certificate_problem(certificate)
        if problem:
            out.append(invalid("status.certificate", "<certificate data>", problem))
    return out


def _condition_causes(conditions: list[Obj]) -> list[Cause]:
    out: list[Cause] = []
    seen: set[str] = set()
    approved = denied = False
    for index, condition in enumerate(conditions):
        here = f"status.conditions[{index}]"
        kind, value = condition.get("type") or "", condition.get("status") or ""
        if not kind:
            out.append(required(f"{here}.type"))
        allowed = ("True",) if kind in _TRUE_ONLY_TYPES else _STATUS_VALUES
        if not value:
            out.append(required(f"{here}.status"))
        elif value not in allowed:
            out.append(not_supported(f"{here}.status", value, list(allowed)))
        if kind == APPROVED:
            approved = True
            if denied:
                out.append(invalid(f"{here}.type", kind,
                                   "Approved and Denied conditions are mutually exclusive"))
        elif kind == DENIED:
            denied = True
            if approved:
                out.append(invalid(f"{here}.type", kind,
                                   "Approved and Denied conditions are mutually exclusive"))
        if kind in seen:
            out.append(duplicate(f"{here}.type", kind))
        seen.add(str(kind))
    return out


def update_causes(new: Mapping[str, Any], old: Mapping[str, Any], subresource: str) -> list[Cause]:
    """validateCertificateSigningRequestUpdate: Approved, Denied and Failed never go away;
    only the approval subresource adds or changes Approved and Denied; only the status
    subresource sets the certificate, once."""
    new_conditions = _conditions(_mapping(new.get("status")))
    old_conditions = _conditions(_mapping(old.get("status")))
    out: list[Cause] = []
    for kind in (APPROVED, DENIED, FAILED):
        if _count(new_conditions, kind) < _count(old_conditions, kind):
            out.append(forbidden("status.conditions",
                                 f'updates may not remove a condition of type "{kind}"'))
    if subresource != "approval":
        for kind in (APPROVED, DENIED):
            was = [c for c in old_conditions if c.get("type") == kind]
            now = [c for c in new_conditions if c.get("type") == kind]
            if len(now) > len(was):
                out.append(forbidden("status.conditions",
                                     f'updates may not add a condition of type "{kind}"'))
            elif len(now) == len(was) and now != was:
                out.append(forbidden("status.conditions",
                                     f'updates may not modify a condition of type "{kind}"'))
    new_cert = _mapping(new.get("status")).get("certificate") or ""
    old_cert = _mapping(old.get("status")).get("certificate") or ""
    if new_cert != old_cert:
        if subresource != "status":
            out.append(forbidden("status.certificate", "updates may not set certificate content"))
        elif old_cert:
            out.append(forbidden("status.certificate",
                                 "updates may not modify existing certificate content"))
    return out


def _count(conditions: list[Obj], kind: str) -> int:
    return sum(1 for c in conditions if c.get("type") == kind)


def request_problem(value: Any) -> str:
    """Why `spec.request` (base64 of a PEM CERTIFICATE REQUEST) is unusable, or ""."""
    pem = _decoded(value)
    block = _first_pem_block(pem)
    if block is None or block[0] != "CERTIFICATE REQUEST":
        return "PEM block type must be CERTIFICATE REQUEST"
    try:
        request = x509.load_pem_x509_csr(block[1])
    except ValueError:
        return "x509: malformed certificate request"
    try:
        valid = request.is_signature_valid
    except Exception:  # an algorithm cryptography cannot check: Go cannot either
        return "x509: cannot verify signature: algorithm unimplemented"
    return "" if valid else "x509: signature verification failure"


def certificate_problem(value: Any) -> str:
    """validateCertificate: only CERTIFICATE blocks without headers, each a certificate."""
    rest = _decoded(value)
    blocks = 0
    while True:
        block = _first_pem_block(rest)
        if block is None:
            break
        kind, text, rest, headers = block[0], block[1], block[2], block[3]
        if kind != "CERTIFICATE":
            return f'only CERTIFICATE PEM blocks are allowed, found "{kind}"'
        if headers:
            return "no PEM block headers are permitted"
        blocks += 1
        try:
            x509.load_pem_x509_certificate(text)
        except ValueError:
            return "x509: malformed certificate"
    return "" if blocks else "must contain at least one CERTIFICATE PEM block"


def _first_pem_block(data: bytes) -> tuple[str, bytes, bytes, bool] | None:
    """(type, the block's own PEM text, what follows it, has headers), as pem.Decode finds
    the first well-formed block; None when there is none."""
    start = data.find(b"-----BEGIN ")
    while start != -1:
        head_end = data.find(b"-----", start + 11)
        line_end = data.find(b"\n", start)
        if head_end == -1 or line_end == -1 or head_end > line_end:
            start = data.find(b"-----BEGIN ", start + 1)
            continue
        kind = data[start + 11:head_end].decode("ascii", "replace")
        footer = b"-----END " + kind.encode() + b"-----"
        end = data.find(footer, line_end)
        if end == -1:
            return None
        first_line = data[line_end + 1:end].split(b"\n", 1)[0]
        headers = b":" in first_line  # `Proc-Type: 4,ENCRYPTED` and friends
        stop = end + len(footer)
        return kind, data[start:stop] + b"\n", data[stop:], headers
    return None


def signer_name_causes(path: str, signer: str) -> list[Cause]:
    """ValidateSignerName: `<domain>/<path>`, the domain DNS labels with at least one dot,
    the path DNS subdomains."""
    if not signer:
        return [required(path)]
    segments = signer.split("/")
    if len(segments) != 2:
        return [invalid(path, signer, "must be a fully qualified domain and path of the form "
                                      "'example.com/signer-name'")]
    domain, rest = segments
    out: list[Cause] = []
    if len(domain) > 253:
        out.append(Cause("FieldValueTooLong", "Too long: may not be more than 253 bytes", path))
    labels = domain.split(".")
    for label in labels:
        problems = name_messages(label, "dns1123-label")
        if problems:
            out += [invalid(path, domain, f'validating label "{label}": {p}') for p in problems]
            break
    if len(labels) < 2:
        out.append(invalid(path, domain, "should be a domain with at least two segments "
                                         "separated by dots"))
    for label in rest.split("."):
        problems = name_messages(label, "dns1123-subdomain")
        if problems:
            out += [invalid(path, rest, f'validating label "{label}": {p}') for p in problems]
            break
    if len(signer) > 571:
        out.append(Cause("FieldValueTooLong", "Too long: may not be more than 571 bytes", path))
    return out


# --- helpers ------------------------------------------------------------------------------
def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _conditions(status: Mapping[str, Any]) -> list[Obj]:
    value = status.get("conditions")
    return [c for c in value if isinstance(c, dict)] if isinstance(value, list) else []


def _decoded(value: Any) -> bytes:
    if not isinstance(value, str):
        return b""
    try:
        return base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        return b""  # the schema's byte check reports bad base64 first


def _go_bytes(value: Any) -> "_GoBytes":
    return _GoBytes(_decoded(value) if isinstance(value, str) else None)


class _GoBytes:
    """A []byte as Go's `%#v` prints it in a field error (`[]byte{0x2d, 0x2d}`, or
    `[]byte(nil)` when the field was absent)."""

    def __init__(self, data: bytes | None) -> None:
        self.data = data

    def __str__(self) -> str:
        if self.data is None:
            return "[]byte(nil)"
        return "[]byte{" + ", ".join(f"0x{b:x}" for b in self.data) + "}"



CAUSES = {(GROUP, KIND): causes}
