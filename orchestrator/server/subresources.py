"""Subresources other than status: scale, pods/binding, pods/eviction, pods/log,
pods/ephemeralcontainers (ephemeral.py); the rest through `app["subresource_handlers"]`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Protocol

from aiohttp import web

from orchestrator.api.jsoncopy import json_copy
from orchestrator.api import errors, patch
from orchestrator.api.selectors import label_selector_from_dict
from orchestrator.server import content, ephemeral
from orchestrator.server.objects import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    DeleteOptions,
    WriteOptions,
)

if TYPE_CHECKING:
    from orchestrator.server.resources import ResourceHandlers, Target


class LogSource(Protocol):
    """Supplies container logs; the node runtime registers one (later issue)."""

    def __call__(
        self, pod: dict[str, Any], options: dict[str, str]
    ) -> Awaitable[AsyncIterator[bytes]]: ...


async def handle(h: "ResourceHandlers", request: web.Request, t: "Target") -> web.StreamResponse:
    sub = t.subresource
    if sub == "scale":
        return await _scale(h, request, t)
    if t.rt.key == "/pods" and sub == "binding" and request.method == "POST":
        return await _binding(h, request, t)
    if t.rt.key == "/pods" and sub == "eviction" and request.method == "POST":
        return await _eviction(h, request, t)
    if t.rt.key == "/pods" and sub == "log" and request.method == "GET":
        return await _log(h, request, t)
    if t.rt.key == "/pods" and sub == ephemeral.SUBRESOURCE:
        return await ephemeral.handle(h, request, t)
    handler = request.app.get("subresource_handlers", {}).get((t.rt.key, sub))
    if handler is not None:
        result: web.StreamResponse = await handler(request, t)
        return result
    raise errors.MethodNotAllowed(
        f"the server does not allow this method on the requested resource ({request.method} "
        f"{t.rt.plural}/{sub})"
    )


# -- scale ---------------------------------------------------------------------------------


def _path_get(obj: dict[str, Any], path: str) -> Any:
    cur: Any = obj
    for part in [p for p in path.split(".") if p]:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _path_set(obj: dict[str, Any], path: str, value: Any) -> None:
    parts = [p for p in path.split(".") if p]
    cur = obj
    for part in parts[:-1]:
        cur = cur.setdefault(part, {})
    cur[parts[-1]] = value


def scale_of(h: "ResourceHandlers", t: "Target", obj: dict[str, Any]) -> dict[str, Any]:
    spec_path, status_path, selector_path = t.rt.scale_paths
    md = obj["metadata"]
    selector = ""
    if t.rt.custom:
        selector = str(_path_get(obj, selector_path) or "") if selector_path else ""
    else:
        raw = (obj.get("spec") or {}).get("selector")
        if isinstance(raw, dict):
            selector = str(label_selector_from_dict(raw))
    scale: dict[str, Any] = {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                        "creationTimestamp") if k in md},
        "spec": {"replicas": _path_get(obj, spec_path) or 0},
        "status": {"replicas": _path_get(obj, status_path) or 0},
    }
    if selector:
        scale["status"]["selector"] = selector
    return scale


async def _scale(h: "ResourceHandlers", request: web.Request, t: "Target") -> web.Response:
    assert t.name is not None
    ns = t.namespace or ""
    obj = h.service.get(t.rt, ns, t.name)
    current = scale_of(h, t, obj)
    if request.method == "GET":
        return content.respond(current)
    if request.method not in ("PUT", "PATCH"):
        raise errors.MethodNotAllowed("the server does not allow this method on scale")
    body = await content.read_body(
        request, allowed=(content.JSON, content.YAML, JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH)
        if request.method == "PATCH" else ()
    )
    if request.method == "PUT":
        wanted = body.value
    else:
        ptype = content.media_type(request)
        if ptype == JSON_PATCH:
            wanted = patch.json_patch(current, body.value)
        elif ptype == STRATEGIC_PATCH:
            wanted = patch.strategic_merge_patch(current, body.value, None)
        else:
            wanted = patch.merge_patch(current, body.value)
    if not isinstance(wanted, dict):
        raise errors.BadRequest("the body of the request must be a Scale object")
    for field, go_type in (("spec", "v1.ScaleSpec"), ("metadata", "v1.ObjectMeta")):
        value = wanted.get(field)
        if value is not None and not isinstance(value, dict):
            kind = {bool: "bool", str: "string", int: "number", float: "number",
                    list: "array"}.get(type(value), "value")
            raise errors.BadRequest(
                f"Scale in version \"v1\" cannot be handled as a Scale: json: cannot unmarshal "
                f"{kind} into Go struct field Scale.{field} of type {go_type}")
    replicas = (wanted.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise errors.Invalid.of(
            "Scale", "autoscaling", t.name,
            [errors.invalid("spec.replicas", replicas, "must be greater than or equal to 0")],
        )
    rv = (wanted.get("metadata") or {}).get("resourceVersion")
    if rv and rv != obj["metadata"]["resourceVersion"]:
        raise h.service._conflict(t.rt, t.name)
    updated = json_copy(obj)
    _path_set(updated, t.rt.scale_paths[0], replicas)
    opts = WriteOptions(field_manager=request.query.get("fieldManager", ""),
                        dry_run=bool(request.query.getall("dryRun", [])),
                        field_validation="Ignore",
                        user_agent=request.headers.get("User-Agent", ""),
                        user=request.get("user"))
    result = h.service.update(t.rt, ns, t.name, updated, opts)
    return content.respond(scale_of(h, t, result.obj))


# -- pods ----------------------------------------------------------------------------------


def _success(code: int = 201) -> web.Response:
    return content.respond(
        {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
         "code": code}, code
    )


async def _binding(h: "ResourceHandlers", request: web.Request, t: "Target") -> web.Response:
    assert t.name is not None
    body = await content.read_body(request)
    target = (body.value or {}).get("target") if isinstance(body.value, dict) else None
    node = target.get("name") if isinstance(target, dict) else None
    if not node or not isinstance(node, str):
        raise errors.Invalid.of("Binding", "", t.name,
                                [errors.required("target.name")])
    ns = t.namespace or ""
    pod = h.service.store.get("/pods", ns, t.name)
    if pod is None:
        raise h.service._not_found(t.rt, t.name)
    if pod["metadata"].get("deletionTimestamp"):
        raise errors.Conflict(f"pod {t.name} is being deleted, cannot be assigned to a host")
    if (pod.get("spec") or {}).get("nodeName"):
        raise errors.Conflict(
            f"pod {t.name} is already assigned to node \"{pod['spec']['nodeName']}\""
        )
    bound = json_copy(pod)
    bound["spec"]["nodeName"] = node
    annotations = ((body.value.get("metadata") or {}).get("annotations") or {})
    if annotations:
        bound["metadata"].setdefault("annotations", {}).update(annotations)
    conditions = [c for c in bound.setdefault("status", {}).get("conditions") or []
                  if c.get("type") != "PodScheduled"]
    conditions.append({"type": "PodScheduled", "status": "True",
                       "lastTransitionTime": h.service._now(), "lastProbeTime": None})
    bound["status"]["conditions"] = conditions
    h.service._write(t.rt, bound)
    return _success()


async def _eviction(h: "ResourceHandlers", request: web.Request, t: "Target") -> web.Response:
    assert t.name is not None
    ns = t.namespace or ""
    body = await content.read_body(request)
    pod = h.service.get(t.rt, ns, t.name)
    labels = pod["metadata"].get("labels") or {}
    for pdb in h.service.store.objects("policy/poddisruptionbudgets", ns):
        selector = (pdb.get("spec") or {}).get("selector")
        if not isinstance(selector, dict) or not label_selector_from_dict(selector).matches(
            labels
        ):
            continue
        if int((pdb.get("status") or {}).get("disruptionsAllowed", 0)) <= 0:
            raise errors.TooManyRequests(
                "Cannot evict pod as it would violate the pod's disruption budget.",
                causes=[errors.Cause(
                    "DisruptionBudget",
                    f"The disruption budget {pdb['metadata']['name']} needs "
                    f"{(pdb.get('status') or {}).get('desiredHealthy', 0)} healthy pods and has "
                    f"{(pdb.get('status') or {}).get('currentHealthy', 0)} currently",
                )],
            )
    options = (body.value or {}).get("deleteOptions") if isinstance(body.value, dict) else None
    grace = options.get("gracePeriodSeconds") if isinstance(options, dict) else None
    h.service.delete(t.rt, ns, t.name,
                     DeleteOptions(grace_period=grace, user=request.get("user")))
    return _success()


async def _log(h: "ResourceHandlers", request: web.Request, t: "Target") -> web.StreamResponse:
    assert t.name is not None
    pod = h.service.get(t.rt, t.namespace or "", t.name)
    source: Callable[..., Any] | None = request.app.get("log_source")
    containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    wanted = request.query.get("container")
    if wanted and wanted not in containers and wanted not in [
        c.get("name") for key in ("initContainers", "ephemeralContainers")
        for c in (pod.get("spec") or {}).get(key) or []
    ]:
        raise errors.BadRequest(f"container {wanted} is not valid for pod {t.name}")
    if not wanted and len(containers) > 1:
        raise errors.BadRequest(
            f"a container name must be specified for pod {t.name}, choose one of: "
            f"[{' '.join(str(c) for c in containers)}]"
        )
    if source is None or not (pod.get("spec") or {}).get("nodeName"):
        container = wanted or (containers[0] if containers else "")
        raise errors.BadRequest(
            f'container "{container}" in pod "{t.name}" is waiting to start: '
            "ContainerCreating"
        )
    stream = await source(pod, dict(request.query))
    resp = web.StreamResponse(status=200)
    resp.content_type = "text/plain"
    await resp.prepare(request)
    async for chunk in stream:
        await resp.write(chunk)
    return resp
