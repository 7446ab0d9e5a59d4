"""`pods/ephemeralcontainers`: GET the pod; PUT a pod or PATCH one (JSON, merge or strategic
merge patch, as `kubectl debug` sends) to add ephemeral containers. The strategy and its
validation are api/ephemeral.py; the write goes through the object service like any update
(admission sees subresource `ephemeralcontainers`, so Pod Security checks the new
containers), and the node's runtime starts what it finds added."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from orchestrator.api import ephemeral, errors, patch, validation
from orchestrator.server import content
from orchestrator.server.objects import JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, WriteOptions

if TYPE_CHECKING:
    from orchestrator.server.resources import ResourceHandlers, Target

SUBRESOURCE = "ephemeralcontainers"
_PATCHES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH)


def _options(request: web.Request, duplicates: list[str]) -> WriteOptions:
    kind = "UpdateOptions" if request.method == "PUT" else "PatchOptions"
    dry_run = request.query.getall("dryRun", [])
    if any(d != "All" for d in dry_run):
        raise errors.BadRequest(f'unsupported dry run value: "{dry_run}"; only "All" is valid')
    return WriteOptions(
        field_manager=request.query.get("fieldManager", "")[:128], dry_run=bool(dry_run),
        field_validation=validation.check_field_validation(
            request.query.get("fieldValidation"), kind),
        user_agent=request.headers.get("User-Agent", ""), duplicates=duplicates,
        user=request.get("user"), for_patch=request.method == "PATCH")


async def handle(h: "ResourceHandlers", request: web.Request, t: "Target"
                 ) -> web.StreamResponse:
    assert t.name is not None
    ns = t.namespace or ""
    if request.method == "GET":
        return h.respond_object(request, h.service.get(t.rt, ns, t.name))
    if request.method not in ("PUT", "PATCH"):
        raise errors.MethodNotAllowed(f"the server does not allow this method on the "
                                      f"requested resource ({request.method} pods/{SUBRESOURCE})")
    ptype = content.media_type(request)
    if request.method == "PATCH" and ptype not in _PATCHES:
        raise errors.UnsupportedMediaType(
            "the body of the request was in an unknown format - accepted media types include: "
            f"{', '.join(_PATCHES)}")
    body = await content.read_body(request, allowed=_PATCHES if request.method == "PATCH"
                                   else ())
    if body.value is None:
        raise errors.BadRequest("the body of the request was empty")
    current = h.service.get(t.rt, ns, t.name)
    if request.method == "PUT":
        wanted = h.service._typed_body(t.rt, body.value)
        name = (wanted.get("metadata") or {}).get("name")
        if name and name != t.name:
            raise errors.BadRequest(f"the name of the object ({name}) does not match the name "
                                    f"on the URL ({t.name})")
    elif ptype == JSON_PATCH:
        wanted = patch.json_patch(current, body.value)
    elif ptype == STRATEGIC_PATCH:
        wanted = patch.strategic_merge_patch(current, body.value, h.service.schema(t.rt))
    else:
        wanted = patch.merge_patch(current, body.value)
    if not isinstance(wanted, dict):
        raise errors.BadRequest("the patch did not produce an object")
    rv = (wanted.get("metadata") or {}).get("resourceVersion") if isinstance(
        wanted.get("metadata"), dict) else None
    if rv and rv != current["metadata"]["resourceVersion"]:
        raise h.service._conflict(t.rt, t.name)
    merged = ephemeral.prepare_update(current, wanted)
    causes = ephemeral.validate_update(merged, current)
    if causes:
        raise errors.Invalid.of("Pod", "", t.name, causes)
    result = h.service.update(t.rt, ns, t.name, merged, _options(request, body.duplicates),
                              SUBRESOURCE)
    return h.respond_object(request, result.obj, 200, result.warnings)
