"""`GET /openapi/v2`: the Swagger 2.0 document of everything served, as JSON or, for kubectl
(which asks for nothing else), in gnostic's protobuf form.

Built on first request and kept until a CustomResourceDefinition changes (the only thing
that changes the served kinds); an ETag lets clients revalidate, as kube-apiserver's does.
"""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from orchestrator.api import jsonio
from orchestrator.api.openapi_v2 import swagger_document
from orchestrator.api.openapi_v2_proto import ACCEPTED_MEDIA_TYPES, MEDIA_TYPE, encode_document
from orchestrator.server.objects import CRD_KEY, ObjectService

_JSON = "application/json"
# Which CRDs exist, at which versions: the served kinds change with nothing else.
Revision = tuple[tuple[str, str], ...]
_SERVICE_KEY = web.AppKey("openapi_v2_service", ObjectService)
_CACHE_KEY = web.AppKey("openapi_v2_cache", dict[Any, tuple[bytes, str]])


def install(app: web.Application, service: ObjectService) -> None:
    app[_SERVICE_KEY] = service
    app[_CACHE_KEY] = {}
    app.router.add_get("/openapi/v2", handle)


async def handle(request: web.Request) -> web.Response:
    service: ObjectService = request.app[_SERVICE_KEY]
    cache = request.app[_CACHE_KEY]
    accept = request.headers.get("Accept", "")
    protobuf = any(media in accept for media in ACCEPTED_MEDIA_TYPES)
    form = MEDIA_TYPE if protobuf else _JSON
    key = (_crd_revision(service), form)
    cached = cache.get(key)
    if cached is None:
        document = swagger_document(service.registry.all())
        body = encode_document(document) if protobuf else jsonio.go_encode(document)
        cached = (body, '"' + hashlib.sha512(body).hexdigest().upper() + '"')
        for old in [k for k in cache if k[0] != key[0]]:
            del cache[old]  # documents are large: only the current CRDs' are kept
        cache[key] = cached
    body, etag = cached
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers={"ETag": etag})
    return web.Response(body=body, headers={"Content-Type": form, "ETag": etag,
                                            "Cache-Control": "no-cache, private"})


def _crd_revision(service: ObjectService) -> Revision:
    return tuple(sorted((crd["metadata"]["name"], crd["metadata"]["resourceVersion"])
                        for crd in service.store.objects(CRD_KEY)))
