"""What can go wrong between a kubeconfig and an answer from the API server."""

from __future__ import annotations

import json


class KubeconfigError(ValueError):
    """The kubeconfig cannot be used as written (missing file, context, cluster, server...);
    the message says which part."""


class Unsupported(Exception):
    """This kubeconfig needs something only the full `kubernetes` client does (an auth
    provider, impersonation, a proxy...): the caller falls back to that client."""


class APIStatusError(Exception):
    """The API server answered with an error; `status`, `reason` and `body` as on the wire
    (the attributes the `kubernetes` client's ApiException has), `message` from its Status."""

    def __init__(self, status: int, reason: str, body: bytes | str | None) -> None:
        self.status = status
        self.reason = reason
        self.body = body.decode(errors="replace") if isinstance(body, bytes) else body
        self.message = _status_message(self.body) or reason or f"HTTP {status}"
        super().__init__(self.message)


def _status_message(body: str | None) -> str:
    try:
        status = json.loads(body or "")
    except ValueError:
        return (body or "").strip().splitlines()[0] if (body or "").strip() else ""
    return str(status.get("message") or "") if isinstance(status, dict) else ""
