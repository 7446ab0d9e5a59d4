"""What keeps one client from holding the API server: read timeouts and in-flight caps.

- TLS handshake, request header and body reads are bounded in time (`ServerLimits`), as
  kube-apiserver's Go server bounds them (ReadHeaderTimeout 32 s, IdleTimeout 90 s): a client
  that sends half a header, or half a body, is dropped instead of holding a connection (and,
  for a body, a slot of the in-flight cap) forever.
- At most `max_requests_inflight` read-only and `max_mutating_requests_inflight` mutating
  requests are served at once, with kube-apiserver's `--max-requests-inflight` /
  `--max-mutating-requests-inflight` semantics: over the cap the answer is 429 with
  `Retry-After: 1`; long-running requests (watch, logs, exec, attach, port-forward, proxy)
  are not counted, nor are requests from `system:masters` (the control plane's own
  components use that identity, so a tenant's flood cannot starve them).

Each can be set from the environment (`ServerLimits.from_env`, read when the control plane
starts): DASKHUB_LITE_TLS_HANDSHAKE_TIMEOUT_SECONDS, DASKHUB_LITE_HEADER_TIMEOUT_SECONDS,
DASKHUB_LITE_IDLE_TIMEOUT_SECONDS, DASKHUB_LITE_BODY_TIMEOUT_SECONDS,
DASKHUB_LITE_MAX_REQUESTS_INFLIGHT and DASKHUB_LITE_MAX_MUTATING_REQUESTS_INFLIGHT.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import ssl
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from aiohttp import web

from orchestrator.api import errors
from orchestrator.api.rbac import MASTERS
from orchestrator.api.requestinfo import request_attributes

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

TOO_MANY = "Too many requests, please try again later."
_LONG_RUNNING_VERBS = frozenset({"watch", "proxy"})
_LONG_RUNNING_SUBRESOURCES = frozenset({"attach", "exec", "proxy", "log", "portforward"})
_READ_ONLY_VERBS = frozenset({"get", "list", "watch"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class RequestTimeout(errors.APIError):
    code, reason = 408, "Timeout"


@dataclass(frozen=True)
class ServerLimits:
    """Timeouts in seconds; caps of requests served at once (0: no cap)."""

    tls_handshake_timeout: float = 10.0  # Go's net/http client default for the handshake
    header_timeout: float = 32.0  # kube-apiserver's ReadHeaderTimeout
    idle_timeout: float = 90.0  # kube-apiserver's IdleTimeout between keep-alive requests
    body_timeout: float = 60.0  # kube-apiserver's default --request-timeout
    max_requests_inflight: int = 400  # kube-apiserver's default
    max_mutating_requests_inflight: int = 200  # kube-apiserver's default

    @classmethod
    def from_env(cls) -> "ServerLimits":
        """The defaults, each overridden by its DASKHUB_LITE_* variable when set."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            suffix = "_SECONDS" if f.name.endswith("timeout") else ""
            raw = os.environ.get(f"DASKHUB_LITE_{f.name.upper()}{suffix}")
            if raw:
                try:
                    values[f.name] = float(raw) if suffix else int(raw)
                except ValueError:
                    continue  # a malformed override keeps the default
        return cls(**values)


def long_running(request: web.Request) -> bool:
    """kube-apiserver's BasicLongRunningRequestCheck: watch and proxy verbs, and the
    attach/exec/proxy/log/portforward subresources."""
    attrs = request_attributes(request.method, request.path, request.query)
    if attrs.verb in _LONG_RUNNING_VERBS or attrs.subresource in _LONG_RUNNING_SUBRESOURCES:
        return True
    parts = [p for p in request.path.split("/") if p]
    # The legacy /api/v1/watch/... and /apis/g/v/watch/... paths.
    return "watch" in parts[2:4] and parts[0] in ("api", "apis")


def mutating(request: web.Request) -> bool:
    attrs = request_attributes(request.method, request.path, request.query)
    return attrs.verb not in _READ_ONLY_VERBS


class _Guarded(asyncio.Protocol):
    """aiohttp's connection handler, behind deadlines for the request header: from the
    connection's start (or the first byte after an idle keep-alive period) to the moment
    the request reaches the application (`busy`), and for the idle period itself. A
    connection that misses one is aborted, as Go's server drops it."""

    def __init__(self, inner: asyncio.Protocol, limits: ServerLimits,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.inner = inner
        self.limits = limits
        self.loop = loop
        self.transport: asyncio.BaseTransport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._state = "header"
        self._requests = 0  # in progress on this connection (1, or 0 between requests)

    def _arm(self, state: str, seconds: float) -> None:
        self._cancel()
        self._state = state
        if seconds > 0:
            self._timer = self.loop.call_later(seconds, self._expired)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self._requests == 0 and self.transport is not None:
            self.transport.abort()  # type: ignore[attr-defined]

    def busy(self) -> None:
        self._requests += 1
        self._cancel()
        self._state = "busy"

    def done(self) -> None:
        self._requests = max(0, self._requests - 1)
        if self._requests == 0 and self.transport is not None \
                and not self.transport.is_closing():
            self._arm("idle", self.limits.idle_timeout)

    # -- asyncio.Protocol, forwarded ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self._arm("header", self.limits.header_timeout)
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._state == "idle":
            self._arm("header", self.limits.header_timeout)
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class TLSSite(web.BaseSite):
    """A TCP site whose connections pass through `_Guarded`, with a TLS handshake
    timeout (aiohttp's TCPSite has neither)."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int,
                 ssl_context: ssl.SSLContext | None, limits: ServerLimits) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self._host = host
        self._port = port
        self._limits = limits

    @property
    def name(self) -> str:
        return f"{'https' if self._ssl_context else 'http'}://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        limits = self._limits

        def factory() -> asyncio.Protocol:
            return _Guarded(server(), limits, loop)

        kwargs: dict[str, Any] = {}
        if self._ssl_context is not None:
            kwargs["ssl_handshake_timeout"] = limits.tls_handshake_timeout
        self._server = await loop.create_server(
            factory, self._host, self._port, ssl=self._ssl_context, reuse_address=True,
            **kwargs)


def _guard_of(request: web.Request) -> _Guarded | None:
    transport = request.transport
    protocol = transport.get_protocol() if transport is not None else None
    return protocol if isinstance(protocol, _Guarded) else None


@web.middleware
async def mark_busy(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: while a request is being served its connection has no header deadline;
    once answered, the idle one starts."""
    guard = _guard_of(request)
    if guard is not None:
        guard.busy()
    try:
        return await handler(request)
    finally:
        if guard is not None:
            guard.done()


def inflight_middleware(limits: ServerLimits) -> Any:
    """After authentication (system:masters is exempt): the in-flight caps, and the body
    read within `body_timeout`."""
    inflight = {False: 0, True: 0}  # mutating -> requests being served
    caps = {False: limits.max_requests_inflight, True: limits.max_mutating_requests_inflight}

    @web.middleware
    async def bound(request: web.Request, handler: Handler) -> web.StreamResponse:
        if long_running(request):
            return await handler(request)
        user = request.get("user")
        if user is not None and MASTERS in user.groups:
            return await _with_body(request, handler, limits)
        kind = mutating(request)
        if caps[kind] and inflight[kind] >= caps[kind]:
            raise errors.TooManyRequests(TOO_MANY, retry_after=1)
        inflight[kind] += 1
        try:
            return await _with_body(request, handler, limits)
        finally:
            inflight[kind] -= 1

    return bound


async def _with_body(request: web.Request, handler: Handler,
                     limits: ServerLimits) -> web.StreamResponse:
    if request.method in _BODY_METHODS and request.body_exists:
        try:
            # Read (and cache: request.read() answers from it later) within the deadline;
            # asyncio.timeout, not wait_for: no task per request (a tenth of a create's cost).
            async with asyncio.timeout(limits.body_timeout):
                await request.read()
        except asyncio.TimeoutError:
            guard = _guard_of(request)
            if guard is not None and guard.transport is not None:
                guard.transport.abort()  # type: ignore[attr-defined]
            raise RequestTimeout(f"the request body was not received within "
                                 f"{limits.body_timeout:g}s") from None
    return await handler(request)
