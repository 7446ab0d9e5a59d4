"""A small pod program for the network tests: `python netapp.py ANSWER PORT [HOST]`.

Listens on HOST (default: the wildcard, which the pod hook maps to the pod IP) and serves
GET / (the answer), /whoami (answer, bound address, client address), /stream (chunks over
time), /big?mb=N (N MiB), /get?url=U (fetches U, so a pod can reach a Service by name) and
/ws (a websocket echo).
"""

import asyncio
import sys

import aiohttp
from aiohttp import web

ANSWER, PORT = sys.argv[1], int(sys.argv[2])
HOST = sys.argv[3] if len(sys.argv) > 3 else ""


async def root(request: web.Request) -> web.Response:
    return web.Response(text=ANSWER)


async def whoami(request: web.Request) -> web.Response:
    sock = request.transport.get_extra_info("sockname") if request.transport else ("?", 0)
    fwd = request.headers.get("X-Forwarded-For", "")
    return web.json_response({"answer": ANSWER, "bound": sock[0], "client": request.remote,
                              "forwarded_for": fwd, "path": request.path,
                              "forwarded_host": request.headers.get("X-Forwarded-Host", "")})


async def stream(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse()
    await resp.prepare(request)
    for i in range(int(request.query.get("n", "3"))):
        await resp.write(f"chunk {i}\n".encode())
        await asyncio.sleep(float(request.query.get("delay", "0.2")))
    await resp.write_eof()
    return resp


async def big(request: web.Request) -> web.StreamResponse:
    size = int(float(request.query.get("mb", "1")) * (1 << 20))
    resp = web.StreamResponse()
    resp.content_length = size
    await resp.prepare(request)
    block = b"x" * (1 << 20)
    while size > 0:
        await resp.write(block[: min(size, len(block))])
        size -= len(block)
    await resp.write_eof()
    return resp


async def get(request: web.Request) -> web.Response:
    async with aiohttp.ClientSession() as session:
        async with session.get(request.query["url"]) as resp:
            return web.Response(text=await resp.text())


async def ws(request: web.Request) -> web.WebSocketResponse:
    sock = web.WebSocketResponse()
    await sock.prepare(request)
    async for msg in sock:
        if msg.type == aiohttp.WSMsgType.TEXT:
            await sock.send_str(f"{ANSWER}:{msg.data}")
    return sock


app = web.Application()
app.add_routes([web.get("/", root), web.get("/whoami", whoami), web.get("/stream", stream),
                web.get("/big", big), web.get("/get", get), web.get("/ws", ws)])
app.router.add_get("/{tail:.*}", whoami)
web.run_app(app, host=HOST or None, port=PORT, print=lambda *_: print("ready", flush=True),
            access_log=None)
