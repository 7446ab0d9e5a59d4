"""pods/exec and pods/attach over SPDY/3.1, as the kubelet's SPDY server answers client-go.

The client upgrades its request to `SPDY/3.1` (upgrade.py), naming the remote-command
versions it speaks in `X-Stream-Protocol-Version`; the server picks the first it supports
(v4 down to v1: v5's close signal is a WebSocket matter, SPDY half-closes streams itself) or
answers 403. The client then opens one stream per channel, named by its `streamType` header:
`error` first, then `stdin`, `stdout`, `stderr` (not with a tty) and `resize` (with a tty, v3
on), each answered with SYN_REPLY; the session starts once all it asked for are open (within
30 s, kubelet's stream creation timeout). stdin's FIN is its end of input; resize carries
JSON sizes one after another; the server writes the Status to `error` (v4: JSON; older: the
failure's message), ends its streams and sends GOAWAY.
"""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
from aiohttp import web

from orchestrator.api import errors
from orchestrator.server import spdy, upgrade
from orchestrator.server.remotecommand import (
    CLOSE,
    ERROR,
    RESIZE,
    STDERR,
    STDIN,
    STDOUT,
    Options,
    legacy_error,
    relay,
)

log = logging.getLogger(__name__)

SPDY_PROTOCOLS = ("v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io",
                  "channel.k8s.io")
STREAM_CREATION_TIMEOUT = 30.0
_NO_RESIZE = ("v2.channel.k8s.io", "channel.k8s.io", "")


def negotiate(request: web.Request) -> str:
    offered = [v.strip() for header in request.headers.getall("X-Stream-Protocol-Version", [])
               for v in header.split(",") if v.strip()]
    if not offered:
        return ""  # a client from before version negotiation: v1
    for protocol in offered:
        if protocol in SPDY_PROTOCOLS:
            return protocol
    raise errors.Forbidden(f"unable to upgrade: unable to negotiate protocol: client supports "
                           f"{offered}, server supports {list(SPDY_PROTOCOLS)}")


def expected_streams(protocol: str, options: Options) -> set[str]:
    wanted = {"error"}
    if options.stdin:
        wanted.add("stdin")
    if options.stdout:
        wanted.add("stdout")
    if options.stderr and not options.tty:
        wanted.add("stderr")
    if options.tty and protocol not in _NO_RESIZE:
        wanted.add("resize")
    return wanted


class _Sizes:
    """Terminal sizes from the resize stream: JSON objects written one after another."""

    def __init__(self) -> None:
        self._text = ""
        self._decoder = json.JSONDecoder()

    def feed(self, data: bytes) -> list[bytes]:
        self._text += data.decode(errors="replace")
        out: list[bytes] = []
        while True:
            text = self._text.lstrip()
            if not text:
                self._text = ""
                return out
            try:
                value, end = self._decoder.raw_decode(text)
            except ValueError:
                self._text = text
                return out
            self._text = text[end:]
            if isinstance(value, dict):
                out.append(json.dumps(value).encode())


async def serve(request: web.Request, upstream: aiohttp.ClientWebSocketResponse,
                options: Options) -> web.StreamResponse:
    protocol = negotiate(request)
    conn = await upgrade.upgrade(request, "SPDY/3.1", {"X-Stream-Protocol-Version": protocol}
                                 if protocol else {})
    session = spdy.Session(conn.write)
    wanted = expected_streams(protocol, options)
    streams: dict[str, spdy.Stream] = {}
    all_open = asyncio.Event()

    async def read_client() -> None:
        while data := await conn.read():
            for stream in await session.receive(data):
                kind = stream.header("streamType") or ""
                if kind not in wanted or kind in streams:
                    log.info("%s: refused SPDY stream %d of type %r", request.path, stream.id,
                             kind)
                    await stream.reset(spdy.PROTOCOL_ERROR)
                    continue
                streams[kind] = stream
                await stream.reply()  # client-go waits for it before opening the next one
                if set(streams) == wanted:
                    all_open.set()
        session.close()

    reader = asyncio.ensure_future(read_client())
    try:
        waiter = asyncio.ensure_future(all_open.wait())
        await asyncio.wait({waiter, reader}, timeout=STREAM_CREATION_TIMEOUT,
                           return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if not all_open.is_set():
            log.info("%s: the client opened %s of the streams %s", request.path,
                     sorted(streams), sorted(wanted))
            return conn.response
        await relay(_down(upstream, streams, protocol), _up(upstream, streams, reader),
                    request.path)
    except spdy.ProtocolError as exc:
        log.info("%s: SPDY protocol error from the client: %s", request.path, exc)
    finally:
        await session.go_away()
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        conn.close()
    return conn.response


async def _down(upstream: aiohttp.ClientWebSocketResponse, streams: dict[str, spdy.Stream],
                protocol: str) -> None:
    """The kubelet's output and Status onto the client's streams."""
    outputs = {STDOUT: streams.get("stdout"), STDERR: streams.get("stderr")}
    async for msg in upstream:
        if msg.type != aiohttp.WSMsgType.BINARY or not msg.data:
            continue
        channel, payload = msg.data[0], msg.data[1:]
        target = outputs.get(channel)
        if target is not None and payload:
            await target.write(payload)
        elif channel == ERROR:
            for stream in outputs.values():
                if stream is not None:
                    await stream.close()
            if protocol != "v4.channel.k8s.io":
                try:
                    payload = legacy_error(json.loads(payload))
                except ValueError:
                    pass
            if payload:
                await streams["error"].write(payload)
            await streams["error"].close()
            return


async def _up(upstream: aiohttp.ClientWebSocketResponse, streams: dict[str, spdy.Stream],
              reader: "asyncio.Future[None]") -> None:
    """The client's stdin and terminal sizes to the kubelet; returns when the client left."""

    async def stdin(stream: spdy.Stream) -> None:
        while data := await stream.read():
            await upstream.send_bytes(bytes([STDIN]) + data)
        if not stream.reset_by_peer:
            await upstream.send_bytes(bytes([CLOSE, STDIN]))

    async def resize(stream: spdy.Stream) -> None:
        sizes = _Sizes()
        while data := await stream.read():
            for size in sizes.feed(data):
                await upstream.send_bytes(bytes([RESIZE]) + size)

    tasks = [asyncio.ensure_future(stdin(streams["stdin"]))] if "stdin" in streams else []
    if "resize" in streams:
        tasks.append(asyncio.ensure_future(resize(streams["resize"])))
    try:
        await asyncio.gather(*tasks)
        # The input has ended; the session lasts as long as the connection (shielded: the
        # reader is the caller's to stop).
        await asyncio.shield(reader)
    finally:
        for task in tasks:
            task.cancel()
