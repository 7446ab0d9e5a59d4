"""A TCP relay between two asyncio transports, with flow control both ways.

Used by the service proxy and by port-forwarding-like paths: bytes are handed from one
transport to the other without copying through streams; when one side's write buffer is
full the other side stops reading (so a slow reader slows the sender, not our memory).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Callable, cast


class Half(asyncio.Protocol):
    """One side of a relay; `peer` is the other side's Half."""

    def __init__(self, on_close: Callable[[], None] | None = None) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: Half | None = None
        self.pending: list[bytes] = []
        self.eof = False
        self.closed = asyncio.get_running_loop().create_future()
        self._on_close = on_close

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's are not subclasses of asyncio.Transport, so no check).
        self.transport = cast(asyncio.Transport, transport)
        sock = self.transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is None or peer.transport is None:
            self.pending.append(data)
            return
        peer.transport.write(data)

    def eof_received(self) -> bool:
        self.eof = True
        peer = self.peer
        if peer is None:
            return True  # passed on by join()
        if peer is not None and peer.transport is not None and peer.transport.can_write_eof():
            if not peer.transport.is_closing():
                peer.transport.write_eof()
            return True  # keep our write side open for the answer (half-close)
        return False

    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.transport.is_closing():
            if exc is not None:
                reset(peer.transport)  # a reset travels on as a reset (abort alone sends FIN)
            else:
                peer.transport.close()
        if self._on_close is not None:
            self._on_close()

    def join(self, peer: "Half") -> None:
        """Pair with `peer` and flush what arrived before the pairing."""
        self.peer, peer.peer = peer, self
        for half in (self, peer):
            if half.pending and half.peer is not None and half.peer.transport is not None:
                for chunk in half.pending:
                    half.peer.transport.write(chunk)
                half.pending.clear()
            if half.eof and half.peer is not None and half.peer.transport is not None:
                half.peer.transport.write_eof()


def reset(transport: asyncio.Transport) -> None:
    """Close with RST, as a refused connection looks to a client that got through accept."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
    transport.abort()
