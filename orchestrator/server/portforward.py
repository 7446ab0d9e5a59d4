"""pods/portforward over WebSocket, with the channel framing of `v4.channel.k8s.io`.

For the i-th requested port, channel 2i carries data and 2i+1 errors; every binary message
starts with its channel byte. The server opens each channel with a two-byte little-endian
port number, then relays bytes to and from the pod IP found in the store. (This is what
the `kubernetes` Python client and browsers speak. kubectl >= 1.31 instead tunnels SPDY/3.1
inside the WebSocket (`SPDY/3.1+portforward.k8s.io`), which this server does not speak yet:
it answers that subprotocol with 400, and kubectl's SPDY fallback with 400 too.)
"""

from __future__ import annotations

import asyncio
import struct
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from orchestrator.api import errors

if TYPE_CHECKING:
    from orchestrator.server.resources import ResourceHandlers, Target

PROTOCOLS = ("v4.channel.k8s.io", "portforward.k8s.io", "channel.k8s.io")
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
    return str(status["podIP"])


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
    ports = requested_ports(request)
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
               if p.strip()]
    ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=0, autoping=True)
    if not ws.can_prepare(request).ok or (offered and not set(offered) & set(PROTOCOLS)):
        raise errors.BadRequest(
            "port-forward needs a WebSocket upgrade with subprotocol v4.channel.k8s.io "
            "(SPDY and SPDY-over-WebSocket are not supported by this server)")
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
            writer = writers.get(channel // 2)
            if channel % 2 == 0 and writer is not None and payload:
                writer.write(payload)
                await writer.drain()
    finally:
        for task in pumps:
            task.cancel()
        for writer in writers.values():
            writer.close()
    return ws
