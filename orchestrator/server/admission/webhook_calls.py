"""Sending AdmissionReviews: kube-apiserver's webhook client, over HTTPS only.

- `clientConfig.url`: POSTed to as given;
- `clientConfig.service`: to `https://<name>.<namespace>.svc:<port><path>` (port 443 by
  default), dialled at the Service's cluster IP as kube-apiserver's ClusterIP resolver does
  — in loopback mode the service proxy listens on it in this very process (ports below 1024
  at port + 40000, where it always serves them); an ExternalName Service is dialled at its
  external name;
- the server certificate must be valid for that host name and chain to `caBundle` (the
  system's roots when it is empty);
- `?timeout=<n>s` tells the webhook its deadline, and the call is abandoned then
  (`context deadline exceeded`).

Failures are reported in kube's words, as the reason after `failed calling webhook`:
`failed to call webhook: Post "https://...": dial tcp 127.96.0.12:443: connect:
connection refused`. Everything here awaits; nothing blocks the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import ssl
from typing import Any, Mapping

import aiohttp
from yarl import URL

from orchestrator.api import admission_review as ar
from orchestrator.server.admission.webhook_rounds import Outcome, PendingCall
from orchestrator.server.service_dial import Target, Unreachable, service_target, url_target
from orchestrator.store import Store

MAX_RESPONSE_BYTES = 16 * 1024 * 1024
_GENERIC_STATUS = {
    400: "the server rejected our request for an unknown reason",
    401: "the server has asked for the client to provide credentials",
    403: "forbidden",
    404: "the server could not find the requested resource",
    405: "the server does not allow this method on the requested resource",
    409: "the server reported a conflict",
    413: "the server rejected the request because it is too large",
    429: "the server has received too many requests and has asked us to try again later",
    503: "the server is currently unable to handle the request",
    504: "the server was unable to return a response in the time allotted, but may still "
         "be processing the request",
}


class WebhookCaller:
    """Makes the calls of `webhook_rounds.admitted`; one HTTP session per event loop."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._session: aiohttp.ClientSession | None = None
        self._contexts: dict[bytes, ssl.SSLContext] = {}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                trust_env=False, connector=aiohttp.TCPConnector(limit=256),
                skip_auto_headers=("User-Agent",))
        return self._session

    def _ssl(self, bundle: bytes) -> ssl.SSLContext:
        digest = hashlib.sha256(bundle).digest()
        ctx = self._contexts.get(digest)
        if ctx is None:
            if bundle:
                ctx = ssl.create_default_context(cadata=bundle.decode("ascii", "replace"))
            else:
                ctx = ssl.create_default_context()
            if len(self._contexts) > 256:
                self._contexts.clear()
            self._contexts[digest] = ctx
        return ctx

    async def call(self, pending: PendingCall) -> Outcome:
        hook = pending.hook
        config = hook.client_config
        timeout = hook.timeout_seconds
        try:
            target = self.target(config)
        except Unreachable as exc:
            return Outcome(failure=f"failed to call webhook: {exc}")
        display = f"{target.display}?timeout={timeout}s"
        try:
            bundle = base64.b64decode(str(config.get("caBundle") or ""), validate=True)
            ctx = self._ssl(bundle)
        except (binascii.Error, ValueError, ssl.SSLError) as exc:
            return Outcome(failure=f"could not get REST client: unable to load root "
                                   f"certificates: {exc}")
        url = URL.build(scheme="https", host=target.connect_host, port=target.connect_port,
                        path=target.path or "/", query={"timeout": f"{timeout}s"},
                        encoded=False)
        body = json.dumps(pending.review, separators=(",", ":")).encode()
        try:
            async with asyncio.timeout(timeout):
                async with self._http().post(
                        url, data=body, ssl=ctx, server_hostname=target.host,
                        headers={"Content-Type": "application/json",
                                 "Accept": "application/json, */*",
                                 "Host": f"{target.host}:{target.shown_port}",
                                 "User-Agent": "kube-apiserver-admission"},
                        allow_redirects=False) as response:
                    data = await response.content.read(MAX_RESPONSE_BYTES + 1)
                    status = response.status
        except (asyncio.TimeoutError, TimeoutError):
            return Outcome(failure=f'failed to call webhook: Post "{display}": context '
                                   "deadline exceeded")
        except aiohttp.ClientConnectorCertificateError as exc:
            return Outcome(failure=f'failed to call webhook: Post "{display}": '
                                   f"{_certificate_problem(exc.certificate_error)}")
        except aiohttp.ClientSSLError as exc:
            return Outcome(failure=f'failed to call webhook: Post "{display}": '
                                   f"remote error: tls: {exc.strerror or exc}")
        except aiohttp.ClientConnectorError as exc:
            why = "connection refused" if isinstance(exc.os_error, ConnectionRefusedError) \
                else (exc.os_error.strerror or str(exc.os_error)).lower()
            return Outcome(failure=f'failed to call webhook: Post "{display}": dial tcp '
                                   f"{target.connect_host}:{target.shown_port}: connect: {why}")
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError):
            return Outcome(failure=f'failed to call webhook: Post "{display}": EOF')
        except aiohttp.ClientError as exc:
            return Outcome(failure=f'failed to call webhook: Post "{display}": {exc}')
        if len(data) > MAX_RESPONSE_BYTES:
            return Outcome(failure="failed to call webhook: the response is larger than "
                                   f"{MAX_RESPONSE_BYTES} bytes")
        return self._read(pending, status, data)

    def _read(self, pending: PendingCall, status: int, data: bytes) -> Outcome:
        try:
            decoded = json.loads(data) if data else None
        except (ValueError, UnicodeDecodeError) as exc:
            decoded, problem = None, str(exc)
        else:
            problem = ""
        if not 200 <= status <= 206:
            if isinstance(decoded, Mapping) and decoded.get("kind") == "Status":
                why = str(decoded.get("message") or _generic(status, data))
            else:
                why = _generic(status, data)
            return Outcome(failure=f"failed to call webhook: {why}")
        if problem:
            return Outcome(failure="failed to call webhook: couldn't get version/kind; json "
                                   f"parse error: {problem}")
        try:
            answer = ar.verify(decoded, pending.uid, pending.version, pending.mutating)
        except ar.InvalidResponse as exc:
            return Outcome(failure=str(exc))
        return Outcome(answer=answer)

    def target(self, config: Mapping[str, Any]) -> Target:
        url = config.get("url")
        if isinstance(url, str) and url:
            return url_target(url)
        service = config.get("service") or {}
        namespace, name = str(service.get("namespace") or ""), str(service.get("name") or "")
        port = int(service.get("port") or 443)
        path = str(service.get("path") or "")
        try:
            return service_target(self.store, namespace, name, port, path)
        except Unreachable as exc:
            raise Unreachable(f'Post "https://{name}.{namespace}.svc:{port}{path}": {exc}'
                              ) from None


def _generic(status: int, data: bytes) -> str:
    """client-go's message for an error answer without a Status body."""
    if status == 500 or status not in _GENERIC_STATUS and status >= 500:
        text = data.decode("utf-8", "replace").strip()
        return (f"an error on the server ({json.dumps(text)}) has prevented the request from "
                "succeeding")
    return _GENERIC_STATUS.get(status, f"the server responded with the status code {status} "
                                       "but did not return more information")


def _certificate_problem(error: Exception) -> str:
    """A certificate verification failure, as Go's TLS stack words the common ones."""
    code = getattr(error, "verify_code", None)
    message = str(getattr(error, "verify_message", "") or error)
    if code in (2, 19, 20, 21):
        return "tls: failed to verify certificate: x509: certificate signed by unknown authority"
    if code == 10:
        return ("tls: failed to verify certificate: x509: certificate has expired or is not "
                "yet valid")
    if code == 62 or "hostname mismatch" in message.lower():
        return f"tls: failed to verify certificate: x509: {message}"
    return f"tls: failed to verify certificate: {message}"
