"""The kubelet's client of a shim's attach socket (the protocol is in attachsock.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterator, Callable

from orchestrator.runtime.attachsock import (
    CLOSE,
    RESIZE,
    SOCKET_NAME,
    STDERR,
    STDIN,
    STDOUT,
    FrameReader,
    frame,
    hello,
    short_path,
)

__all__ = ["CLOSE", "RESIZE", "STDIN", "AttachConnection", "connect", "socket_of"]


def socket_of(exit_file: str) -> Path:
    """An instance's attach socket, next to the files the shim writes."""
    return Path(exit_file).parent / SOCKET_NAME


class AttachConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, kind: int, data: bytes = b"") -> None:
        if self.writer.is_closing():
            return
        self.writer.write(frame(kind, data))
        try:
            await self.writer.drain()
        except ConnectionError:
            pass  # the container's output ended; output() says so

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        """(1 stdout | 2 stderr, bytes) until the shim closes the socket."""
        frames = FrameReader()
        while True:
            try:
                data = await self.reader.read(65536)
            except ConnectionError:
                return
            if not data:
                return
            for kind, payload in frames.feed(data):
                if kind in (STDOUT, STDERR) and payload:
                    yield kind, payload

    def close(self) -> None:
        self.writer.close()


async def connect(path: Path, stdin: bool, stdout: bool, stderr: bool,
                  starting: Callable[[], bool] = lambda: False,
                  patience: float = 10.0) -> AttachConnection:
    """OSError when the container has no attach socket (it ended, or was started by a shim
    older than attach). The container counts as running once its shim is launched, a moment
    before the shim binds the socket: while `starting()` holds, that moment is waited for
    (kubectl attaches the instant it sees Running)."""
    deadline = asyncio.get_running_loop().time() + patience
    while not path.exists() and starting() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    if not path.exists():
        raise FileNotFoundError(f"container has no attach socket at {path}")
    with short_path(str(path)) as address:
        reader, writer = await asyncio.open_unix_connection(address)
    writer.write(hello(stdin, stdout, stderr))
    await writer.drain()
    return AttachConnection(reader, writer)
