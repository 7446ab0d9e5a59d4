"""CSR signing controller: kube-controller-manager's csrsigning controllers for the
`kubernetes.io/kube-apiserver-client`, `kube-apiserver-client-kubelet` and
`kubelet-serving` signers, issuing from the cluster CA (kube's
`--cluster-signing-cert-file`/`--cluster-signing-key-file`).

Once a request is Approved, the signer either writes `status.certificate` (PEM) through the
status subresource or, when the request is not one it may issue, appends a `Failed`
condition (reason `SignerValidationFailure`, kube's message) and leaves it there. The
decisions are `orchestrator.api.csr_signing.plan` and `sign`; this module only reads the
informer and writes status. A write that conflicts is retried with fresh state.
"""

from __future__ import annotations

import base64
import datetime
import logging
from typing import Any

from orchestrator.api import errors
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
from orchestrator.api.kinds import BUILTIN_TYPES
from orchestrator.client import Client, Informer, Result, WorkQueue, run_controller

log = logging.getLogger(__name__)

Obj = dict[str, Any]
CSRS = next(rt for rt in BUILTIN_TYPES if rt.group == "certificates.k8s.io"
            and rt.plural == "certificatesigningrequests")
FIELD_MANAGER = "csrsigning-controller"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _rfc3339(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class CSRSigningController:
    def __init__(self, client: Client, authority: Authority,
                 max_duration: datetime.timedelta = DEFAULT_DURATION) -> None:
        self.client = client
        self.authority = authority
        self.max_duration = max_duration
        self.csrs = Informer.shared(client, CSRS)
        self.queue: WorkQueue[str] = WorkQueue()
        self.csrs.add_handler(self._on_csr)

    def _on_csr(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        if new is not None:
            self.queue.add(new["metadata"]["name"])

    async def wait_ready(self) -> None:
        await self.csrs.wait_synced()

    async def run(self) -> None:
        await run_controller("csrsigning", self, self.queue, [self.csrs])

    async def reconcile(self, name: str) -> Result | None:
        csr = self.csrs.get("", name)
        if csr is None:
            return None
        decision = plan(csr, self.max_duration)
        if decision is None:
            return None
        updated = json_copy(csr)
        status = updated.setdefault("status", {})
        now = _now()
        if isinstance(decision, Fail):
            status.setdefault("conditions", []).append({
                "type": "Failed", "status": "True", "reason": SIGNER_VALIDATION_FAILURE,
                "message": decision.message, "lastUpdateTime": _rfc3339(now)})
            log.info("csr %s: not signed: %s", name, decision.message)
        else:
            assert isinstance(decision, Sign)
            # ValueError (an expired CA): retried with back-off, as kube's signer does.
            pem = sign(self.authority, decision, now)
            status["certificate"] = base64.b64encode(pem).decode()
            log.info("csr %s: signed for %s", name, decision.request.subject.rfc4514_string())
        try:
            await self.client.replace(CSRS, updated, "status", field_manager=FIELD_MANAGER)
        except errors.NotFound:
            return None
        return None
