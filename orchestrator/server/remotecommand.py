"""pods/exec and pods/attach as clients speak them, relayed to a kubelet session.

The kubelet side is one protocol (v5.channel.k8s.io over a WebSocket, already started: see
runtime/streaming.py). Clients get:

- WebSocket, subprotocol `v5.channel.k8s.io` (the only one kubectl >= 1.30 offers),
  `v4.channel.k8s.io` (the Python client), `v3`, `v2` or `channel.k8s.io`: each binary
  message is a channel byte and data (0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize; v5 adds
  255, closing a stream). v4 and v5 carry the final v1 Status as JSON on channel 3; older
  versions only an error message, and only on failure; v1 and v2 have no resize channel. As
  kube-apiserver does, an empty message on the lowest stream asked for says the session is
  open, and after the Status the server sends the close frame and waits for the client's.
- SPDY/3.1 (kubectl's fallback when the WebSocket upgrade is refused, or always with
  `KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false`): remotecommand_spdy.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Coroutine, Mapping

import aiohttp
from aiohttp import web

from orchestrator.api import errors

log = logging.getLogger(__name__)

WS_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io",
                "v2.channel.k8s.io", "channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
_JSON_STATUS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
_NO_RESIZE = ("v2.channel.k8s.io", "channel.k8s.io")


def _flag(query: Mapping[str, str], name: str, default: bool) -> bool:
    """A boolean query parameter as kube converts one: absent is the default, `false` and
    `0` are false, anything else true."""
    if name not in query:
        return default
    return query[name].strip().lower() not in ("false", "0")


@dataclass(frozen=True)
class Options:
    """PodExecOptions / PodAttachOptions: stdout and stderr default to true."""
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> "Options":
        options = cls(_flag(query, "stdin", False), _flag(query, "stdout", True),
                      _flag(query, "stderr", True), _flag(query, "tty", False))
        if not (options.stdin or options.stdout or options.stderr):
            raise errors.BadRequest("you must specify at least 1 of stdin, stdout, stderr")
        return options

    def kubelet_query(self) -> list[tuple[str, str]]:
        return [(name, "1" if getattr(self, name) else "0")
                for name in ("stdin", "stdout", "stderr", "tty")]


def legacy_error(status: dict[str, Any]) -> bytes:
    """The error channel of v1-v3: the failure's message, nothing on success."""
    if status.get("status") == "Success":
        return b""
    return str(status.get("message") or "error executing remote command").encode()


def status_for(protocol: str, raw: bytes) -> bytes:
    if protocol in _JSON_STATUS:
        return raw
    try:
        status = json.loads(raw)
    except ValueError:
        return raw
    return legacy_error(status if isinstance(status, dict) else {})


def is_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").strip().lower() == "websocket"


def is_spdy(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").strip().lower().startswith("spdy/3.1")


def check_upgrade(request: web.Request, what: str) -> None:
    """Before anything reaches the kubelet: a request that cannot be upgraded is a 400."""
    if is_spdy(request):
        return
    if not is_websocket(request):
        raise errors.BadRequest(
            f"Upgrade request required: {what} needs a WebSocket connection (subprotocol one "
            f"of {', '.join(WS_PROTOCOLS)}) or a SPDY/3.1 upgrade")
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
               if p.strip()]
    if offered and not set(offered) & set(WS_PROTOCOLS):
        raise errors.BadRequest(
            f"unable to upgrade connection: requested protocol(s) are not supported: "
            f"{offered}; supports {list(WS_PROTOCOLS)}")


async def serve_websocket(request: web.Request, upstream: aiohttp.ClientWebSocketResponse,
                          options: Options) -> web.StreamResponse:
    ws = web.WebSocketResponse(protocols=WS_PROTOCOLS, max_msg_size=0, autoping=True)
    await ws.prepare(request)
    protocol = ws.ws_protocol or "channel.k8s.io"
    first = STDOUT if options.stdout else STDERR if options.stderr else ERROR
    await ws.send_bytes(bytes([first]))

    async def down() -> None:
        async for msg in upstream:
            if msg.type != aiohttp.WSMsgType.BINARY or not msg.data:
                continue
            channel, payload = msg.data[0], msg.data[1:]
            if channel == ERROR:
                payload = status_for(protocol, payload)
                if not payload:
                    continue
            await ws.send_bytes(bytes([channel]) + payload)

    async def up() -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.BINARY or not msg.data:
                continue
            if msg.data[0] == RESIZE and protocol in _NO_RESIZE:
                continue
            await upstream.send_bytes(msg.data)

    await relay(down(), up(), f"{request.path}")
    await ws.close()
    return ws


async def relay(down: Coroutine[Any, Any, None], up: Coroutine[Any, Any, None],
                what: str) -> None:
    """Until the kubelet ends the session (down) or the client leaves (up)."""
    tasks = [asyncio.ensure_future(down), asyncio.ensure_future(up)]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            exc = task.exception()
            if exc is not None and not isinstance(exc, (ConnectionError, RuntimeError)):
                raise exc
            if exc is not None:
                log.debug("%s: connection lost: %s", what, exc)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
