"""The aiohttp application: authentication, error rendering, and the URL space."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import warnings
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

from aiohttp import web

from orchestrator.api import discovery, errors, openapi
from orchestrator.api.rbac import ANONYMOUS
from orchestrator.api.requestinfo import request_attributes
from orchestrator.server import (
    aggregator,
    apiservice_status,
    content,
    kubelet_proxy,
    metrics_api,
    namespaces,
    portforward,
    proxy,
    reviews,
    x509users,
)
from orchestrator.server import openapi_v2
from orchestrator.server.aggregator import Aggregator
from orchestrator.server.auth import Auth
from orchestrator.server.limits import ServerLimits, inflight_middleware, mark_busy
from orchestrator.server.objects import ObjectService
from orchestrator.server.resources import ResourceHandlers
from orchestrator.store import Store

log = logging.getLogger(__name__)

# Requests without credentials are anonymous (`system:anonymous`, group
# `system:unauthenticated`) on these paths only, as kube-apiserver's AuthenticationConfiguration
# `anonymous.conditions` allows; RBAC then decides (`system:public-info-viewer`). Elsewhere
# they get 401, and a token that does not authenticate gets 401 everywhere.
ANONYMOUS_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version", "/version/"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _status_response(err: errors.APIError) -> web.Response:
    # Warnings gathered before the refusal (admission webhooks') go out with it.
    resp = content.respond(err.status(), err.code, getattr(err, "warnings", None))
    if err.retry_after is not None:
        resp.headers["Retry-After"] = str(err.retry_after)
    return resp


@web.middleware
async def render_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place where exceptions become Status responses."""
    try:
        return await handler(request)
    except errors.APIError as err:
        return _status_response(err)
    except web.HTTPRequestEntityTooLarge:
        return _status_response(errors.RequestEntityTooLarge(
            f"Request entity too large: limit is {content.MAX_BODY_BYTES}"))
    except web.HTTPException as exc:
        if exc.status == 404:
            return _status_response(errors.NotFound("the server could not find the requested "
                                                    "resource"))
        if exc.status == 405:
            return _status_response(errors.MethodNotAllowed(
                "the server does not allow this method on the requested resource"))
        raise
    except Exception:
        log.exception("internal error serving %s %s", request.method, request.path)
        return _status_response(errors.InternalError(
            "an error on the server has prevented the request from succeeding"))


def durable_answers(store: Store) -> Any:
    """No answer leaves before every write made so far is on disk (`Store.wait_durable`):
    a write is acknowledged only once it survives a crash, and a read shows nothing a crash
    could take back. Watches wait once before their first event (`ResourceHandlers.watch`)."""

    @web.middleware
    async def wait_for_disk(request: web.Request, handler: Handler) -> web.StreamResponse:
        epoch = store.epoch  # a full disk rolled memory back since: the answer may be void
        response = await handler(request)
        if not response.prepared:
            try:
                await store.wait_durable(epoch)
            except errors.APIError as err:
                return _status_response(err)
        return response

    return wait_for_disk


def auth_middleware(auth: Auth | None) -> Any:
    """Authenticate every request (anonymous only without credentials, on
    ANONYMOUS_PATHS); authorize it with RBAC."""

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if auth is None:
            return await handler(request)
        header = request.headers.get("Authorization", "").strip()
        given = header[7:].strip() if header.lower().startswith("bearer ") else ""
        # kube's union authenticator asks the x509 authenticator first: a verified client
        # certificate names the user even if a token comes along.
        der = x509users.peer_certificate(request.transport)
        user = x509users.user_from_certificate(der) if der else None
        if user is None and given:
            user = auth.authenticate(given)
        if user is None and not given and request.path in ANONYMOUS_PATHS:
            user = ANONYMOUS
        if user is None:
            return _status_response(errors.Unauthorized("Unauthorized"))
        as_user = request.headers.get("Impersonate-User")
        if as_user:
            user = auth.impersonate(user, as_user, request.headers.getall("Impersonate-Group", []))
        auth.check(user, request_attributes(request.method, request.path, request.query))
        request["user"] = user
        return await handler(request)

    return authenticate


class APIServer:
    """Routes requests to discovery, OpenAPI and resource handlers."""

    def __init__(self, service: ObjectService, token: str | None,
                 auth: Auth | None = None, limits: ServerLimits | None = None,
                 proxy_client: tuple[Path, Path] | None = None) -> None:
        self.service = service
        self.resources = ResourceHandlers(service)
        # APIServices backed by a Service; `proxy_client` is the front-proxy certificate.
        self.aggregator = Aggregator(service.store, proxy_client)
        self.app = web.Application(
            middlewares=[mark_busy, durable_answers(service.store), render_errors,
                         auth_middleware(auth), inflight_middleware(limits or ServerLimits()),
                         aggregator.middleware(self.aggregator)],
            client_max_size=content.MAX_BODY_BYTES + 1,
        )
        with warnings.catch_warnings():  # looked up by its string key in reviews.py
            warnings.simplefilter("ignore")
            self.app[reviews.AUTH_KEY] = auth
        self._openapi_cache: dict[tuple[str, str, int], dict[str, Any]] = {}
        r = self.app.router
        for path in ("/healthz", "/livez", "/readyz"):
            r.add_get(path, self.health)
        # Kubernetes answers these with or without a trailing slash (kr8s asks /version/).
        for suffix in ("", "/"):
            r.add_get("/version" + suffix, self.version)
            r.add_get("/api" + suffix, self.core_discovery)
            r.add_get("/apis" + suffix, self.group_discovery)
        openapi_v2.install(self.app, service)  # what kubectl validates a List against
        r.add_get("/openapi/v3", self.openapi_index)
        r.add_get("/openapi/v3/{path:.+}", self.openapi_document)
        # Pod network: pods/portforward goes through the subresource table; pods/proxy and
        # services/proxy carry a path after `proxy`, so they get routes of their own.
        with warnings.catch_warnings():  # subresources.py looks this up by its string key
            warnings.simplefilter("ignore")
            self.app["subresource_handlers"] = {
                ("/pods", "portforward"):
                    lambda req, t: portforward.handle(self.resources, req, t),
                ("/serviceaccounts", "token"): self.token_request,
            }
        self.app[proxy.SESSIONS] = {}
        kubelet_proxy.install(self.app, service, token)  # pods/log and pods/exec
        metrics_api.install(self.app, service, token)  # metrics.k8s.io, before /apis/...
        self.app.on_cleanup.append(proxy.close_sessions)
        self.app.on_cleanup.append(self._close_webhook_client)
        self.app.cleanup_ctx.append(self._finalizing_namespaces)
        self.app.cleanup_ctx.append(self._apiservice_availability)
        for suffix in ("", "{path:/.*}"):
            r.add_route("*", "/api/v1/namespaces/{namespace}/{kind:pods|services}/{name}/proxy"
                        + suffix, self.proxy)
        r.add_route("*", "/api/{version}", self.core_version)
        r.add_route("*", "/api/{version}/{rest:.+}", self.core_resources)
        r.add_route("*", "/apis/{group}", self.group_info)
        r.add_route("*", "/apis/{group}/{version}", self.group_version)
        r.add_route("*", "/apis/{group}/{version}/{rest:.+}", self.group_resources)

    async def _close_webhook_client(self, app: web.Application) -> None:
        await self.resources.webhooks.close()
        await self.aggregator.close()

    async def _apiservice_availability(self, app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(apiservice_status.keep_available(
            self.service, self.aggregator), name="apiservice-availability")
        yield
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def _finalizing_namespaces(self, app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(namespaces.keep_finalizing(self.service),
                                   name="namespace-finalizer")
        yield
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def token_request(self, request: web.Request, t: Any) -> web.StreamResponse:
        if request.method != "POST":
            raise errors.MethodNotAllowed("serviceaccounts/token only accepts POST")
        ns = t.namespace or ""
        return await reviews.token_request(
            request, ns, t.name, lambda: self.service.get(t.rt, ns, t.name))

    async def proxy(self, request: web.Request) -> web.StreamResponse:
        return await proxy.handle(self.resources, request)

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def version(self, request: web.Request) -> web.Response:
        return content.respond(discovery.version_document())

    def _aggregated(self, request: web.Request, core: bool,
                    extra: list[dict[str, Any]] | None = None) -> web.Response | None:
        accept = request.headers.get("Accept", "")
        for version, media in (("v2", discovery.AGGREGATED_V2),
                               ("v2beta1", discovery.AGGREGATED_V2BETA1)):
            if f"v={version};as=APIGroupDiscoveryList" in accept.replace(" ", ""):
                doc = discovery.aggregated_discovery(self.service.registry, core, version)
                doc["items"] = list(doc["items"]) + list(extra or [])
                return content.respond(doc, content_type=media)
        return None

    def _wants_aggregated(self, request: web.Request) -> bool:
        return "as=APIGroupDiscoveryList" in request.headers.get("Accept", "").replace(" ", "")

    async def core_discovery(self, request: web.Request) -> web.Response:
        return self._aggregated(request, core=True) or content.respond(discovery.api_versions())

    async def group_discovery(self, request: web.Request) -> web.Response:
        # Aggregated APIs' resources come from their backends (cached a few seconds).
        extra = (await self.aggregator.aggregated_items()
                 if self._wants_aggregated(request) else [])
        return self._aggregated(request, core=False, extra=extra) or content.respond(
            self.aggregator.group_list(discovery.api_group_list(self.service.registry)))

    async def core_version(self, request: web.Request) -> web.Response:
        return self._resource_list("", request.match_info["version"])

    async def group_info(self, request: web.Request) -> web.Response:
        doc = self.aggregator.group(request.match_info["group"], discovery.api_group(
            self.service.registry, request.match_info["group"]))
        if doc is None:
            raise errors.NotFound("the server could not find the requested resource")
        return content.respond(doc)

    async def group_version(self, request: web.Request) -> web.Response:
        return self._resource_list(request.match_info["group"], request.match_info["version"])

    def _resource_list(self, group: str, version: str) -> web.Response:
        doc = discovery.api_resource_list(self.service.registry, group, version)
        if doc is None:
            raise errors.NotFound("the server could not find the requested resource")
        return content.respond(doc)

    async def core_resources(self, request: web.Request) -> web.StreamResponse:
        segments = request.match_info["rest"].split("/")
        return await self.resources.handle(request, "", request.match_info["version"], segments)

    async def group_resources(self, request: web.Request) -> web.StreamResponse:
        segments = request.match_info["rest"].split("/")
        return await self.resources.handle(
            request, request.match_info["group"], request.match_info["version"], segments
        )

    # -- OpenAPI v3 ----------------------------------------------------------------------

    def _group_versions(self) -> list[tuple[str, str]]:
        return [(g, v) for g, vs in self.service.registry.group_versions() for v in vs]

    def _crd_revision(self, group: str) -> int:
        """The newest change to any CRD of `group`: custom documents change with it."""
        return max((int(c["metadata"]["resourceVersion"]) for c in
                    self.service.store.objects("apiextensions.k8s.io/customresourcedefinitions")
                    if (c.get("spec") or {}).get("group") == group), default=0)

    async def openapi_index(self, request: web.Request) -> web.Response:
        # Clients cache documents by URL, so the hash names the CRD revision where CRDs
        # contribute; built-in documents never change within one server version.
        hashes = {}
        for group, version in self._group_versions():
            revision = self._crd_revision(group)
            if revision:
                digest = hashlib.sha256(f"{group}/{version}@{revision}".encode()).hexdigest()
                hashes[(group, version)] = digest.upper()
        return content.respond(openapi.openapi_index(self._group_versions(), hashes))

    async def openapi_document(self, request: web.Request) -> web.Response:
        path = request.match_info["path"].strip("/")
        parts = path.split("/")
        if parts[:1] == ["api"] and len(parts) == 2:
            group, version = "", parts[1]
        elif parts[:1] == ["apis"] and len(parts) == 3:
            group, version = parts[1], parts[2]
        else:
            raise errors.NotFound("the server could not find the requested resource")
        types = self.service.registry.resources_in(group, version)
        if not types:
            raise errors.NotFound("the server could not find the requested resource")
        key = (group, version, self._crd_revision(group))
        doc = self._openapi_cache.get(key)
        if doc is None:
            doc = openapi.openapi_document(group, version, types)
            self._openapi_cache[key] = doc
        resp = content.respond(doc)
        resp.headers["Cache-Control"] = (
            "public, immutable" if "hash" in request.query else "no-cache, private")
        return resp
