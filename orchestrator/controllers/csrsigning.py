"""CSR signing controller: kube-controller-manager's csrsigning controllers for the
`kubernetes.io/kube-apiserver-client`, `kube-apiserver-client-kubelet` and
`kubelet-serving` signers, issuing from the cluster CA (kube's
`--cluster-signing-cert-file`/`--cluster-signing-key-file`).

Once a request is Approved, the signer either writes `status.certificate` (PEM) through the
status subresource or, when the request is not one it may issue, appends a `Failed`
condition (reason `SignerValidationFailure`, kube's message) and leaves it there. The
decisions are `orchestrator.api.csr_signing.plan` and `sign`; this module turns them into a
status write. A write that conflicts is retried with fresh state.
"""

from __future__ import annotations

import base64
import datetime
from typing import Any

from orchestrator.api.csr_signing import (
    DEFAULT_DURATION,
    SIGNER_VALIDATION_FAILURE,
    Authority,
    Fail,
    Sign,
    plan,
    sign,
)
from orchestrator.api.jsoncopy import json_copy
from orchestrator.client import Action, Client, Controller, Declaration, Kind, WriteStatus

Obj = dict[str, Any]
CSR = Kind("certificates.k8s.io/v1", "CertificateSigningRequest")
FIELD_MANAGER = "csrsigning-controller"

DECLARATION = Declaration("csrsigning", FIELD_MANAGER, CSR, field_manager=FIELD_MANAGER)


def _rfc3339(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class SigningLogic:
    def __init__(self, authority: Authority, max_duration: datetime.timedelta) -> None:
        self.authority = authority
        self.max_duration = max_duration

    async def observe(self, client: Client, csr: Obj) -> None:
        return None  # the request itself is all a signer reads

    def plan(self, csr: Obj, observed: None, now: datetime.datetime) -> list[Action]:
        decision = plan(csr, self.max_duration)
        if decision is None:
            return []
        status = json_copy(csr.get("status") or {})
        if isinstance(decision, Fail):
            status.setdefault("conditions", []).append({
                "type": "Failed", "status": "True", "reason": SIGNER_VALIDATION_FAILURE,
                "message": decision.message, "lastUpdateTime": _rfc3339(now)})
        else:
            assert isinstance(decision, Sign)
            # ValueError (an expired CA): retried with back-off, as kube's signer does.
            pem = sign(self.authority, decision, now)
            status["certificate"] = base64.b64encode(pem).decode()
        return [WriteStatus(status)]


class CSRSigningController(Controller[None]):
    def __init__(self, client: Client, authority: Authority,
                 max_duration: datetime.timedelta = DEFAULT_DURATION) -> None:
        super().__init__(client, DECLARATION, SigningLogic(authority, max_duration),
                         workers=1)
        self.authority = authority
        self.max_duration = max_duration
