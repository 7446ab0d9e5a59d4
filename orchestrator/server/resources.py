"""REST endpoints for resources: URL → (resource type, namespace, name, subresource) → verb."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from orchestrator.api import errors, tables, validation
from orchestrator.api.kinds import ResourceType
from orchestrator.server import content, reviews, subresources
from orchestrator.server.objects import (
    APPLY_PATCH,
    APPLY_PATCH_CBOR,
    JSON_PATCH,
    MERGE_PATCH,
    PATCH_TYPES,
    STRATEGIC_PATCH,
    DeleteOptions,
    ObjectService,
    WriteOptions,
)
from orchestrator.server.admission.webhook_calls import WebhookCaller
from orchestrator.server.admission.webhook_rounds import RequestOptions, admitted
from orchestrator.server.watch import Watch, WatchRequest, error_event


@dataclass
class Target:
    rt: ResourceType
    namespace: str | None  # None: across all namespaces (or cluster-scoped)
    name: str | None
    subresource: str


def resolve(service: ObjectService, group: str, version: str, segments: list[str]) -> Target:
    """Parse the part of the path after /api/v1 or /apis/{group}/{version}."""
    reg = service.registry

    def lookup(plural: str) -> ResourceType:
        rt = reg.lookup(group, version, plural)
        if rt is None:
            raise errors.NotFound("the server could not find the requested resource")
        return rt

    n = len(segments)
    if n >= 3 and segments[0] == "namespaces":
        candidate = reg.lookup(group, version, segments[2])
        if candidate is not None and candidate.namespaced:
            ns = segments[1]
            if n == 3:
                return Target(candidate, ns, None, "")
            if n in (4, 5):
                return Target(candidate, ns, segments[3], segments[4] if n == 5 else "")
            raise errors.NotFound("the server could not find the requested resource")
    rt = lookup(segments[0])
    if n == 1:
        return Target(rt, None, None, "")
    if rt.namespaced:
        raise errors.NotFound("the server could not find the requested resource")
    if n in (2, 3):
        return Target(rt, None, segments[1], segments[2] if n == 3 else "")
    raise errors.NotFound("the server could not find the requested resource")


def _check_subresource(t: Target) -> None:
    if t.subresource and t.subresource not in t.rt.subresources:
        raise errors.NotFound("the server could not find the requested resource")


class ResourceHandlers:
    def __init__(self, service: ObjectService) -> None:
        self.service = service
        # Writes run through admission webhooks in rounds (admission/webhook_rounds.py).
        self.webhooks = WebhookCaller(service.store)

    async def handle(self, request: web.Request, group: str, version: str,
                     segments: list[str]) -> web.StreamResponse:
        t = resolve(self.service, group, version, segments)
        _check_subresource(t)
        method = request.method
        # status and a CSR's approval are the object itself, with their own write rules.
        if t.subresource and t.subresource not in ("status", "approval"):
            return await subresources.handle(self, request, t)
        if t.name is None:
            if method == "GET":
                if _flag(request, "watch"):
                    return await self.watch(request, t)
                return self.list(request, t)
            if method == "POST":
                return await self.create(request, t)
            if method == "DELETE":
                return await self.delete_collection(request, t)
            raise _not_allowed(method)
        if method == "GET":
            return self.respond_object(request, self.service.get(t.rt, _ns(t), t.name))
        if method == "PUT":
            return await self.update(request, t)
        if method == "PATCH":
            return await self.patch(request, t)
        if method == "DELETE":
            return await self.delete(request, t)
        raise _not_allowed(method)

    # -- rendering -----------------------------------------------------------------------

    def respond_object(self, request: web.Request, obj: dict[str, Any], status: int = 200,
                       warnings: list[str] | None = None) -> web.Response:
        if content.wants_table(request):
            return content.respond(self._table(request, [obj], None, None), status, warnings)
        if content.wants_metadata(request):
            return content.respond(_partial(obj), status, warnings)
        return content.respond(obj, status, warnings)

    def _table(self, request: web.Request, objs: list[dict[str, Any]], rt: ResourceType | None,
               list_meta: dict[str, Any] | None) -> dict[str, Any]:
        if rt is None:
            api_version, kind = objs[0].get("apiVersion", ""), objs[0].get("kind", "")
            rt = self.service.registry.by_kind(api_version, kind)
        assert rt is not None
        include = request.query.get("includeObject", "Metadata")
        return tables.to_table(
            rt.kind, rt.group, objs, now=datetime.now(timezone.utc), include_object=include,
            printer_columns=list(rt.printer_columns) or None, list_metadata=list_meta,
        )

    # -- verbs ---------------------------------------------------------------------------

    def list(self, request: web.Request, t: Target) -> web.Response:
        q = request.query
        items, revision = self.service.list_objects(
            t.rt, t.namespace, q.get("labelSelector", ""), q.get("fieldSelector", "")
        )
        list_meta: dict[str, Any] = {"resourceVersion": str(revision)}
        limit = _int(q.get("limit"), "limit")
        token = q.get("continue")
        if token:
            start_rv, after = _decode_continue(token)
            if start_rv < self.service.store.oldest_revision:
                raise errors.Gone(
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter."
                )
            items = [o for o in items if _sort_key(o) > after]
            list_meta["resourceVersion"] = str(start_rv)
        if limit and limit > 0 and len(items) > limit:
            remaining = len(items) - limit
            items = items[:limit]
            list_meta["continue"] = _encode_continue(
                int(list_meta["resourceVersion"]), _sort_key(items[-1])
            )
            list_meta["remainingItemCount"] = remaining
        if content.wants_table(request):
            return content.respond(self._table(request, items, t.rt, list_meta))
        if content.wants_metadata(request):
            return content.respond({
                "kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                "metadata": list_meta, "items": [_partial(o) for o in items],
            })
        return content.respond({
            "kind": t.rt.list_kind, "apiVersion": t.rt.api_version,
            "metadata": list_meta, "items": items,
        })

    async def watch(self, request: web.Request, t: Target) -> web.StreamResponse:
        q = request.query
        field_selector = q.get("fieldSelector", "")
        timeout = _int(q.get("timeoutSeconds"), "timeoutSeconds")
        req = WatchRequest(
            rt=t.rt, namespace=t.namespace, resource_version=q.get("resourceVersion", ""),
            label_selector=q.get("labelSelector", ""), field_selector=field_selector,
            allow_bookmarks=_flag(request, "allowWatchBookmarks"),
            send_initial_events=_flag(request, "sendInitialEvents"),
            timeout=float(timeout) if timeout else None,
        )
        if req.send_initial_events and q.get("resourceVersionMatch") != "NotOlderThan":
            raise errors.Invalid(
                "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: "
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                causes=[errors.forbidden("resourceVersionMatch",
                                         "sendInitialEvents requires NotOlderThan")],
            )
        as_table = content.wants_table(request)
        service = self.service

        def serve(obj: dict[str, Any]) -> dict[str, Any]:
            served = service.served(t.rt, obj)
            if as_table:
                return self._table(request, [served], t.rt, None)
            return served

        def current() -> list[dict[str, Any]]:
            return service.list_objects(t.rt, t.namespace)[0]

        stream = Watch(service.store, req, serve, current)
        resp = web.StreamResponse(status=200)
        resp.content_type = "application/json"
        try:
            stream.open()
        except errors.Gone as exc:
            # Real API servers report an expired version as an ERROR event on a 200 stream.
            await resp.prepare(request)
            await resp.write(error_event(exc).line())
            return resp
        events = stream.events()
        try:
            await service.store.wait_durable()  # what it starts from is on disk first
            await resp.prepare(request)
            async for batch in events:
                await resp.write(b"".join(item.line() for item in batch))
        except (ConnectionResetError, ConnectionError):
            pass
        finally:
            await events.aclose()
            stream.close()
        return resp

    async def create(self, request: web.Request, t: Target) -> web.Response:
        if t.rt.kind in reviews.REVIEW_KINDS and t.rt.group.endswith(".k8s.io"):
            return await reviews.create_review(request, t.rt.kind, t.namespace or "")
        body = await self._body(request)
        opts = _write_options(request, body.duplicates)
        ns = t.namespace or ""
        if t.rt.namespaced and t.namespace is None:
            raise errors.MethodNotAllowed(
                "the server does not allow this method on the requested resource"
            )
        result, hooks_said = await admitted(
            lambda: self.service.create(t.rt, ns, body.value, opts), self.webhooks,
            RequestOptions(field_manager=opts.field_manager))
        return self.respond_object(request, result.obj, 201, result.warnings + hooks_said)

    async def update(self, request: web.Request, t: Target) -> web.Response:
        body = await self._body(request)
        opts = _write_options(request, body.duplicates)
        assert t.name is not None
        name = t.name
        result, hooks_said = await admitted(
            lambda: self.service.update(t.rt, _ns(t), name, body.value, opts, t.subresource),
            self.webhooks, RequestOptions(field_manager=opts.field_manager))
        return self.respond_object(request, result.obj, 200, result.warnings + hooks_said)

    async def patch(self, request: web.Request, t: Target) -> web.Response:
        ptype = content.media_type(request)
        if ptype == APPLY_PATCH_CBOR or ptype not in PATCH_TYPES:
            raise errors.UnsupportedMediaType(
                "the body of the request was in an unknown format - accepted media types "
                f"include: {JSON_PATCH}, {MERGE_PATCH}, {APPLY_PATCH}, {STRATEGIC_PATCH}"
            )
        body = await content.read_body(request, allowed=PATCH_TYPES)
        if ptype != APPLY_PATCH and body.value is None:
            raise errors.BadRequest("the body of the request was empty")
        opts = _write_options(request, body.duplicates)
        opts.force = _flag(request, "force")
        if opts.force and ptype != APPLY_PATCH:
            raise errors.BadRequest("force is only valid for apply patches")
        assert t.name is not None
        name = t.name
        result, hooks_said = await admitted(
            lambda: self.service.patch(t.rt, _ns(t), name, ptype, body.value, opts,
                                       t.subresource),
            self.webhooks, RequestOptions(patch=True, field_manager=opts.field_manager))
        status = 201 if result.created else 200
        return self.respond_object(request, result.obj, status, result.warnings + hooks_said)

    async def delete(self, request: web.Request, t: Target) -> web.Response:
        """kube-apiserver's DeleteResource: the object while it is still being deleted
        (202 only when `orphanDependents: false` was sent), and once it is gone the object
        for registries that return it, else a Status Success naming it."""
        opts = await _delete_options(request)
        assert t.name is not None
        name = t.name
        (obj, gone), hooks_said = await admitted(
            lambda: self.service.delete(t.rt, _ns(t), name, opts), self.webhooks,
            RequestOptions(delete=_delete_options_sent(opts)))
        if not gone:
            code = 202 if opts.orphan_dependents is False else 200
            return self.respond_object(request, obj, code, hooks_said)
        if t.rt.returns_deleted_object:
            return self.respond_object(request, obj, 200, hooks_said)
        return content.respond(deleted_status(t.rt, obj), 200, hooks_said)

    async def delete_collection(self, request: web.Request, t: Target) -> web.Response:
        if "deletecollection" not in t.rt.verbs:
            raise _not_allowed("DELETE")
        opts = await _delete_options(request)
        q = request.query
        deleted, hooks_said = await admitted(
            lambda: self.service.delete_collection(
                t.rt, t.namespace, q.get("labelSelector", ""), q.get("fieldSelector", ""),
                opts),
            self.webhooks, RequestOptions(delete=_delete_options_sent(opts)))
        return content.respond({
            "kind": t.rt.list_kind, "apiVersion": t.rt.api_version,
            "metadata": {"resourceVersion": str(self.service.store.revision)}, "items": deleted,
        }, 200, hooks_said)

    async def _body(self, request: web.Request) -> content.DecodedBody:
        body = await content.read_body(request)
        if body.value is None:
            raise errors.BadRequest("the body of the request was empty")
        return body


def _ns(t: Target) -> str:
    return t.namespace or ""


def _delete_options_sent(opts: DeleteOptions) -> dict[str, Any]:
    """The DeleteOptions fields a webhook is shown (`request.options`)."""
    out: dict[str, Any] = {}
    if opts.grace_period is not None:
        out["gracePeriodSeconds"] = opts.grace_period
    if opts.precondition_uid or opts.precondition_rv:
        out["preconditions"] = {k: v for k, v in (("uid", opts.precondition_uid),
                                                  ("resourceVersion", opts.precondition_rv))
                                if v}
    if opts.orphan_dependents is not None:
        out["orphanDependents"] = opts.orphan_dependents
    if opts.propagation:
        out["propagationPolicy"] = opts.propagation
    return out


def deleted_status(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """The registry's finalizeDelete answer: status Success, details naming the object by
    resource (`kind` holds the plural) and uid; no code, every empty field left out."""
    md = obj.get("metadata") or {}
    details = {"name": md.get("name"), "group": rt.group, "kind": rt.plural,
               "uid": md.get("uid")}
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {k: v for k, v in details.items() if v}}


def _partial(obj: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata") or {}}


def _not_allowed(method: str) -> errors.APIError:
    return errors.MethodNotAllowed(
        f"the server does not allow this method on the requested resource ({method})"
    )


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")


def _int(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise errors.BadRequest(f'invalid value for {name}: "{value}"') from None


def _write_options(request: web.Request, duplicates: list[str]) -> WriteOptions:
    q = request.query
    options_kind = {"POST": "CreateOptions", "PUT": "UpdateOptions"}.get(
        request.method, "PatchOptions")
    field_validation = validation.check_field_validation(
        q.get("fieldValidation"), options_kind)
    dry_run = q.getall("dryRun", [])
    if any(d != "All" for d in dry_run):
        raise errors.BadRequest(f'unsupported dry run value: "{dry_run}"; only "All" is valid')
    manager = q.get("fieldManager", "")
    if len(manager) > 128:
        raise errors.BadRequest("fieldManager must be at most 128 characters")
    return WriteOptions(
        field_manager=manager, dry_run=bool(dry_run), field_validation=field_validation,
        user_agent=request.headers.get("User-Agent", ""), duplicates=duplicates,
        user=request.get("user"),
    )


async def _delete_options(request: web.Request) -> DeleteOptions:
    body = await content.read_body(request)
    raw = body.value if isinstance(body.value, dict) else {}
    q = request.query
    grace = raw.get("gracePeriodSeconds", q.get("gracePeriodSeconds"))
    propagation = raw.get("propagationPolicy", q.get("propagationPolicy"))
    orphan = raw.get("orphanDependents", q.get("orphanDependents"))
    orphan_flag = None if orphan is None else str(orphan).lower() == "true"
    if propagation is None and orphan_flag is not None:
        propagation = "Orphan" if orphan_flag else "Background"
    if propagation not in (None, "Foreground", "Background", "Orphan"):
        raise errors.BadRequest(
            f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: '
            f'"{propagation}": supported values: "Foreground", "Background", "Orphan"'
        )
    pre = raw.get("preconditions") or {}
    dry = raw.get("dryRun") or q.getall("dryRun", [])
    grace_int = None
    if grace is not None:
        try:
            grace_int = int(grace)
        except (TypeError, ValueError):
            raise errors.BadRequest(f'invalid gracePeriodSeconds "{grace}"') from None
    return DeleteOptions(
        grace_period=grace_int, propagation=propagation,
        precondition_uid=pre.get("uid") if isinstance(pre, dict) else None,
        precondition_rv=pre.get("resourceVersion") if isinstance(pre, dict) else None,
        dry_run=bool(dry), user=request.get("user"), orphan_dependents=orphan_flag,
    )


def _sort_key(obj: dict[str, Any]) -> str:
    md = obj.get("metadata") or {}
    return f"{md.get('namespace', '')}/{md.get('name', '')}"


def _encode_continue(revision: int, after: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": after})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_continue(token: str) -> tuple[int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(data["rv"]), str(data["start"])
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise errors.BadRequest("invalid continue token") from None
