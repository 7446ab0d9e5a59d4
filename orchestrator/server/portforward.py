"""pods/portforward over WebSocket, in the two framings clients speak.

- `v4.channel.k8s.io` (the `kubernetes` Python client, browsers): for the i-th port of
  `?ports=`, channel 2i carries data and 2i+1 errors; every binary message starts with its
  channel byte. The server opens each channel with a two-byte little-endian port number.
- `SPDY/3.1+portforward.k8s.io` (kubectl >= 1.31, KEP-4006): the WebSocket's binary messages
  carry a SPDY/3.1 byte stream (`spdy.py`). Per forwarded connection kubectl opens an error
  stream and a data stream, with headers `streamType`, `port` and `requestID`; the data stream
  is relayed to the pod's port and failures are written to the error stream, as the kubelet
  does.

Both relay bytes to and from the pod IP found in the store. kubectl's last fallback, a plain
HTTP upgrade to `SPDY/3.1`, is refused with 400 (aiohttp cannot hand over the raw socket);
kubectl only tries it when the WebSocket tunnel is refused.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from orchestrator.api import errors
from orchestrator.server import spdy
from orchestrator.server.proxyable import check_proxyable

if TYPE_CHECKING:
    from orchestrator.server.resources import ResourceHandlers, Target

log = logging.getLogger(__name__)

PROTOCOLS = ("v4.channel.k8s.io", "portforward.k8s.io", "channel.k8s.io")
SPDY_TUNNEL = "SPDY/3.1+portforward.k8s.io"
CHUNK = 256 * 1024


def pod_ip(h: "ResourceHandlers", namespace: str, name: str) -> str:
    pod = h.service.store.get("/pods", namespace, name)
    if pod is None:
        raise errors.NotFound(f'pods "{name}" not found', name=name, kind="pods")
    status = pod.get("status") or {}
    if status.get("phase") != "Running" or not status.get("podIP"):
        raise errors.BadRequest(
            f"unable to upgrade connection: pod {name} is not running (phase "
            f"{status.get('phase') or 'Pending'}, no pod IP yet)")
    # Only the pod network's addresses: never the host's own (see proxyable.py).
    return check_proxyable(str(status["podIP"]), h.service.ranges.pod_cidr)


def requested_ports(request: web.Request) -> list[int]:
    ports: list[int] = []
    for value in request.query.getall("ports", []):
        for part in value.split(","):
            if not part.strip().isdigit() or not 0 < int(part) < 65536:
                raise errors.BadRequest(f"invalid port {part!r} in ports")
            ports.append(int(part))
    if not ports:
        raise errors.BadRequest("at least one port must be requested with ?ports=")
    return ports


async def handle(h: "ResourceHandlers", request: web.Request, t: "Target") -> web.StreamResponse:
    assert t.name is not None
    ip = pod_ip(h, t.namespace or "", t.name)
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
               if p.strip()]
    if SPDY_TUNNEL in offered:
        return await _spdy_tunnel(request, ip, t.name)
    ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=0, autoping=True)
    if not ws.can_prepare(request).ok or (offered and not set(offered) & set(PROTOCOLS)):
        raise errors.BadRequest(
            f"port-forward needs a WebSocket upgrade with subprotocol {SPDY_TUNNEL} or "
            "v4.channel.k8s.io (a plain SPDY/3.1 upgrade is not supported by this server)")
    ports = requested_ports(request)
    await ws.prepare(request)
    writers: dict[int, asyncio.StreamWriter] = {}
    pumps: list[asyncio.Task[None]] = []

    async def pump(index: int, reader: asyncio.StreamReader) -> None:
        channel = bytes([2 * index])
        while data := await reader.read(CHUNK):
            await ws.send_bytes(channel + data)
        await ws.close()

    for i, port in enumerate(ports):
        for channel in (2 * i, 2 * i + 1):
            await ws.send_bytes(bytes([channel]) + struct.pack("<H", port))
        try:
            reader, writer = await asyncio.open_connection(ip, port)
        except OSError as exc:
            await ws.send_bytes(bytes([2 * i + 1]) + (
                f"error forwarding port {port} to pod {t.name}: {exc.strerror or exc}").encode())
            continue
        writers[i] = writer
        pumps.append(asyncio.create_task(pump(i, reader)))
    try:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.BINARY or not msg.data:
                continue
            channel, payload = msg.data[0], msg.data[1:]
            target = writers.get(channel // 2)
            if channel % 2 == 0 and target is not None and payload:
                target.write(payload)
                await target.drain()
    finally:
        for task in pumps:
            task.cancel()
        for writer in writers.values():
            writer.close()
    return ws


# -- SPDY/3.1 inside the WebSocket (kubectl) -----------------------------------------------


async def _spdy_tunnel(request: web.Request, ip: str, pod: str) -> web.StreamResponse:
    ws = web.WebSocketResponse(protocols=(SPDY_TUNNEL,), max_msg_size=0, autoping=True)
    if not ws.can_prepare(request).ok:
        raise errors.BadRequest(f"{SPDY_TUNNEL} needs a WebSocket upgrade")
    await ws.prepare(request)
    session = spdy.Session(ws.send_bytes)
    forwarder = SpdyForwarder(session, ip, pod)
    try:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                for stream in await session.receive(msg.data):
                    await forwarder.opened(stream)
    except spdy.ProtocolError as exc:
        log.info("port-forward to pod %s: SPDY protocol error from the client: %s", pod, exc)
    except (ConnectionError, RuntimeError) as exc:  # the client went away mid-write
        log.debug("port-forward to pod %s: connection lost: %s", pod, exc)
    finally:
        session.close()
        await forwarder.stop()
        await ws.close()
    return ws


class SpdyForwarder:
    """Pairs each requestID's error and data streams and relays the data stream to the pod."""

    def __init__(self, session: spdy.Session, ip: str, pod: str) -> None:
        self.session = session
        self.ip = ip
        self.pod = pod
        self.pending: dict[str, dict[str, spdy.Stream]] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    async def opened(self, stream: spdy.Stream) -> None:
        kind = stream.header("streamType")
        # Clients before requestID (portforward v1 without it) send one pair per port.
        request_id = stream.header("requestID") or f"port:{stream.header('port')}"
        if kind not in ("error", "data"):
            log.info("port-forward to pod %s: stream %d has streamType %r", self.pod,
                     stream.id, kind)
            await stream.reset(spdy.PROTOCOL_ERROR)
            return
        pair = self.pending.setdefault(request_id, {})
        if kind in pair:
            await stream.reset(spdy.PROTOCOL_ERROR)
            return
        pair[kind] = stream
        await stream.reply()  # kubectl waits for it before opening the next stream
        if len(pair) == 2:
            del self.pending[request_id]
            task = asyncio.create_task(self.forward(pair["error"], pair["data"]))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def forward(self, error: spdy.Stream, data: spdy.Stream) -> None:
        writer: asyncio.StreamWriter | None = None
        upstream: asyncio.Task[None] | None = None
        try:
            port_text = data.header("port") or ""
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                await error.write(f"invalid port {port_text!r} in port-forward request".encode())
                return
            port = int(port_text)
            try:
                reader, writer = await asyncio.open_connection(self.ip, port)
            except OSError as exc:
                reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
                await error.write(f"error forwarding port {port} to pod {self.pod}: failed to "
                                  f"connect to {self.ip}:{port}: {reason}".encode())
                return
            upstream = asyncio.create_task(self._to_pod(data, writer))
            while chunk := await reader.read(CHUNK):
                await data.write(chunk)
        except (ConnectionError, RuntimeError) as exc:
            log.debug("port-forward to pod %s: stream %d ended: %s", self.pod, data.id, exc)
        finally:
            await self._finish(error, data, upstream, writer)

    async def _finish(self, error: spdy.Stream, data: spdy.Stream,
                      upstream: "asyncio.Task[None] | None",
                      writer: asyncio.StreamWriter | None) -> None:
        try:
            await data.close()
            await error.close()
            if upstream is not None:
                # kubectl closes or resets its side once it has our FIN; don't wait forever.
                await asyncio.wait_for(asyncio.shield(upstream), 30)
        except (asyncio.TimeoutError, ConnectionError, RuntimeError):
            pass
        finally:
            if upstream is not None:
                upstream.cancel()
            if writer is not None:
                writer.close()
            if not data.remote_closed:  # nobody reads it any more
                try:
                    await data.reset(spdy.CANCEL)
                except (ConnectionError, RuntimeError):
                    pass

    async def _to_pod(self, data: spdy.Stream, writer: asyncio.StreamWriter) -> None:
        while chunk := await data.read():
            writer.write(chunk)
            await writer.drain()
        if not data.reset_by_peer and writer.can_write_eof() and not writer.is_closing():
            writer.write_eof()

    async def stop(self) -> None:
        """After `session.close()`, which has already ended every stream for its readers."""
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
