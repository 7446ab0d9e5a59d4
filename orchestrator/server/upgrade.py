"""A plain HTTP/1.1 upgrade (`101 Switching Protocols` to a protocol other than WebSocket),
handing the connection's bytes to the handler, as Go's http.Hijacker does for SPDY/3.1.

aiohttp upgrades only to WebSocket: for any other `Upgrade` its parser would take the
protocol's first bytes for a new HTTP request. The client sends nothing after its request
until it has read the 101, so the handler installs its own payload reader first (the place
aiohttp's WebSocket response puts its frame reader), then answers 101; every later byte goes
to `RawConnection.read`, and `write` goes straight to the (TLS) transport.
"""

from __future__ import annotations

import asyncio
from typing import Any, Mapping, cast

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

# Bytes received and not yet read before the transport stops reading from the client.
HIGH_WATER = 4 * 1024 * 1024


class _Feed:
    """Stands in for aiohttp's payload parser once the connection is upgraded."""

    def __init__(self, transport: asyncio.BaseTransport | None) -> None:
        self.transport = transport
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.buffered = 0
        self.paused = False
        self.ended = False

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if data:
            self.queue.put_nowait(bytes(data))
            self.buffered += len(data)
            if self.buffered > HIGH_WATER and not self.paused and isinstance(
                    self.transport, asyncio.ReadTransport):
                self.paused = True
                self.transport.pause_reading()
        return False, b""

    def feed_eof(self) -> None:
        if not self.ended:
            self.ended = True
            self.queue.put_nowait(b"")

    def taken(self, size: int) -> None:
        self.buffered -= size
        if self.paused and self.buffered <= HIGH_WATER // 2 and isinstance(
                self.transport, asyncio.ReadTransport):
            self.paused = False
            self.transport.resume_reading()


class _Upgraded(web.StreamResponse):
    """A 101 whose body is the new protocol: no length, no chunking (as WebSocketResponse)."""
    _length_check = False


class RawConnection:
    def __init__(self, response: _Upgraded, writer: AbstractStreamWriter, feed: _Feed,
                 transport: asyncio.BaseTransport | None) -> None:
        self.response = response
        self._writer = writer
        self._feed = feed
        self._transport = transport

    async def read(self) -> bytes:
        """The next bytes from the client; b"" once it closed the connection."""
        if self._feed.ended and self._feed.queue.empty():
            return b""
        data = await self._feed.queue.get()
        self._feed.taken(len(data))
        return data

    async def write(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionResetError("the client closed the connection")
        await self._writer.write(data)

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()


async def upgrade(request: web.Request, protocol: str,
                  headers: Mapping[str, str]) -> RawConnection:
    """Answer `101 Switching Protocols` to `protocol`; the connection is the caller's."""
    transport = request.transport
    feed = _Feed(transport)
    # Installed before the 101 leaves, so no byte of the new protocol reaches HTTP parsing.
    cast(Any, request.protocol).set_parser(feed)
    response = _Upgraded(status=101, headers={"Connection": "Upgrade", "Upgrade": protocol,
                                              **headers})
    response.force_close()
    writer = await response.prepare(request)
    assert writer is not None
    send_headers = getattr(writer, "send_headers", None)
    if callable(send_headers):
        send_headers()  # aiohttp holds small headers back for the first body write
    await writer.drain()
    return RawConnection(response, writer, feed, transport)
