"""A small kubelet-like HTTP endpoint on 127.0.0.1, which the API server proxies to:

- `GET /containerLogs/{ns}/{pod}/{container}?follow&tailLines&sinceSeconds&timestamps&previous`
- `GET /exec/{ns}/{pod}/{container}?command=...&stdin&stdout&stderr&tty` and
  `GET /attach/{ns}/{pod}/{container}?stdin&stdout&stderr&tty`: WebSocket sessions in the
  channel protocol v5.channel.k8s.io (streaming.py).

Every request must carry the control plane's bearer token. Errors are `Status` bodies.
"""

from __future__ import annotations

import hmac
import json
import logging
from pathlib import Path
from typing import Any, Callable

from aiohttp import web

from orchestrator.runtime import logs, podfiles, process, streaming
from orchestrator.runtime.agent import ProcessNode
from orchestrator.runtime.container import Running

log = logging.getLogger(__name__)


def _status(code: int, reason: str, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    return web.Response(status=code, text=json.dumps(body), content_type="application/json")


class KubeletServer:
    def __init__(self, nodes: list[ProcessNode], data_dir: Path, token: str) -> None:
        self.nodes = nodes
        self.data_dir = data_dir
        self.token = token
        self.port = 0
        self._runner: web.AppRunner | None = None
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/containerLogs/{ns}/{pod}/{container}", self.container_logs)
        app.router.add_get("/exec/{ns}/{pod}/{container}", self.exec)
        app.router.add_get("/attach/{ns}/{pod}/{container}", self.attach)
        app.router.add_get("/healthz", self.health)
        self.app = app

    @web.middleware
    async def _auth(self, request: web.Request,
                    handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        if request.path == "/healthz":
            result: web.StreamResponse = await handler(request)
            return result
        header = request.headers.get("Authorization", "")
        given = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not self.token or not hmac.compare_digest(given, self.token):
            return _status(401, "Unauthorized", "Unauthorized")
        result = await handler(request)
        return result

    async def start(self) -> int:
        self._runner = web.AppRunner(self.app, access_log=None, handler_cancellation=True,
                                     shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else 0
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    def _find(self, ns: str, name: str) -> tuple[ProcessNode, dict[str, Any]] | None:
        for node in self.nodes:
            pod = node.informer.get(ns, name)
            if pod is not None:
                return node, pod
        return None

    async def container_logs(self, request: web.Request) -> web.StreamResponse:
        ns, name, cname = (request.match_info[k] for k in ("ns", "pod", "container"))
        found = self._find(ns, name)
        if found is None:
            return _status(404, "NotFound", f'pod "{name}" not found on this node')
        node, pod = found
        folder = podfiles.pod_dir(self.data_dir, pod["metadata"]["uid"])
        numbers = sorted(int(p.stem) for p in (folder / "logs" / cname).glob("*.log")
                         if p.stem.isdigit())
        status = _container_status(pod, cname)
        previous = request.query.get("previous", "").lower() in ("true", "1")
        if previous:
            # While a container waits to restart, its last run is both current and previous.
            waiting = "waiting" in (status.get("state") or {})
            index = numbers[-1] if waiting and numbers else (numbers[-2] if len(numbers) > 1
                                                             else None)
            if index is None:
                return _status(400, "BadRequest", f'previous terminated container "{cname}" '
                               f'in pod "{name}" not found')
        else:
            if not numbers:
                reason = ((status.get("state") or {}).get("waiting") or {}).get(
                    "reason", "ContainerCreating")
                return _status(400, "BadRequest", f'container "{cname}" in pod "{name}" is '
                               f"waiting to start: {reason}")
            index = numbers[-1]
        path = podfiles.log_path(folder, cname, index)
        worker = node.worker_for(ns, name)

        def running() -> bool:
            run = worker.running.get(cname) if worker is not None else None
            return run is not None and run.instance.record.log_path == str(path) and \
                process.alive(run.instance.record)

        options = logs.LogOptions.from_query(request.query)
        if previous:
            options.follow = False
        resp = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        async for chunk in logs.stream_log(path, options, running):
            await resp.write(chunk)
        await resp.write_eof()
        return resp

    def _running(self, ns: str, name: str, cname: str) -> Running | None:
        found = self._find(ns, name)
        worker = found[0].worker_for(ns, name) if found else None
        run = worker.running.get(cname) if worker is not None else None
        if run is None or not process.alive(run.instance.record):
            return None
        return run

    async def _session(self, request: web.Request) -> tuple[web.WebSocketResponse,
                                                             Running | None]:
        ns, name, cname = (request.match_info[k] for k in ("ns", "pod", "container"))
        ws = web.WebSocketResponse(protocols=(streaming.PROTOCOL,), max_msg_size=0,
                                   autoping=True)
        await ws.prepare(request)
        run = self._running(ns, name, cname)
        if run is None:
            await streaming.Channels(ws, streaming.StreamOptions.from_query(
                request.query)).refuse(400, "BadRequest", f'container not found ("{cname}")')
        return ws, run

    async def exec(self, request: web.Request) -> web.StreamResponse:
        command = request.query.getall("command", [])
        if not command:
            return _status(400, "BadRequest", "you must specify at least 1 command")
        ws, run = await self._session(request)
        if run is not None:
            await streaming.serve_exec(ws, run, command,
                                       streaming.StreamOptions.from_query(request.query))
        return ws

    async def attach(self, request: web.Request) -> web.StreamResponse:
        ws, run = await self._session(request)
        if run is not None:
            await streaming.serve_attach(ws, run,
                                         streaming.StreamOptions.from_query(request.query))
        return ws


def _container_status(pod: dict[str, Any], name: str) -> dict[str, Any]:
    status = pod.get("status") or {}
    for c in (status.get("containerStatuses") or []) + (status.get(
            "initContainerStatuses") or []):
        if c.get("name") == name:
            return dict(c)
    return {}
