"""The certificates admission plugins of kube-apiserver (plugin/pkg/admission/certificates):

- CertificateApproval: approving or denying a request (the `approval` subresource) needs
  the `approve` verb on `signers` (group certificates.k8s.io) named by the request's
  signer, or by its `<domain>/*` wildcard;
- CertificateSigning: writing `status.certificate` (the `status` subresource) needs `sign`
  on that signer;
- CertificateSubjectRestriction: a request for `kubernetes.io/kube-apiserver-client` may not
  ask for the group `system:masters` (a certificate for it could never be revoked).

Who writes without a user (the server itself) is not checked.
"""

from __future__ import annotations

from typing import Any

from cryptography.x509.oid import NameOID

from orchestrator.api import errors
from orchestrator.api.csr_signing import KUBE_APISERVER_CLIENT, parse_request
from orchestrator.api.rbac import MASTERS, Attributes as AuthzAttributes, UserInfo, authorize
from orchestrator.server.admission.interfaces import Attributes, Operation, PluginContext
from orchestrator.server.admission.rbac_escalation import rbac_state

APPROVAL_NAME = "CertificateApproval"
SIGNING_NAME = "CertificateSigning"
SUBJECT_RESTRICTION_NAME = "CertificateSubjectRestriction"
CSRS = "certificates.k8s.io/certificatesigningrequests"
_RESOURCE = "certificatesigningrequests.certificates.k8s.io"


def _forbidden(attrs: Attributes, why: str) -> errors.Forbidden:
    return errors.Forbidden(f'{_RESOURCE} "{attrs.name}" is forbidden: {why}',
                            name=attrs.name, group="certificates.k8s.io",
                            kind="certificatesigningrequests")


def _signer(obj: dict[str, Any] | None) -> str:
    spec = (obj or {}).get("spec") or {}
    return str(spec.get("signerName") or "")


def authorized_for_signer(store: Any, user: UserInfo, verb: str, signer: str) -> bool:
    """kube's IsAuthorizedForSignerName: the verb on the signer, or on `<domain>/*`."""
    if MASTERS in user.groups:
        return True
    state = rbac_state(store)
    names = [signer]
    if "/" in signer:
        names.append(signer.split("/", 1)[0] + "/*")
    return any(authorize(user, AuthzAttributes(verb, "", "certificates.k8s.io", "signers",
                                               name=name), state)[0] for name in names)


class CertificateApproval:
    name = APPROVAL_NAME
    resources: frozenset[str] | None = frozenset({CSRS})
    operations = frozenset({Operation.UPDATE})

    def __init__(self, ctx: PluginContext) -> None:
        self.store = ctx.store

    def validate(self, attrs: Attributes) -> None:
        if attrs.subresource != "approval" or attrs.user is None:
            return
        signer = _signer(attrs.obj)
        if not authorized_for_signer(self.store, attrs.user, "approve", signer):
            raise _forbidden(attrs, f'user not permitted to approve requests with signerName '
                                    f'"{signer}"')


class CertificateSigning:
    name = SIGNING_NAME
    resources: frozenset[str] | None = frozenset({CSRS})
    operations = frozenset({Operation.UPDATE})

    def __init__(self, ctx: PluginContext) -> None:
        self.store = ctx.store

    def validate(self, attrs: Attributes) -> None:
        if attrs.subresource != "status" or attrs.user is None:
            return
        new = ((attrs.obj or {}).get("status") or {}).get("certificate")
        old = ((attrs.old or {}).get("status") or {}).get("certificate")
        if new == old:
            return
        signer = _signer(attrs.old)
        if not authorized_for_signer(self.store, attrs.user, "sign", signer):
            raise _forbidden(attrs, f'user not permitted to sign requests with signerName '
                                    f'"{signer}"')


class CertificateSubjectRestriction:
    name = SUBJECT_RESTRICTION_NAME
    resources: frozenset[str] | None = frozenset({CSRS})
    operations = frozenset({Operation.CREATE})

    def __init__(self, ctx: PluginContext) -> None:
        pass

    def validate(self, attrs: Attributes) -> None:
        if attrs.subresource or _signer(attrs.obj) != KUBE_APISERVER_CLIENT:
            return
        request = parse_request(((attrs.obj or {}).get("spec") or {}).get("request"))
        if request is None:
            return  # validation has refused it already
        groups = [a.value for a in
                  request.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
        if MASTERS in groups:
            raise _forbidden(attrs, f"use of {KUBE_APISERVER_CLIENT} signer with {MASTERS} "
                                    "group is not allowed")
