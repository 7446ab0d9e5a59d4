"""The kubelet's exec and attach sessions, as the API server reaches them.

One WebSocket per session, subprotocol `v5.channel.k8s.io`: every binary message is one byte
of channel, then data. Channels: 0 stdin, 1 stdout, 2 stderr, 3 the final v1 Status (JSON,
kubelet's: `NonZeroExitCode` with an `ExitCode` cause when the command failed), 4 terminal
size (`{"Width": w, "Height": h}`), 255 close (`[255, 0]`: the client's stdin ended).

The first message from here says whether the session started: an empty stdout message, or
a Status with the code to answer the client's upgrade with (the container is not running,
it has no attach socket), after which the socket closes. The API server turns this one
protocol into what each client speaks (server/remotecommand.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping

import aiohttp
from aiohttp import web

from orchestrator.runtime import attach, process
from orchestrator.runtime.container import Running
from orchestrator.runtime.execproc import ExecProcess

log = logging.getLogger(__name__)

PROTOCOL = "v5.channel.k8s.io"
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


def _flag(query: Mapping[str, str], name: str) -> bool:
    return query.get(name, "").lower() in ("1", "true")


@dataclass(frozen=True)
class StreamOptions:
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> "StreamOptions":
        tty = _flag(query, "tty")
        # A terminal has one output stream: kubelet ignores stderr with a tty.
        return cls(_flag(query, "stdin"), _flag(query, "stdout"),
                   _flag(query, "stderr") and not tty, tty)


def exit_status(code: int) -> dict[str, Any]:
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command, "
                       f"exit status {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def failure(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"metadata": {}, "status": "Failure", "message": message, "reason": reason,
            "code": code}


class Channels:
    """The kubelet's end of one session's WebSocket."""

    def __init__(self, ws: web.WebSocketResponse, options: StreamOptions) -> None:
        self.ws = ws
        self.options = options

    async def send(self, channel: int, data: bytes) -> None:
        if (channel == STDOUT and not self.options.stdout) or (
                channel == STDERR and not self.options.stderr):
            return  # a stream the client did not ask for
        await self.ws.send_bytes(bytes([channel]) + data)

    async def started(self) -> None:
        await self.ws.send_bytes(bytes([STDOUT]))

    async def finish(self, status: dict[str, Any]) -> None:
        try:
            await self.ws.send_bytes(bytes([ERROR]) + json.dumps(status).encode())
        finally:
            await self.ws.close()

    async def refuse(self, code: int, reason: str, message: str) -> None:
        await self.finish(failure(code, reason, message))


Feed = Callable[[bytes], Awaitable[None]]


async def _client_input(ws: web.WebSocketResponse, options: StreamOptions, stdin: Feed,
                        resize: Callable[[int, int], Awaitable[None]],
                        close_stdin: Callable[[], Awaitable[None]]) -> None:
    """Client messages until its socket closes: stdin data (when it asked for stdin), sizes,
    the end of stdin."""
    async for msg in ws:
        if msg.type != aiohttp.WSMsgType.BINARY or not msg.data:
            continue
        channel, payload = msg.data[0], msg.data[1:]
        if channel == STDIN and payload and options.stdin:
            await stdin(payload)
        elif channel == RESIZE:
            for width, height in _sizes(payload):
                await resize(width, height)
        elif channel == CLOSE and payload[:1] == bytes([STDIN]):
            await close_stdin()


async def _until_either(output: Awaitable[None], client: Awaitable[None], what: str) -> None:
    """Run the output side until it ends (and finishes the session) or the client leaves."""
    pumping, reading = asyncio.ensure_future(output), asyncio.ensure_future(client)
    try:
        await asyncio.wait({pumping, reading}, return_when=asyncio.FIRST_COMPLETED)
        if pumping.done() and not pumping.cancelled():
            try:
                pumping.result()
            except (ConnectionError, RuntimeError) as exc:
                log.debug("%s: the client went away: %s", what, exc)
    finally:
        for task in (pumping, reading):
            task.cancel()
        await asyncio.gather(pumping, reading, return_exceptions=True)


def _sizes(payload: bytes) -> list[tuple[int, int]]:
    """Terminal sizes in a resize message (one JSON object, possibly several in a row)."""
    decoder = json.JSONDecoder()
    text = payload.decode(errors="replace").strip()
    out = []
    while text:
        try:
            value, end = decoder.raw_decode(text)
        except ValueError:
            break
        if isinstance(value, dict):
            try:
                out.append((int(value.get("Width", 0)), int(value.get("Height", 0))))
            except (TypeError, ValueError):
                pass
        text = text[end:].strip()
    return out


async def serve_exec(ws: web.WebSocketResponse, run: Running, argv: list[str],
                     options: StreamOptions) -> None:
    channels = Channels(ws, options)
    try:
        proc = await ExecProcess.start(run, argv, options.stdin, options.tty)
    except OSError as exc:
        # As a runtime reports a command it cannot start: on the command's own output, with
        # the shell's exit codes (127 not found, 126 not executable).
        await channels.started()
        message = f"{exc.strerror or exc}: {argv[0] if argv else ''}\n".encode()
        await channels.send(STDOUT if options.tty else STDERR, message)
        await channels.finish(exit_status(127 if isinstance(exc, FileNotFoundError)
                                          else 126))
        return
    await channels.started()

    async def output() -> None:
        async for channel, data in proc.output():
            await channels.send(channel, data)
        await channels.finish(exit_status(await proc.wait()))

    async def end_stdin() -> None:
        proc.close_stdin()

    async def resize(width: int, height: int) -> None:
        proc.resize(width, height)

    try:
        await _until_either(output(), _client_input(ws, options, proc.write, resize,
                                                    end_stdin),
                            f"exec {argv[:1]}")
    finally:
        await proc.close()  # a client that left takes its command with it, as containerd's


async def serve_attach(ws: web.WebSocketResponse, run: Running,
                       options: StreamOptions) -> None:
    channels = Channels(ws, options)
    record = run.instance.record
    socket_path = attach.socket_of(record.exit_file)

    def starting() -> bool:  # the shim lives and has not yet started the command
        return process.alive(record) and not Path(record.start_file).exists()

    try:
        conn = await attach.connect(socket_path, options.stdin, options.stdout,
                                    options.stderr, starting)
    except OSError as exc:
        await channels.refuse(500, "InternalError", f"error attaching to container: {exc}")
        return
    await channels.started()

    async def output() -> None:
        async for channel, data in conn.output():
            await channels.send(channel, data)
        await channels.finish({"metadata": {}, "status": "Success"})

    async def to_stdin(data: bytes) -> None:
        await conn.send(attach.STDIN, data)

    async def resize(width: int, height: int) -> None:
        await conn.send(attach.RESIZE, json.dumps({"Width": width, "Height": height}).encode())

    async def end_stdin() -> None:
        await conn.send(attach.CLOSE)

    try:
        await _until_either(output(), _client_input(ws, options, to_stdin, resize,
                                                    end_stdin),
                            f"attach {socket_path.parent.name}")
    finally:
        conn.close()
