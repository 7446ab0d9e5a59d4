"""The shim's attach socket: how `kubectl attach` reaches a running container's stdio.

Stdlib only and thread-based: the shim (`python -S shim.py`) loads this file as a sibling
module. Like conmon's attach socket, it is a Unix stream socket in the instance's folder; the
shim owns the container's stdin (a pipe, or the master side of its pty) and copies its output
both to the log and to every attached client.

Frames both ways: `[kind: 1 byte][length: 4 bytes, big-endian][payload]`, with the channel
numbers of the remote-command protocol. A client first sends HELLO (JSON: which of stdin,
stdout and stderr it wants); then STDIN data, RESIZE (`{"Width": w, "Height": h}`) and
CLOSE (its stdin ended). The shim sends STDOUT and STDERR, and closes the socket once the
container's output has ended.

What a client's end of stdin does follows containerd's CRI attach: with `stdinOnce` and no
tty the container's stdin is closed and output keeps flowing until the container exits;
otherwise that client is detached. A container with `stdinOnce` gets its stdin closed when
its first stdin session ends, however it ends.

Socket paths are limited to 108 bytes; a pod folder can be deeper, so the socket is bound
and reached through `/proc/self/fd/<folder fd>/` (as conmon does).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

STDIN, STDOUT, STDERR, RESIZE, HELLO, CLOSE = 0, 1, 2, 4, 16, 255
SOCKET_NAME = "attach.sock"
_HEADER = struct.Struct(">BI")
MAX_FRAME = 1 << 20


def frame(kind: int, payload: bytes = b"") -> bytes:
    return _HEADER.pack(kind, len(payload)) + payload


class FrameReader:
    """Reassembles frames from a byte stream."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buffer += data
        out = []
        while len(self._buffer) >= _HEADER.size:
            kind, length = _HEADER.unpack_from(self._buffer)
            if length > MAX_FRAME:
                raise ValueError(f"attach frame of {length} bytes is too large")
            end = _HEADER.size + length
            if len(self._buffer) < end:
                break
            out.append((kind, self._buffer[_HEADER.size:end]))
            self._buffer = self._buffer[end:]
        return out


@contextmanager
def short_path(path: str) -> Iterator[str]:
    """`path`, or the same socket reached through a descriptor of its folder when `path` is
    too long for a socket address."""
    if len(path.encode()) < 100:
        yield path
        return
    folder, name = os.path.split(path)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{name}"
    finally:
        os.close(fd)


# A client that reads nothing for this long is dropped: the container's output, which waits
# for every attached client, must not wait for ever on a wedged one.
SEND_TIMEOUT_SECONDS = 10


class _Client:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO,
                        struct.pack("ll", SEND_TIMEOUT_SECONDS, 0))
        self.stdin = self.stdout = self.stderr = False
        self.lock = threading.Lock()
        self.open = True

    def send(self, kind: int, data: bytes) -> None:
        with self.lock:
            if not self.open:
                return
            try:
                self.sock.sendall(frame(kind, data))
            except OSError:
                self.open = False

    def close(self) -> None:
        with self.lock:
            self.open = False
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class AttachServer:
    """Serves one container instance's attach socket from the shim."""

    def __init__(self, path: str, stdin_fd: int | None, tty_fd: int | None,
                 stdin_once: bool, resize: Callable[[int, int], None]) -> None:
        self.path = path
        self._stdin_fd = stdin_fd  # where client stdin goes: a pipe's write end or the pty
        self._tty = tty_fd is not None
        self._stdin_once = stdin_once
        self._resize = resize
        self._clients: list[_Client] = []
        self._lock = threading.Lock()
        self._stdin_lock = threading.Lock()
        self._first_stdin_session_done = False
        self._closed = False
        with short_path(path) as address:
            if os.path.exists(path):
                os.unlink(path)
            self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._listener.bind(address)
        os.chmod(path, 0o600)
        self._listener.listen(8)

    def set_stdin(self, fd: int | None) -> None:
        """Where clients' stdin goes, once the command has started."""
        with self._stdin_lock:
            self._stdin_fd = fd

    def start(self) -> None:
        threading.Thread(target=self._accept, daemon=True).start()

    def broadcast(self, kind: int, data: bytes) -> None:
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            if (kind == STDOUT and client.stdout) or (kind == STDERR and client.stderr):
                client.send(kind, data)

    def close(self) -> None:
        """The container's output has ended: every client is told by its socket closing."""
        with self._lock:
            self._closed = True
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()
        try:
            self._listener.close()
            os.unlink(self.path)
        except OSError:
            pass

    # -- per client ----------------------------------------------------------------------

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return  # closed
            client = _Client(sock)
            with self._lock:
                if self._closed:
                    client.close()
                    continue
                self._clients.append(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: _Client) -> None:
        reader = FrameReader()
        stdin_ended = False
        try:
            while True:
                data = client.sock.recv(65536)
                if not data:
                    break
                for kind, payload in reader.feed(data):
                    if kind == HELLO:
                        wanted = json.loads(payload or b"{}")
                        client.stdin = bool(wanted.get("stdin"))
                        client.stdout = bool(wanted.get("stdout"))
                        client.stderr = bool(wanted.get("stderr"))
                    elif kind == STDIN and client.stdin and not stdin_ended:
                        self._write_stdin(payload)
                    elif kind == RESIZE:
                        size = json.loads(payload or b"{}")
                        self._resize(int(size.get("Width", 0)), int(size.get("Height", 0)))
                    elif kind == CLOSE and client.stdin and not stdin_ended:
                        stdin_ended = True
                        if self._stdin_once and not self._tty:
                            self._close_stdin()
                        else:
                            self._end_stdin_session()
                            return  # detached: its output stops too
        except (OSError, ValueError):
            pass
        finally:
            if client.stdin and not stdin_ended:
                self._end_stdin_session()
            with self._lock:
                if client in self._clients:
                    self._clients.remove(client)
            client.close()

    def _end_stdin_session(self) -> None:
        if self._stdin_once and not self._first_stdin_session_done:
            self._first_stdin_session_done = True
            self._close_stdin()

    def _write_stdin(self, data: bytes) -> None:
        with self._stdin_lock:
            fd = self._stdin_fd
            while data and fd is not None:
                try:
                    written = os.write(fd, data)
                except OSError:
                    return
                data = data[written:]

    def _close_stdin(self) -> None:
        with self._stdin_lock:
            fd, self._stdin_fd = self._stdin_fd, None
        if fd is not None and not self._tty:
            os.close(fd)  # the command reads EOF; a pty's master stays: it carries output


def hello(stdin: bool, stdout: bool, stderr: bool) -> bytes:
    return frame(HELLO, json.dumps({"stdin": stdin, "stdout": stdout,
                                    "stderr": stderr}).encode())
