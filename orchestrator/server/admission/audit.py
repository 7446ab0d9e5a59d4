"""A small audit log for what admission flags.

kube-apiserver writes admission's audit annotations into its audit log (an
`audit.k8s.io/v1` Event per request, one JSON line each). We have no general audit log, so
this one records, in the same format, only the requests an admission plugin flagged: an
annotation ending in `/audit-violations` or `/error` (Pod Security's audit mode). Routine
annotations (`enforce-policy`, `exempt`) ride along on flagged events but do not cause one.
The file is rotated at `MAX_BYTES`, keeping one old file (`audit.log.1`).
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path

from orchestrator.api import errors
from orchestrator.server.admission.interfaces import Attributes

log = logging.getLogger(__name__)

FLAGGING_SUFFIXES = ("/audit-violations", "/error")
MAX_BYTES = 16 * 1024 * 1024
_VERBS = {"CREATE": "create", "UPDATE": "update", "DELETE": "delete", "CONNECT": "create"}


def flagged(attrs: Attributes) -> bool:
    return any(key.endswith(FLAGGING_SUFFIXES) for key in attrs.audit_annotations)


def event(attrs: Attributes, error: errors.APIError | None,
          now: datetime | None = None) -> dict[str, object]:
    """The audit.k8s.io/v1 Event (level Metadata) for one admitted or refused request."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    rt = attrs.resource
    ref: dict[str, object] = {"resource": rt.plural, "apiGroup": rt.group,
                              "apiVersion": rt.version, "name": attrs.name}
    if attrs.namespace:
        ref["namespace"] = attrs.namespace
    if attrs.subresource:
        ref["subresource"] = attrs.subresource
    user: dict[str, object] = {"username": attrs.user_name}
    if attrs.user is not None:
        user["groups"] = list(attrs.user.groups)
        if attrs.user.uid:
            user["uid"] = attrs.user.uid
    return {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": str(uuid.uuid4()), "stage": "ResponseComplete",
        "verb": _VERBS[attrs.operation.value], "user": user, "objectRef": ref,
        "responseStatus": {"metadata": {}, "code": error.code if error else 200},
        "requestReceivedTimestamp": stamp, "stageTimestamp": stamp,
        "annotations": dict(attrs.audit_annotations),
    }


class AuditLog:
    """Appends flagged requests to `path`, one JSON line each."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __call__(self, attrs: Attributes, error: errors.APIError | None) -> None:
        if not flagged(attrs):
            return
        line = json.dumps(event(attrs, error), separators=(",", ":")) + "\n"
        try:
            if self.path.exists() and self.path.stat().st_size + len(line) > MAX_BYTES:
                os.replace(self.path, self.path.with_name(self.path.name + ".1"))
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                fh.write(line)
        except OSError as exc:  # an audit write never fails the request
            log.warning("audit log %s: %s", self.path, exc)
