"""The ceiling for the API-server benchmark: a bare aiohttp server that answers the same
requests over the same TLS without storing, validating or versioning anything.

Run as `python apiserver_ceiling.py PORT CERT KEY`; prints "ready" when listening.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys

from aiohttp import web

CANNED = {"kind": "ConfigMap", "apiVersion": "v1",
          "metadata": {"name": "x", "namespace": "default", "resourceVersion": "1"},
          "data": {"k": "v"}}


def build() -> web.Application:
    watchers: list[asyncio.Queue[bytes]] = []

    async def create(request: web.Request) -> web.Response:
        body = await request.json()
        line = json.dumps({"type": "ADDED", "object": body}).encode() + b"\n"
        for q in watchers:
            q.put_nowait(line)
        return web.json_response(body, status=201)

    async def get(request: web.Request) -> web.Response:
        return web.json_response(CANNED)

    async def list_or_watch(request: web.Request) -> web.StreamResponse:
        if request.query.get("watch"):
            q: asyncio.Queue[bytes] = asyncio.Queue()
            watchers.append(q)
            resp = web.StreamResponse()
            resp.content_type = "application/json"
            await resp.prepare(request)
            try:
                while True:
                    await resp.write(await q.get())
            finally:
                watchers.remove(q)
        items = [CANNED] * int(request.query.get("n", "100"))
        return web.json_response({"kind": "ConfigMapList", "apiVersion": "v1",
                                  "metadata": {"resourceVersion": "1"}, "items": items})

    app = web.Application()
    app.router.add_post("/api/v1/namespaces/default/configmaps", create)
    app.router.add_get("/api/v1/namespaces/default/configmaps", list_or_watch)
    app.router.add_get("/api/v1/namespaces/default/configmaps/{name}", get)
    app.router.add_get("/readyz", lambda r: web.Response(text="ok"))
    return app


def main() -> None:
    port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

    async def serve() -> None:
        runner = web.AppRunner(build(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ctx).start()
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
