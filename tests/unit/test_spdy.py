"""SPDY/3.1 framing: round trips, header compression against bytes kubectl sent, and
malformed input that must raise ProtocolError (never anything else)."""

from __future__ import annotations

import asyncio
import random
import struct
import zlib

import pytest

from orchestrator.server import spdy

# Captured from kubectl 1.37 (client-go, Go's compress/zlib) opening a port-forward: the
# error stream's SYN_STREAM, its FIN, and the data stream's SYN_STREAM, whose header block
# continues the first one's zlib stream.
KUBECTL_SYN_ERROR = bytes.fromhex(
    "800300010000003e0000000100000000000078f9e3c6a7c202253a703a2b294a4dcc851625aca9a08086"
    "14cb45e01c60616e61cec0c0c0590489c64c50f2663400000000ffff")
KUBECTL_FIN_ERROR = bytes.fromhex("0000000101000000")
KUBECTL_SYN_DATA = bytes.fromhex(
    "800300010000001a00000003000000000000826a26ac0ad57850499508000000ffff")


def test_dictionary_is_spdy3s() -> None:
    # 1423 bytes; its Adler-32 is the DICTID a SPDY/3 zlib stream announces (kubectl's
    # stream above carries it at bytes 20-23).
    assert len(spdy.DICTIONARY) == 1423
    assert zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2 == int.from_bytes(
        KUBECTL_SYN_ERROR[20:24], "big")
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")


def test_decodes_what_kubectl_sends() -> None:
    frames = spdy.FrameDecoder().feed(KUBECTL_SYN_ERROR + KUBECTL_FIN_ERROR + KUBECTL_SYN_DATA)
    assert frames == [
        spdy.SynStream(1, (("streamtype", "error"), ("port", "8787"), ("requestid", "0"))),
        spdy.DataFrame(1, b"", spdy.FLAG_FIN),
        spdy.SynStream(3, (("port", "8787"), ("requestid", "0"), ("streamtype", "data"))),
    ]


def test_decoder_accepts_any_split() -> None:
    wire = KUBECTL_SYN_ERROR + KUBECTL_FIN_ERROR + KUBECTL_SYN_DATA
    whole = spdy.FrameDecoder().feed(wire)
    for size in (1, 3, 7, 64):
        dec = spdy.FrameDecoder()
        got = [f for i in range(0, len(wire), size) for f in dec.feed(wire[i:i + size])]
        assert got == whole


def test_compressed_header_blocks_share_one_zlib_stream() -> None:
    headers = (("streamtype", "error"), ("port", "8787"), ("requestid", "0"))
    comp, decomp = spdy.HeaderCompressor(), spdy.HeaderDecompressor()
    first, second = comp.compress(headers), comp.compress(headers)
    assert first[:2] == b"\x78\xf9" and first[2:6] == KUBECTL_SYN_ERROR[20:24]
    assert len(second) < len(first)  # the second block refers back into the first
    assert decomp.decompress(first) == headers == decomp.decompress(second)
    with pytest.raises(spdy.ProtocolError):  # the second alone lacks its context
        spdy.HeaderDecompressor().decompress(second)


def test_header_block_layout() -> None:
    raw = spdy.pack_header_block((("Port", "80"), ("x", "a\x00b")))
    assert raw == (b"\x00\x00\x00\x02" + b"\x00\x00\x00\x04port\x00\x00\x00\x0280"
                   + b"\x00\x00\x00\x01x\x00\x00\x00\x03a\x00b")
    assert spdy.unpack_header_block(raw) == (("port", "80"), ("x", "a\x00b"))


FRAMES: list[spdy.Frame] = [
    spdy.DataFrame(5, b"hello"),
    spdy.DataFrame(0x7FFFFFFF, b"", spdy.FLAG_FIN),
    spdy.SynStream(7, (("streamtype", "data"), ("port", "8786")), associated_to=3,
                   priority=5, slot=2, flags=spdy.FLAG_FIN | spdy.FLAG_UNIDIRECTIONAL),
    spdy.SynReply(7),
    spdy.SynReply(9, (("status", "200"),), spdy.FLAG_FIN),
    spdy.RstStream(7, spdy.CANCEL),
    spdy.Settings(((0, 4, 100), (1, 7, 65536)), flags=1),
    spdy.Ping(0xFFFFFFFF),
    spdy.GoAway(41, spdy.GOAWAY_PROTOCOL_ERROR),
    spdy.HeadersFrame(3, (("a", "b"),), spdy.FLAG_FIN),
    spdy.WindowUpdate(0, 65536),
]


def test_round_trip_every_frame_type() -> None:
    enc, dec = spdy.FrameEncoder(), spdy.FrameDecoder()
    wire = b"".join(enc.encode(f) for f in FRAMES)
    assert dec.feed(wire) == FRAMES


def test_control_frame_header_layout() -> None:
    wire = spdy.FrameEncoder().encode(spdy.Ping(1))
    assert wire == bytes.fromhex("80030006 00000004 00000001".replace(" ", ""))
    wire = spdy.FrameEncoder().encode(spdy.DataFrame(3, b"ab", spdy.FLAG_FIN))
    assert wire == bytes.fromhex("00000003 01000002 6162".replace(" ", ""))


def test_unknown_control_frames_are_skipped() -> None:
    unknown = struct.pack(">HHI", 0x8003, 0x00FF, 3) + b"abc"
    assert spdy.FrameDecoder().feed(unknown + spdy.FrameEncoder().encode(spdy.Ping(3))) == [
        spdy.Ping(3)]


def _control(kind: int, body: bytes, version: int = 3) -> bytes:
    return struct.pack(">HHI", 0x8000 | version, kind, len(body)) + body


@pytest.mark.parametrize("wire", [
    _control(spdy.PING, b"\x00\x00\x00\x01", version=2),            # wrong version
    _control(spdy.PING, b"\x00\x00\x01"),                           # short PING
    _control(spdy.RST_STREAM, b"\x00" * 12),                        # long RST_STREAM
    _control(spdy.GOAWAY, b"\x00" * 4),
    _control(spdy.WINDOW_UPDATE, b""),
    _control(spdy.SYN_STREAM, b"\x00" * 9),                         # no room for fields
    _control(spdy.SYN_STREAM, b"\x00" * 10 + b"junk"),              # stream 0
    _control(spdy.SYN_STREAM, struct.pack(">IIBB", 1, 0, 0, 0) + b"not zlib"),
    _control(spdy.SYN_REPLY, b"\x00\x00"),
    _control(spdy.SETTINGS, struct.pack(">I", 2) + b"\x00" * 8),    # count disagrees
    _control(spdy.SETTINGS, b""),
    struct.pack(">II", 0, 3) + b"abc",                              # DATA on stream 0
])
def test_malformed_frames_raise_protocol_error(wire: bytes) -> None:
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameDecoder().feed(wire)



@pytest.mark.parametrize("raw", [
    b"\x00\x00\x00",                                                 # no count
    struct.pack(">I", 1),                                            # pair missing
    struct.pack(">I", 1) + struct.pack(">I", 4) + b"port",           # value missing
    struct.pack(">II", 1, 99) + b"x" * 8,                            # name past the end
    struct.pack(">II", 1, 0) + struct.pack(">I", 0),                 # empty name
    struct.pack(">I", 2) + (struct.pack(">I", 1) + b"a" + struct.pack(">I", 0)) * 2,  # dup
    struct.pack(">II", 1, 1) + b"a" + struct.pack(">I", 0) + b"!",  # trailing bytes
    struct.pack(">II", 1, 2) + b"\xff\xfe" + struct.pack(">I", 0),  # not UTF-8
    struct.pack(">I", 0xFFFFFFFF),                                   # absurd count
])
def test_malformed_header_blocks_raise_protocol_error(raw: bytes) -> None:
    with pytest.raises(spdy.ProtocolError):
        spdy.unpack_header_block(raw)


def test_header_bomb_is_refused() -> None:
    comp = zlib.compressobj(zdict=spdy.DICTIONARY)
    bomb = comp.compress(struct.pack(">II", 1, 1) + b"a" + struct.pack(">I", 1 << 20)
                         + b"x" * (1 << 20)) + comp.flush(zlib.Z_SYNC_FLUSH)
    assert len(bomb) < 8192
    with pytest.raises(spdy.ProtocolError, match="past"):
        spdy.HeaderDecompressor().decompress(bomb)


def test_random_garbage_never_raises_anything_else() -> None:
    rng = random.Random(4006)
    valid = b"".join(spdy.FrameEncoder().encode(f) for f in FRAMES)
    for _ in range(2000):
        if rng.random() < 0.5:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
        else:  # flip a few bytes of a valid stream
            buf = bytearray(valid)
            for _ in range(rng.randint(1, 4)):
                buf[rng.randrange(len(buf))] = rng.getrandbits(8)
            data = bytes(buf)
        try:
            spdy.FrameDecoder().feed(data)
        except spdy.ProtocolError:
            pass


# -- session ---------------------------------------------------------------------------------


class Peer:
    """The client half, driving a Session through its byte pipe."""

    def __init__(self) -> None:
        self.enc, self.dec = spdy.FrameEncoder(), spdy.FrameDecoder()
        self.received: list[spdy.Frame] = []
        self.session = spdy.Session(self._from_server)

    async def _from_server(self, data: bytes) -> None:
        self.received += self.dec.feed(data)

    async def send(self, *frames: spdy.Frame) -> list[spdy.Stream]:
        return await self.session.receive(b"".join(self.enc.encode(f) for f in frames))


def test_session_streams_data_and_fin() -> None:
    async def main() -> None:
        peer = Peer()
        [stream] = await peer.send(spdy.SynStream(1, (("streamType", "data"),)))
        assert stream.header("STREAMTYPE") == "data"
        await stream.reply()
        await peer.send(spdy.DataFrame(1, b"ab"), spdy.DataFrame(1, b"c", spdy.FLAG_FIN))
        assert [await stream.read(), await stream.read(), await stream.read()] == [
            b"ab", b"c", b""]
        assert await stream.read() == b""
        await stream.write(b"x" * 70000, chunk=32768)
        await stream.close()
        assert peer.received[0] == spdy.SynReply(1)
        assert [len(f.data) for f in peer.received[1:] if isinstance(f, spdy.DataFrame)] == [
            32768, 32768, 4464, 0]
        assert peer.received[-1] == spdy.DataFrame(1, b"", spdy.FLAG_FIN)
        assert peer.session.streams == {}  # both halves closed: forgotten
        with pytest.raises(ConnectionResetError):
            await stream.write(b"late")

    asyncio.run(main())


def test_session_pings_resets_and_bad_stream_ids() -> None:
    async def main() -> None:
        peer = Peer()
        await peer.send(spdy.Ping(1), spdy.Ping(2))
        assert peer.received == [spdy.Ping(1)]  # even ids would be our own: not echoed
        [stream] = await peer.send(spdy.SynStream(5))
        assert await peer.send(spdy.SynStream(3), spdy.SynStream(8)) == []
        assert peer.received[1:] == [spdy.RstStream(3, spdy.PROTOCOL_ERROR),
                                     spdy.RstStream(8, spdy.PROTOCOL_ERROR)]
        await peer.send(spdy.RstStream(5, spdy.CANCEL), spdy.DataFrame(5, b"late"),
                        spdy.DataFrame(99, b"unknown"))
        assert stream.reset_by_peer and await stream.read() == b""
        await peer.send(spdy.Settings(((0, 7, 1 << 20),)), spdy.WindowUpdate(0, 100))
        assert len(peer.received) == 3  # nothing to answer

    asyncio.run(main())


def test_session_goes_away_on_garbage() -> None:
    async def main() -> None:
        peer = Peer()
        [stream] = await peer.send(spdy.SynStream(1))
        with pytest.raises(spdy.ProtocolError):
            await peer.session.receive(_control(spdy.PING, b"\x00", version=3))
        assert peer.received[-1] == spdy.GoAway(1, spdy.GOAWAY_PROTOCOL_ERROR)
        assert await stream.read() == b""
        with pytest.raises(ConnectionResetError):
            await stream.write(b"x")

    asyncio.run(main())


def test_session_stops_reading_while_a_stream_is_full() -> None:
    async def main() -> None:
        peer = Peer()
        [stream] = await peer.send(spdy.SynStream(1))
        blocked = asyncio.create_task(peer.send(spdy.DataFrame(1, b"x" * (spdy.HIGH_WATER + 1))))
        await asyncio.sleep(0.05)
        assert not blocked.done()
        assert len(await stream.read()) == spdy.HIGH_WATER + 1
        await asyncio.wait_for(blocked, 1)
        # A reset releases the session too, even with the data never read.
        blocked = asyncio.create_task(peer.send(spdy.DataFrame(1, b"y" * (spdy.HIGH_WATER + 1))))
        await asyncio.sleep(0.05)
        assert not blocked.done()
        await stream.reset()
        await asyncio.wait_for(blocked, 1)
        assert peer.received[-1] == spdy.RstStream(1, spdy.CANCEL)

    asyncio.run(main())
