"""API aggregation: kube-aggregator's proxy for APIServices backed by a Service.

An APIService `<version>.<group>` with `spec.service` takes over `/apis/<group>/<version>`:
once authenticated and authorized here, a request is sent on to the Service (its cluster
IP, TLS verified with `caBundle` for `<name>.<namespace>.svc`, or not at all with
`insecureSkipTLSVerify`), presenting the front-proxy client certificate and the user in
`X-Remote-User`, `X-Remote-Uid`, `X-Remote-Group` and `X-Remote-Extra-*` (the request's own
credentials and impersonation headers are not passed on), and the answer streamed back —
watches included. While the APIService is not Available the answer is 503
`service unavailable`. Local APIServices (`spec.service: null`, such as metrics.k8s.io's)
are served here as before.

Discovery: `/apis` lists the aggregated groups after the built-in ones (by
`groupPriorityMinimum`, then name; versions by `versionPriority`), and the aggregated
document (apidiscovery.k8s.io/v2) carries their resources, read from each backend's
`/apis/<group>/<version>` every few seconds (`Stale` when it stops answering).
Connection upgrades (exec-style streams) are not proxied.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping
from urllib.parse import quote

import aiohttp
from aiohttp import web
from yarl import URL

from orchestrator.api import errors
from orchestrator.api.apiservice_availability import is_available, service_ref
from orchestrator.api.rbac import UserInfo
from orchestrator.server.service_dial import Target, Unreachable, service_target
from orchestrator.store import Event, Store

log = logging.getLogger(__name__)

APISERVICES = "apiregistration.k8s.io/apiservices"
AGGREGATOR_USER = UserInfo("system:kube-aggregator", ("system:masters",))
DISCOVERY_TTL = 10.0
DISCOVERY_TIMEOUT = 5.0
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-connection",
                         "proxy-authorization", "te", "trailer", "transfer-encoding",
                         "upgrade", "host", "content-length", "authorization"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _group_version(api_service: Mapping[str, Any]) -> tuple[str, str]:
    spec = api_service.get("spec") or {}
    return str(spec.get("group") or ""), str(spec.get("version") or "")


def identity_headers(user: UserInfo) -> list[tuple[str, str]]:
    """The front-proxy headers naming `user` (transport.SetAuthProxyHeaders)."""
    out = [("X-Remote-User", user.name)]
    if user.uid:
        out.append(("X-Remote-Uid", user.uid))
    out += [("X-Remote-Group", g) for g in user.groups]
    for key, values in user.extra.items():
        out += [(f"X-Remote-Extra-{quote(key, safe='')}", v) for v in values]
    return out


class Aggregator:
    """The APIServices backed by Services, and the HTTP client that reaches them."""

    def __init__(self, store: Store, proxy_client: tuple[Path, Path] | None = None) -> None:
        self.store = store
        self.proxy_client = proxy_client
        self._remote: dict[tuple[str, str], dict[str, Any]] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._contexts: dict[tuple[str, bool, str], ssl.SSLContext] = {}
        self._discovery: dict[str, tuple[float, list[dict[str, Any]] | None, str]] = {}
        store.subscribe(self._on_change)

    def _on_change(self, event: Event) -> None:
        if event.resource == APISERVICES:
            self._remote = None
            self._discovery.pop(event.name, None)

    # -- which APIServices ---------------------------------------------------------------

    def remote_services(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(group, version) -> the APIService backed by a Service."""
        if self._remote is None:
            self._remote = {_group_version(a): a for a in self.store.objects(APISERVICES)
                            if service_ref(a) is not None}
        return self._remote

    def remote(self, group: str, version: str) -> dict[str, Any] | None:
        return self.remote_services().get((group, version))

    def remote_groups(self) -> dict[str, list[dict[str, Any]]]:
        """group -> its APIServices, versions by versionPriority (highest first)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for (group, _), api_service in self.remote_services().items():
            out.setdefault(group, []).append(api_service)
        for services in out.values():
            services.sort(key=lambda a: (-int((a.get("spec") or {}).get("versionPriority")
                                              or 0), _group_version(a)[1]))
        return dict(sorted(out.items(), key=lambda item: (
            -int((item[1][0].get("spec") or {}).get("groupPriorityMinimum") or 0), item[0])))

    # -- the HTTP side -------------------------------------------------------------------

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                trust_env=False, auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
                skip_auto_headers=("User-Agent", "Accept-Encoding"))
        return self._session

    def _ssl(self, spec: Mapping[str, Any]) -> ssl.SSLContext:
        bundle = str(spec.get("caBundle") or "")
        insecure = bool(spec.get("insecureSkipTLSVerify"))
        key = (bundle, insecure, str(self.proxy_client))
        ctx = self._contexts.get(key)
        if ctx is None:
            if insecure:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            elif bundle:
                ctx = ssl.create_default_context(
                    cadata=base64.b64decode(bundle).decode("ascii", "replace"))
            else:
                ctx = ssl.create_default_context()
            if self.proxy_client is not None:
                ctx.load_cert_chain(str(self.proxy_client[0]), str(self.proxy_client[1]))
            if len(self._contexts) > 64:
                self._contexts.clear()
            self._contexts[key] = ctx
        return ctx

    def target(self, api_service: Mapping[str, Any]) -> Target:
        ref = service_ref(api_service) or {}
        return service_target(self.store, str(ref.get("namespace") or ""),
                              str(ref.get("name") or ""), int(ref.get("port") or 443))

    async def get(self, api_service: Mapping[str, Any], path: str, *,
                  insecure: bool = False, timeout: float = DISCOVERY_TIMEOUT
                  ) -> tuple[int, bytes]:
        """GET `path` from the backend as the aggregator itself (system:masters)."""
        target = self.target(api_service)
        spec = dict(api_service.get("spec") or {})
        if insecure:
            spec["insecureSkipTLSVerify"] = True
        url = URL.build(scheme="https", host=target.connect_host, port=target.connect_port,
                        path=path)
        headers = identity_headers(AGGREGATOR_USER) + [
            ("Host", f"{target.host}:{target.shown_port}"), ("Accept", "application/json")]
        async with asyncio.timeout(timeout):
            async with self._http().get(url, ssl=self._ssl(spec), headers=headers,
                                        server_hostname=target.host,
                                        allow_redirects=False) as response:
                return response.status, await response.read()

    async def proxy(self, request: web.Request, api_service: Mapping[str, Any]
                    ) -> web.StreamResponse:
        """Send the request on to the APIService's backend and stream the answer back."""
        if not is_available(api_service):
            return web.Response(status=503, text="service unavailable\n")
        user = request.get("user")
        if not isinstance(user, UserInfo):
            raise errors.InternalError("Internal error occurred: missing user")
        if "upgrade" in request.headers.get("Connection", "").lower():
            raise errors.BadRequest("connection upgrades are not proxied to aggregated API "
                                    "servers here")
        try:
            target = self.target(api_service)
        except Unreachable as exc:
            return web.Response(status=503, text=f"{exc}\n")
        headers = [(k, v) for k, v in request.headers.items()
                   if k.lower() not in _HOP_BY_HOP and not k.lower().startswith(
                       ("impersonate-", "x-remote-"))]
        headers += identity_headers(user) + [("Host", f"{target.host}:{target.shown_port}")]
        url = URL.build(scheme="https", host=target.connect_host, port=target.connect_port,
                        path=request.path, query_string=request.query_string)
        body = request.content if request.body_exists else None
        try:
            upstream = await self._http().request(
                request.method, url, data=body, headers=headers,
                ssl=self._ssl(api_service.get("spec") or {}), server_hostname=target.host,
                allow_redirects=False)
        except (aiohttp.ClientError, OSError, ssl.SSLError) as exc:
            log.warning("apiservice %s: %s", (api_service.get("metadata") or {}).get("name"),
                        exc)
            return web.Response(status=503, text=f"Error trying to reach service: '{exc}'\n")
        try:
            response = web.StreamResponse(status=upstream.status)
            for key, value in upstream.headers.items():
                if key.lower() not in _HOP_BY_HOP:
                    response.headers.add(key, value)
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response
        except (aiohttp.ClientError, ConnectionError):
            return response
        finally:
            upstream.release()

    # -- discovery -----------------------------------------------------------------------

    def group_list(self, local: dict[str, Any]) -> dict[str, Any]:
        """The legacy `/apis` APIGroupList with the aggregated groups added."""
        groups = [dict(g) for g in local.get("groups") or []]
        by_name = {g["name"]: g for g in groups}
        for group, services in self.remote_groups().items():
            versions = [{"groupVersion": f"{group}/{_group_version(a)[1]}",
                         "version": _group_version(a)[1]} for a in services]
            if group in by_name:
                known = {v["version"] for v in by_name[group]["versions"]}
                by_name[group]["versions"] = list(by_name[group]["versions"]) + [
                    v for v in versions if v["version"] not in known]
                continue
            groups.append({"name": group, "versions": versions,
                           "preferredVersion": versions[0]})
        return {**local, "groups": groups}

    def group(self, group: str, local: dict[str, Any] | None) -> dict[str, Any] | None:
        """`/apis/<group>` when APIServices serve (part of) it."""
        listed = [g for g in self.group_list(
            {"groups": [local] if local else []})["groups"] if g["name"] == group]
        if not listed:
            return local
        found = {k: v for k, v in listed[0].items() if k not in ("kind", "apiVersion")}
        return {"kind": "APIGroup", "apiVersion": "v1", **found}

    async def aggregated_items(self) -> list[dict[str, Any]]:
        """APIGroupDiscovery items of the aggregated groups (v2 and v2beta1 alike)."""
        groups = self.remote_groups()
        if not groups:
            return []
        services = [a for group in groups.values() for a in group]
        fetched = await asyncio.gather(*(self._resources(a) for a in services))
        versions: dict[str, list[dict[str, Any]]] = {}
        for api_service, (resources, freshness) in zip(services, fetched):
            group, version = _group_version(api_service)
            if resources is None:
                continue
            versions.setdefault(group, []).append(
                {"version": version, "resources": resources, "freshness": freshness})
        return [{"metadata": {"name": group}, "versions": versions[group]}
                for group in groups if group in versions]

    async def _resources(self, api_service: Mapping[str, Any]
                         ) -> tuple[list[dict[str, Any]] | None, str]:
        name = str((api_service.get("metadata") or {}).get("name") or "")
        cached = self._discovery.get(name)
        now = time.monotonic()
        if cached is not None and now - cached[0] < DISCOVERY_TTL:
            return cached[1], cached[2]
        group, version = _group_version(api_service)
        resources: list[dict[str, Any]] | None = None
        try:
            status, body = await self.get(api_service, f"/apis/{group}/{version}")
            if 200 <= status < 300:
                resources = v2_resources(json.loads(body), group, version)
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError, Unreachable,
                ssl.SSLError) as exc:
            log.debug("discovery of apiservice %s: %s", name, exc)
        if resources is None:
            old = cached[1] if cached is not None else None
            entry = (now, old, "Stale")
        else:
            entry = (now, resources, "Current")
        self._discovery[name] = entry
        return entry[1], entry[2]


def v2_resources(resource_list: Any, group: str, version: str) -> list[dict[str, Any]]:
    """A legacy APIResourceList as apidiscovery.k8s.io/v2 resources (subresources folded
    into their resource)."""
    entries = resource_list.get("resources") if isinstance(resource_list, Mapping) else None
    if not isinstance(entries, list):
        raise ValueError("not an APIResourceList")
    out: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            continue
        name, _, sub = entry["name"].partition("/")
        kind = {"group": str(entry.get("group") or group),
                "version": str(entry.get("version") or version),
                "kind": str(entry.get("kind") or "")}
        if sub:
            parent = out.get(name)
            if parent is not None:
                parent.setdefault("subresources", []).append(
                    {"subresource": sub, "responseKind": kind,
                     "verbs": list(entry.get("verbs") or [])})
            continue
        item: dict[str, Any] = {
            "resource": name, "responseKind": kind,
            "scope": "Namespaced" if entry.get("namespaced") else "Cluster",
            "singularResource": str(entry.get("singularName") or ""),
            "verbs": list(entry.get("verbs") or [])}
        for key in ("shortNames", "categories"):
            if entry.get(key):
                item[key] = list(entry[key])
        out[name] = item
    return list(out.values())


def middleware(aggregator: Aggregator) -> Any:
    """After authentication and authorization: requests for aggregated group versions go
    to their backends; `/apis/<group>` of an aggregated group is answered here."""

    @web.middleware
    async def aggregate(request: web.Request, handler: Handler) -> web.StreamResponse:
        parts = request.path.split("/")
        if len(parts) >= 4 and parts[1] == "apis" and parts[2] and parts[3]:
            api_service = aggregator.remote(parts[2], parts[3])
            if api_service is not None:
                return await aggregator.proxy(request, api_service)
        return await handler(request)

    return aggregate
