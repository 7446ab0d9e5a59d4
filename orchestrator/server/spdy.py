"""SPDY/3.1 framing and the server half of a session, as kubectl's port-forward speaks it.

Wire format (draft-mbelshe-httpbis-spdy-00 with the 3.1 flow-control frames):

- control frame: `1 | version(15) | type(16)`, `flags(8) | length(24)`, then `length` bytes;
- data frame: `0 | stream-id(31)`, `flags(8) | length(24)`, then the payload.

Header blocks (SYN_STREAM, SYN_REPLY, HEADERS) are a count and length-prefixed name/value
pairs, compressed with zlib seeded by SPDY's fixed dictionary. Each direction of a session is
*one* zlib stream that every header block continues (sync-flushed per block), so a receiver
must inflate every block in order, even those of streams it then refuses.

Go's SPDY peer (moby/spdystream, used by client-go) implements no flow control: it ignores
WINDOW_UPDATE and SETTINGS, so this module parses them and never needs to send them.
Any malformed frame is a `ProtocolError`; the session answers it with GOAWAY and stops,
since a broken frame boundary or compression context cannot be resynchronised.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import zlib
from dataclasses import dataclass
from typing import Awaitable, Callable, Union

log = logging.getLogger(__name__)

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = (
    1, 2, 3, 4, 6, 7, 8, 9)
FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02
# RST_STREAM status codes.
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, UNSUPPORTED_VERSION, CANCEL = 1, 2, 3, 4, 5
INTERNAL_ERROR, FLOW_CONTROL_ERROR, STREAM_IN_USE, STREAM_ALREADY_CLOSED = 6, 7, 8, 9
FRAME_TOO_LARGE = 11
# GOAWAY status codes.
GOAWAY_OK, GOAWAY_PROTOCOL_ERROR, GOAWAY_INTERNAL_ERROR = 0, 1, 2

MAX_LENGTH = (1 << 24) - 1  # the 24-bit length field
MAX_HEADER_BLOCK = 256 * 1024  # inflated; bounds what a hostile peer can make us allocate
# Unread data a stream may hold before the session stops reading from the peer (the only
# back-pressure available: spdystream ignores WINDOW_UPDATE).
HIGH_WATER = 4 * 1024 * 1024
_ID_MASK = 0x7FFFFFFF


def _dictionary() -> bytes:
    """SPDY/3's zlib dictionary (spec section 2.6.10.1): length-prefixed common header
    words, then a tail of frequent values."""
    words = (
        "options head post put delete trace accept accept-charset accept-encoding "
        "accept-language accept-ranges age allow authorization cache-control connection "
        "content-base content-encoding content-language content-length content-location "
        "content-md5 content-range content-type date etag expect expires from host if-match "
        "if-modified-since if-none-match if-range if-unmodified-since last-modified location "
        "max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after "
        "server te trailer transfer-encoding upgrade user-agent vary via warning "
        "www-authenticate method get status"
    ).split() + ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive",
                 "origin"]
    tail = (
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417"
        "502504505203 Non-Authoritative Information204 No Content301 Moved Permanently"
        "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error"
        "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct "
        "Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,"
        "image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
        "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8"
        "charset=iso-8859-1,utf-,*,enq=0."
    )
    return b"".join(struct.pack(">I", len(w)) + w.encode() for w in words) + tail.encode()


DICTIONARY = _dictionary()


class ProtocolError(Exception):
    """The peer broke the framing; the session cannot continue."""


Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class DataFrame:
    stream_id: int
    data: bytes = b""
    flags: int = 0


@dataclass(frozen=True)
class SynStream:
    stream_id: int
    headers: Headers = ()
    associated_to: int = 0
    priority: int = 0
    slot: int = 0
    flags: int = 0


@dataclass(frozen=True)
class SynReply:
    stream_id: int
    headers: Headers = ()
    flags: int = 0


@dataclass(frozen=True)
class RstStream:
    stream_id: int
    status: int


@dataclass(frozen=True)
class Settings:
    entries: tuple[tuple[int, int, int], ...] = ()  # (flags, id, value)
    flags: int = 0


@dataclass(frozen=True)
class Ping:
    ping_id: int


@dataclass(frozen=True)
class GoAway:
    last_good_stream_id: int
    status: int = GOAWAY_OK


@dataclass(frozen=True)
class HeadersFrame:
    stream_id: int
    headers: Headers = ()
    flags: int = 0


@dataclass(frozen=True)
class WindowUpdate:
    stream_id: int
    delta: int


Frame = Union[DataFrame, SynStream, SynReply, RstStream, Settings, Ping, GoAway, HeadersFrame,
              WindowUpdate]


# -- header blocks ---------------------------------------------------------------------------


def pack_header_block(headers: Headers) -> bytes:
    """The uncompressed name/value block; names are lower-cased as SPDY requires."""
    out = [struct.pack(">I", len(headers))]
    for name, value in headers:
        for part in (name.lower().encode(), value.encode()):
            out.append(struct.pack(">I", len(part)) + part)
    return b"".join(out)


def unpack_header_block(raw: bytes) -> Headers:
    if len(raw) < 4:
        raise ProtocolError("header block shorter than its pair count")
    (count,) = struct.unpack_from(">I", raw)
    pos, pairs, seen = 4, [], set()
    if count > len(raw) // 8:  # every pair takes at least two length fields
        raise ProtocolError(f"header block claims {count} pairs in {len(raw)} bytes")
    for _ in range(count):
        fields = []
        for what in ("name", "value"):
            if pos + 4 > len(raw):
                raise ProtocolError(f"header block truncated in a {what} length")
            (size,) = struct.unpack_from(">I", raw, pos)
            pos += 4
            if pos + size > len(raw):
                raise ProtocolError(f"header {what} runs past the end of the block")
            fields.append(raw[pos:pos + size])
            pos += size
        try:
            name, value = fields[0].decode(), fields[1].decode()
        except UnicodeDecodeError as exc:
            raise ProtocolError("header block is not valid UTF-8") from exc
        if not name:
            raise ProtocolError("empty header name")
        name = name.lower()
        if name in seen:
            raise ProtocolError(f"duplicate header {name!r}")
        seen.add(name)
        pairs.append((name, value))
    if pos != len(raw):
        raise ProtocolError("trailing bytes after the last header pair")
    return tuple(pairs)


class HeaderCompressor:
    """One direction's compression context: every block continues the same zlib stream."""

    def __init__(self) -> None:
        self._z = zlib.compressobj(9, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY,
                                   zdict=DICTIONARY)

    def compress(self, headers: Headers) -> bytes:
        return self._z.compress(pack_header_block(headers)) + self._z.flush(zlib.Z_SYNC_FLUSH)


class HeaderDecompressor:
    def __init__(self, limit: int = MAX_HEADER_BLOCK) -> None:
        self._z = zlib.decompressobj(zdict=DICTIONARY)
        self._limit = limit

    def decompress(self, data: bytes) -> Headers:
        try:
            raw = self._z.decompress(data, self._limit + 1)
        except zlib.error as exc:
            raise ProtocolError(f"header block does not inflate: {exc}") from exc
        if len(raw) > self._limit or self._z.unconsumed_tail:
            raise ProtocolError(f"header block inflates past {self._limit} bytes")
        return unpack_header_block(raw)


# -- frames ----------------------------------------------------------------------------------


def _control(kind: int, flags: int, body: bytes) -> bytes:
    if len(body) > MAX_LENGTH:
        raise ValueError("control frame too large")
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(body)) + body


class FrameEncoder:
    def __init__(self) -> None:
        self._headers = HeaderCompressor()

    def encode(self, frame: Frame) -> bytes:
        if isinstance(frame, DataFrame):
            if len(frame.data) > MAX_LENGTH:
                raise ValueError("data frame too large")
            return struct.pack(">II", frame.stream_id & _ID_MASK,
                               (frame.flags << 24) | len(frame.data)) + frame.data
        if isinstance(frame, SynStream):
            body = struct.pack(">IIBB", frame.stream_id & _ID_MASK,
                               frame.associated_to & _ID_MASK, (frame.priority & 7) << 5,
                               frame.slot) + self._headers.compress(frame.headers)
            return _control(SYN_STREAM, frame.flags, body)
        if isinstance(frame, (SynReply, HeadersFrame)):
            kind = SYN_REPLY if isinstance(frame, SynReply) else HEADERS
            body = struct.pack(">I", frame.stream_id & _ID_MASK)
            return _control(kind, frame.flags, body + self._headers.compress(frame.headers))
        if isinstance(frame, RstStream):
            return _control(RST_STREAM, 0, struct.pack(">II", frame.stream_id & _ID_MASK,
                                                       frame.status))
        if isinstance(frame, Settings):
            body = struct.pack(">I", len(frame.entries)) + b"".join(
                struct.pack(">II", (f << 24) | (i & 0xFFFFFF), v) for f, i, v in frame.entries)
            return _control(SETTINGS, frame.flags, body)
        if isinstance(frame, Ping):
            return _control(PING, 0, struct.pack(">I", frame.ping_id))
        if isinstance(frame, GoAway):
            return _control(GOAWAY, 0, struct.pack(">II", frame.last_good_stream_id & _ID_MASK,
                                                   frame.status))
        return _control(WINDOW_UPDATE, 0, struct.pack(">II", frame.stream_id & _ID_MASK,
                                                      frame.delta & _ID_MASK))


_FIXED_LENGTH = {RST_STREAM: 8, PING: 4, GOAWAY: 8, WINDOW_UPDATE: 8}


class FrameDecoder:
    """Incremental: `feed` any slice of the byte stream, get back the frames it completes."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._headers = HeaderDecompressor()

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        while len(self._buf) >= 8:
            first, second = struct.unpack_from(">II", self._buf)
            length = second & 0xFFFFFF
            if len(self._buf) < 8 + length:
                break
            body = bytes(self._buf[8:8 + length])
            del self._buf[:8 + length]
            flags = second >> 24
            if first & 0x80000000:
                frame = self._control((first >> 16) & 0x7FFF, first & 0xFFFF, flags, body)
                if frame is not None:
                    frames.append(frame)
            else:
                if first == 0:
                    raise ProtocolError("data frame on stream 0")
                frames.append(DataFrame(first, body, flags))
        return frames

    def _control(self, version: int, kind: int, flags: int, body: bytes) -> Frame | None:
        if version != VERSION:
            raise ProtocolError(f"unsupported SPDY version {version}")
        want = _FIXED_LENGTH.get(kind)
        if want is not None and len(body) != want:
            raise ProtocolError(f"control frame type {kind} has length {len(body)}, not {want}")
        if kind == SYN_STREAM:
            if len(body) < 10:
                raise ProtocolError("SYN_STREAM shorter than 10 bytes")
            sid, assoc, prio, slot = struct.unpack_from(">IIBB", body)
            sid &= _ID_MASK
            if sid == 0:
                raise ProtocolError("SYN_STREAM on stream 0")
            headers = self._headers.decompress(body[10:])
            return SynStream(sid, headers, assoc & _ID_MASK, prio >> 5, slot, flags)
        if kind in (SYN_REPLY, HEADERS):
            if len(body) < 4:
                raise ProtocolError(f"control frame type {kind} shorter than 4 bytes")
            sid = struct.unpack_from(">I", body)[0] & _ID_MASK
            if sid == 0:
                raise ProtocolError(f"control frame type {kind} on stream 0")
            headers = self._headers.decompress(body[4:])
            return (SynReply if kind == SYN_REPLY else HeadersFrame)(sid, headers, flags)
        if kind == RST_STREAM:
            sid, status = struct.unpack(">II", body)
            return RstStream(sid & _ID_MASK, status)
        if kind == SETTINGS:
            if len(body) < 4:
                raise ProtocolError("SETTINGS shorter than 4 bytes")
            (count,) = struct.unpack_from(">I", body)
            if len(body) != 4 + 8 * count:
                raise ProtocolError(f"SETTINGS of {count} entries has length {len(body)}")
            entries = tuple((fi >> 24, fi & 0xFFFFFF, value) for fi, value in
                            struct.iter_unpack(">II", body[4:]))
            return Settings(entries, flags)
        if kind == PING:
            return Ping(struct.unpack(">I", body)[0])
        if kind == GOAWAY:
            sid, status = struct.unpack(">II", body)
            return GoAway(sid & _ID_MASK, status)
        if kind == WINDOW_UPDATE:
            sid, delta = struct.unpack(">II", body)
            return WindowUpdate(sid & _ID_MASK, delta & _ID_MASK)
        return None  # the spec says to ignore unknown control frames


# -- session ---------------------------------------------------------------------------------


class Stream:
    """A peer-initiated stream: read what the peer sends, write back, half-close with FIN."""

    def __init__(self, session: "Session", frame: SynStream) -> None:
        self.session = session
        self.id = frame.stream_id
        self.headers = dict(frame.headers)
        self._incoming: asyncio.Queue[bytes] = asyncio.Queue()
        self._buffered = 0
        self._drained = asyncio.Event()
        self._drained.set()
        self.remote_closed = False
        self.local_closed = bool(frame.flags & FLAG_UNIDIRECTIONAL)
        self.reset_by_peer = False
        if frame.flags & FLAG_FIN:
            self._remote_fin()

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def _remote_fin(self) -> None:
        if not self.remote_closed:
            self.remote_closed = True
            self._incoming.put_nowait(b"")

    async def read(self) -> bytes:
        """The next chunk the peer sent; b"" once it half-closed or the stream ended."""
        if self._incoming.empty() and self.remote_closed:
            return b""
        chunk = await self._incoming.get()
        self._buffered -= len(chunk)
        if self._buffered <= HIGH_WATER // 2:
            self._drained.set()
        return chunk

    def _push(self, data: bytes) -> None:
        self._incoming.put_nowait(data)
        self._buffered += len(data)
        if self._buffered > HIGH_WATER:
            self._drained.clear()

    async def reply(self) -> None:
        await self.session.send(SynReply(self.id))

    async def write(self, data: bytes, chunk: int = 32 * 1024) -> None:
        for start in range(0, len(data), chunk):
            if self.local_closed:
                raise ConnectionResetError(f"SPDY stream {self.id} is closed")
            await self.session.send(DataFrame(self.id, data[start:start + chunk]))

    async def close(self) -> None:
        """Half-close our side (an empty DATA frame with FIN)."""
        if not self.local_closed:
            self.local_closed = True
            await self.session.send(DataFrame(self.id, b"", FLAG_FIN))
        self._forget_if_done()

    async def reset(self, status: int = CANCEL) -> None:
        """Abort both halves; unread data no longer holds the session back."""
        self._drained.set()
        if not (self.local_closed and self.remote_closed):
            self.local_closed = True
            self._remote_fin()
            await self.session.send(RstStream(self.id, status))
        self._forget_if_done()

    def _ended_by_peer(self) -> None:
        self._drained.set()
        self.reset_by_peer = True
        self.local_closed = True
        self._remote_fin()
        self._forget_if_done()

    def _forget_if_done(self) -> None:
        if self.local_closed and self.remote_closed:
            self.session.streams.pop(self.id, None)


class Session:
    """The server half of one SPDY/3.1 session over any byte pipe.

    The owner passes each received chunk to `receive`, which answers PINGs, routes DATA and
    returns the streams the peer opened; `send` writes one frame at a time, in order (the
    compression context requires it)."""

    def __init__(self, write: Callable[[bytes], Awaitable[None]]) -> None:
        self._write = write
        self._encoder = FrameEncoder()
        self._decoder = FrameDecoder()
        self._lock = asyncio.Lock()
        self.streams: dict[int, Stream] = {}
        self.last_peer_stream = 0
        self.gone = False

    async def send(self, frame: Frame) -> None:
        async with self._lock:
            if self.gone and not isinstance(frame, GoAway):
                raise ConnectionResetError("SPDY session has ended")
            await self._write(self._encoder.encode(frame))

    async def receive(self, data: bytes) -> list[Stream]:
        """Handle received bytes; raises ProtocolError after sending GOAWAY."""
        try:
            frames = self._decoder.feed(data)
        except ProtocolError:
            await self.go_away(GOAWAY_PROTOCOL_ERROR)
            raise
        opened = []
        for frame in frames:
            stream = await self._dispatch(frame)
            if stream is not None:
                opened.append(stream)
        return opened

    async def _dispatch(self, frame: Frame) -> Stream | None:
        if isinstance(frame, SynStream):
            if frame.stream_id % 2 == 0 or frame.stream_id <= self.last_peer_stream:
                # Client streams are odd and increasing; refuse this one, keep the session.
                await self.send(RstStream(frame.stream_id, PROTOCOL_ERROR))
                return None
            self.last_peer_stream = frame.stream_id
            opened = Stream(self, frame)
            self.streams[frame.stream_id] = opened
            return opened
        if isinstance(frame, Ping):
            if frame.ping_id % 2 == 1:  # odd ids are the client's: echo; even would be ours
                await self.send(frame)
            return None
        if isinstance(frame, GoAway):
            self.close()
            return None
        if not isinstance(frame, (DataFrame, RstStream, HeadersFrame)):
            return None  # SYN_REPLY (we open no streams), SETTINGS, WINDOW_UPDATE
        stream = self.streams.get(frame.stream_id)
        if stream is None:
            return None  # racing a reset or close: drop it, as spdystream does
        if isinstance(frame, RstStream):
            stream._ended_by_peer()
            return None
        if stream.remote_closed:
            return None
        if isinstance(frame, DataFrame) and frame.data:
            stream._push(frame.data)
        if frame.flags & FLAG_FIN:
            stream._remote_fin()
            stream._forget_if_done()
        # Stop reading the pipe until this stream's reader catches up (or the stream ends).
        await stream._drained.wait()
        return None

    async def go_away(self, status: int = GOAWAY_OK) -> None:
        if self.gone:
            return
        try:
            await self.send(GoAway(self.last_peer_stream, status))
        except (ConnectionError, RuntimeError) as exc:  # the pipe may already be gone
            log.debug("SPDY GOAWAY not sent: %s", exc)
        self.close()

    def close(self) -> None:
        """The pipe is gone: every stream ends for its readers."""
        self.gone = True
        for stream in list(self.streams.values()):
            stream._ended_by_peer()
        self.streams.clear()
