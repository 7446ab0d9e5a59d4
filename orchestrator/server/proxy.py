"""pods/proxy and services/proxy: HTTP to a pod's port through the API server.

`/api/v1/namespaces/NS/pods/[scheme:]NAME[:PORT]/proxy/PATH` and the same for services
(`NAME[:PORT]`, PORT a Service port number or name) — what `kubectl proxy` and
API-server URLs to a dashboard use. A Service request goes to one of its ready endpoints,
read from the Endpoints object in the store. Responses stream; websockets are not relayed.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from orchestrator.api import errors
from orchestrator.server.portforward import pod_ip
from orchestrator.server.proxyable import endpoint_is_pod_address, proxyable

if TYPE_CHECKING:
    from orchestrator.server.resources import ResourceHandlers

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "transfer-encoding", "upgrade", "host", "content-length",
              "authorization"}
_counter = itertools.count()
SESSIONS = web.AppKey("proxy_sessions", dict)


def split_name(raw: str) -> tuple[str, str, str]:
    """`[scheme:]name[:port]` -> (scheme, name, port)."""
    parts = raw.split(":")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return "", parts[0], ""


def _pod_target(h: "ResourceHandlers", ns: str, raw: str) -> tuple[str, str, int]:
    scheme, name, port = split_name(raw)
    ip = pod_ip(h, ns, name)
    if not port:
        pod = h.service.store.get("/pods", ns, name) or {}
        declared = [p for c in (pod.get("spec") or {}).get("containers") or []
                    for p in c.get("ports") or []]
        port = str(declared[0]["containerPort"]) if declared else "80"
    elif not port.isdigit():
        pod = h.service.store.get("/pods", ns, name) or {}
        match = [p["containerPort"] for c in (pod.get("spec") or {}).get("containers") or []
                 for p in c.get("ports") or [] if p.get("name") == port]
        if not match:
            raise errors.BadRequest(f"pod {name} declares no container port named {port!r}")
        port = str(match[0])
    return scheme or "http", ip, int(port)


def _service_target(h: "ResourceHandlers", ns: str, raw: str) -> tuple[str, str, int]:
    scheme, name, port = split_name(raw)
    svc = h.service.store.get("/services", ns, name)
    if svc is None:
        raise errors.NotFound(f'services "{name}" not found', name=name, kind="services")
    ports = (svc.get("spec") or {}).get("ports") or []
    chosen: dict[str, Any] | None = None
    for p in ports:
        if not port or str(p.get("port")) == port or p.get("name") == port:
            chosen = p
            break
    if chosen is None:
        raise errors.BadRequest(f"service {name} has no port {port!r}")
    ep = h.service.store.get("/endpoints", ns, name) or {}
    store = h.service.store
    candidates: list[tuple[str, int]] = []
    for subset in ep.get("subsets") or []:
        sports = subset.get("ports") or []
        match = next((sp for sp in sports if (sp.get("name") or "") == (chosen.get("name") or "")),
                     None)
        if match is None:
            continue
        # As kube: an endpoint counts only as an address of the pod it names, and only where
        # the API server may connect (never the host's own addresses: proxyable.py).
        candidates += [(a["ip"], int(match["port"])) for a in subset.get("addresses") or []
                       if endpoint_is_pod_address(a, ns, lambda pod: store.get("/pods", ns, pod))
                       and proxyable(str(a["ip"]), h.service.ranges.pod_cidr)]
    if not candidates:
        raise errors.ServiceUnavailable(f'no endpoints available for service "{name}"')
    ip, target = candidates[next(_counter) % len(candidates)]
    return scheme or "http", ip, target


async def handle(h: "ResourceHandlers", request: web.Request) -> web.StreamResponse:
    ns, kind = request.match_info["namespace"], request.match_info["kind"]
    raw, path = request.match_info["name"], request.match_info.get("path") or "/"
    scheme, ip, port = (_pod_target if kind == "pods" else _service_target)(h, ns, raw)
    url = f"{scheme}://{ip}:{port}{path}"
    if request.query_string:
        url += "?" + request.query_string
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    sessions: dict[str, aiohttp.ClientSession] = request.app[SESSIONS]
    session = sessions.get("http")
    if session is None or session.closed:
        session = sessions["http"] = aiohttp.ClientSession(
            auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
            connector=aiohttp.TCPConnector(ssl=False))
    data = request.content.iter_any() if request.body_exists else None
    try:
        upstream = await session.request(request.method, url, headers=headers, data=data,
                                         allow_redirects=False)
    except aiohttp.ClientError as exc:
        raise errors.ServiceUnavailable(f"error trying to reach {kind[:-1]} {raw}: {exc}") from exc
    async with upstream:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        for name, value in upstream.headers.items():
            if name.lower() not in HOP_BY_HOP:
                response.headers.add(name, value)
        await response.prepare(request)
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
        await response.write_eof()
        return response


async def close_sessions(app: web.Application) -> None:
    for session in app[SESSIONS].values():
        await session.close()
