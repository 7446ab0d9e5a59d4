"""The ingress controller for IngressClass `daskhub-lite`: one HTTP port for the cluster.

It makes sure the IngressClass exists (as the default class), builds a routing table from
the Ingresses it owns (see ingress_routes.py), and proxies each request to a ready pod of
the chosen Service, round robin, as ingress-nginx does (pods directly, not the ClusterIP).
Websockets are relayed frame by frame, responses stream as they come, and the backend gets
`X-Forwarded-For/Host/Port/Proto` and `X-Real-IP`. The owned Ingresses' status carries
127.0.0.1 and the port; a newer Ingress that claims an older one's host+path gets an Event.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

import aiohttp
from aiohttp import web

from orchestrator.api import errors
from orchestrator.api.kinds import BUILTIN_TYPES
from orchestrator.client import Client, EventRecorder, Informer
from orchestrator.network.endpoints import ENDPOINTS, SERVICES
from orchestrator.network.ingress_routes import (
    CLASS_NAME,
    CONTROLLER,
    DEFAULT_CLASS_ANNOTATION,
    Backend,
    RoutingTable,
    build_table,
    is_ours,
)
from orchestrator.network.serviceproxy import PortRef, backends_of

log = logging.getLogger(__name__)

INGRESSES = next(rt for rt in BUILTIN_TYPES if rt.plural == "ingresses")
CLASSES = next(rt for rt in BUILTIN_TYPES if rt.plural == "ingressclasses")
# The address every Ingress of our class gets, also on the IngressClass: a chart's NOTES can
# `lookup` it while its own Ingress does not exist yet (NOTES render before install).
ADDRESS_ANNOTATION = "daskhub-lite.io/ingress-address"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "transfer-encoding", "upgrade", "host", "content-length"}


class IngressController:
    def __init__(self, client: Client, *, port: int = 8080, host: str = "127.0.0.1") -> None:
        self.client = client
        self.host = host
        self.port = port
        self.ingresses = Informer.shared(client, INGRESSES)
        self.services = Informer.shared(client, SERVICES)
        self.endpoints = Informer.shared(client, ENDPOINTS)
        self.classes = Informer.shared(client, CLASSES)
        self.events = EventRecorder(client, "daskhub-lite-ingress")
        self.table = RoutingTable([], None, {})
        self.serving = False
        self.bind_error = ""
        self._reported: set[tuple[tuple[str, str], str]] = set()
        self._counter = itertools.count()
        self._dirty = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        for informer in (self.ingresses, self.classes):
            informer.add_handler(lambda *_: self._dirty.set())

    # -- life cycle ----------------------------------------------------------------------

    async def wait_ready(self) -> None:
        for informer in (self.ingresses, self.services, self.endpoints, self.classes):
            await informer.wait_synced()

    async def run(self) -> None:
        tasks = [asyncio.create_task(i.run()) for i in
                 (self.ingresses, self.services, self.endpoints, self.classes)]
        try:
            await self.wait_ready()
            await self._ensure_class()
            await self._serve()
            self._dirty.set()
            while True:
                await self._dirty.wait()
                self._dirty.clear()
                try:
                    await self.sync()
                except Exception:
                    log.exception("ingress sync failed")
                    await asyncio.sleep(0.5)
                    self._dirty.set()
        finally:
            for t in tasks:
                t.cancel()
            await self.shutdown()

    async def shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _ensure_class(self) -> None:
        if self.classes.get("", CLASS_NAME) is not None:
            return
        try:
            await self.client.create(CLASSES, {
                "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                "metadata": {"name": CLASS_NAME,
                             "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
                "spec": {"controller": CONTROLLER}})
        except errors.AlreadyExists:
            pass

    async def _serve(self) -> None:
        app = web.Application(client_max_size=0)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            self.bind_error = f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}"
            log.error("ingress controller: %s", self.bind_error)
            return
        sockets = getattr(site._server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        self.serving = True
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=False),
            auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))

    # -- routing table and status ----------------------------------------------------------

    def _default_class(self) -> bool:
        ours = self.classes.get("", CLASS_NAME)
        return ours is not None and ((ours["metadata"].get("annotations") or {}).get(
            DEFAULT_CLASS_ANNOTATION) == "true")

    def _address(self) -> str:
        return f"{self.host if self.host != '0.0.0.0' else '127.0.0.1'}:{self.port}"

    async def _publish_address(self) -> None:
        ours = self.classes.get("", CLASS_NAME)
        if ours is None:
            return
        wanted = self._address() if self.serving else None
        if (ours["metadata"].get("annotations") or {}).get(ADDRESS_ANNOTATION) != wanted:
            try:
                await self.client.patch(CLASSES, CLASS_NAME, {"metadata": {"annotations": {
                    ADDRESS_ANNOTATION: wanted}}})
            except errors.APIError as exc:
                log.debug("ingressclass %s: address not written: %s", CLASS_NAME, exc)

    async def sync(self) -> None:
        await self._publish_address()
        default = self._default_class()
        owned = [i for i in self.ingresses.items() if is_ours(i, default)]
        self.table = build_table(owned)
        for ing in owned:
            key = (ing["metadata"].get("namespace", ""), ing["metadata"]["name"])
            for message in self.table.conflicts.get(key, []):
                if (key, message) not in self._reported:
                    self._reported.add((key, message))
                    await self.events.record(ing, "Warning", "HostPathConflict", message)
            if not self.serving and (key, self.bind_error) not in self._reported:
                self._reported.add((key, self.bind_error))
                await self.events.record(ing, "Warning", "IngressPortUnavailable",
                                         self.bind_error)
            wanted = ({"ingress": [{"ip": self.host if self.host != "0.0.0.0" else "127.0.0.1",
                                    "ports": [{"port": self.port, "protocol": "TCP"}]}]}
                      if self.serving else {})
            if ((ing.get("status") or {}).get("loadBalancer") or {}) != wanted:
                try:
                    await self.client.patch(INGRESSES, key[1], {"status": {"loadBalancer": wanted}},
                                            key[0], subresource="status")
                except errors.APIError as exc:
                    log.debug("ingress %s/%s: status not written: %s", key[0], key[1], exc)

    def pick(self, backend: Backend) -> tuple[str, int] | None:
        svc = self.services.get(backend.namespace, backend.service)
        if svc is None:
            return None
        port = next((p for p in (svc.get("spec") or {}).get("ports") or []
                     if p.get("port") == backend.port or p.get("name") == backend.port), None)
        if port is None:
            return None
        ref = PortRef(backend.namespace, backend.service, str(port.get("name") or ""),
                      int(port["port"]))
        choices = backends_of(self.endpoints.get(backend.namespace, backend.service), ref)
        if not choices:
            return None
        return choices[next(self._counter) % len(choices)]

    # -- proxying ------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        backend = self.table.match(request.host or "", request.path)
        if backend is None:
            return web.Response(status=404, text="404 Not Found (no Ingress rule matches)\n")
        target = self.pick(backend)
        if target is None:
            return web.Response(status=503, text=(
                f"503 Service Unavailable: no ready endpoints for service "
                f"{backend.namespace}/{backend.service}\n"))
        headers = self._forward_headers(request)
        url = f"http://{target[0]}:{target[1]}{request.rel_url}"
        if (request.headers.get("Upgrade", "").lower() == "websocket"
                and request.method == "GET"):
            return await self._websocket(request, url, headers)
        assert self._session is not None
        data = request.content.iter_any() if request.body_exists else None
        try:
            upstream = await self._session.request(
                request.method, url, headers=headers, data=data, allow_redirects=False)
        except aiohttp.ClientError as exc:
            return web.Response(status=502, text=f"502 Bad Gateway: {exc}\n")
        async with upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for name, value in upstream.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    response.headers.add(name, value)
            if upstream.headers.get("Content-Length") is not None:
                response.content_length = int(upstream.headers["Content-Length"])
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            except (aiohttp.ClientPayloadError, ConnectionResetError):
                # The pod closed mid-stream: end ours abruptly too, as a proxy must.
                if request.transport is not None:
                    request.transport.abort()
                return response
            await response.write_eof()
            return response

    def _forward_headers(self, request: web.Request) -> dict[str, str]:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        peer = request.remote or ""
        prior = request.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{prior}, {peer}" if prior else peer
        headers["X-Real-IP"] = peer
        headers["X-Forwarded-Host"] = request.host
        headers["X-Forwarded-Port"] = str(self.port)
        headers["X-Forwarded-Proto"] = request.scheme
        headers["Host"] = request.host
        if request.content_length is not None:
            # Keep a sized body sized: upstreams such as Python's configurable-http-proxy
            # mishandle a request that arrives chunked.
            headers["Content-Length"] = str(request.content_length)
        return headers

    async def _websocket(self, request: web.Request, url: str,
                         headers: dict[str, str]) -> web.StreamResponse:
        assert self._session is not None
        protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
                     if p.strip()]
        for name in ("Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions",
                     "Sec-WebSocket-Protocol"):
            headers.pop(name, None)
        try:
            upstream = await self._session.ws_connect(url, headers=headers, protocols=protocols,
                                                      autoping=False, max_msg_size=0)
        except (aiohttp.ClientError, aiohttp.WSServerHandshakeError) as exc:
            return web.Response(status=502, text=f"502 Bad Gateway: {exc}\n")
        ws = web.WebSocketResponse(protocols=[upstream.protocol] if upstream.protocol else (),
                                   autoping=False, max_msg_size=0)
        await ws.prepare(request)

        async def pump(src: Any, dst: Any) -> None:
            async for msg in src:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await dst.send_str(msg.data)
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    await dst.send_bytes(msg.data)
                elif msg.type == aiohttp.WSMsgType.PING:
                    await dst.ping(msg.data)
                elif msg.type == aiohttp.WSMsgType.PONG:
                    await dst.pong(msg.data)
                else:
                    break
            await dst.close()

        tasks = [asyncio.create_task(pump(ws, upstream)), asyncio.create_task(pump(upstream, ws))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await upstream.close()
            await ws.close()
        return ws
