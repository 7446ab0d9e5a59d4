"""The resource metrics API, `metrics.k8s.io/v1beta1`, served as metrics-server serves it.

metrics-server scrapes every kubelet and answers PodMetrics / NodeMetrics from what it
scraped; here the API server itself asks each node agent's kubelet endpoint for its
`/stats/summary` (orchestrator/runtime/stats.py) when a request comes, so `kubectl top`
works with no add-on. The group is in discovery (its types join the registry, as an
APIService adds an aggregated group), registered as the APIService `v1beta1.metrics.k8s.io`
(see metrics_objects.py).

Verbs are metrics-server's: get and list (label and field selectors), nothing else. A pod
without figures (no running container, its node unreachable) is left out of lists and
NotFound by name. Running pods of simulated nodes report zeros: nothing runs there.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
from aiohttp import web

from orchestrator.api import errors, metrics
from orchestrator.api.meta import now_rfc3339
from orchestrator.server import content
from orchestrator.server.objects import ObjectService

log = logging.getLogger(__name__)

_BASE = f"/apis/{metrics.API_VERSION}"
_SIMULATED = ("daskhub-lite.io/runtime", "simulated")
_TIMEOUT = aiohttp.ClientTimeout(total=10, sock_connect=5)
Summaries = dict[str, dict[str, Any] | None]  # node name -> its summary (None: no answer)


class MetricsAPI:
    def __init__(self, service: ObjectService, token: str | None) -> None:
        self.service = service
        self.token = token or ""
        reg = service.registry
        pods, nodes = reg.lookup("", "v1", "pods"), reg.lookup("", "v1", "nodes")
        assert pods is not None and nodes is not None
        self.pods_rt, self.nodes_rt = pods, nodes

    # -- routes --------------------------------------------------------------------------

    async def nodes(self, request: web.Request) -> web.StreamResponse:
        _only_get(request, metrics.NODEMETRICS)
        q = request.query
        nodes, _ = self.service.list_objects(self.nodes_rt, None, q.get("labelSelector", ""),
                                             q.get("fieldSelector", ""))
        summaries = await self._summaries(nodes)
        now = now_rfc3339()
        items = [m for n in nodes if (m := metrics.node_metrics(
            n, _node_stats(n, summaries), now)) is not None]
        return self._respond(request, metrics.NODEMETRICS, items)

    async def node(self, request: web.Request) -> web.StreamResponse:
        _only_get(request, metrics.NODEMETRICS)
        name = request.match_info["name"]
        node = self.service.get(self.nodes_rt, "", name)
        item = metrics.node_metrics(node, _node_stats(node, await self._summaries([node])),
                                    now_rfc3339())
        if item is None:
            raise _not_found(metrics.NODEMETRICS, name)
        return self._respond(request, metrics.NODEMETRICS, [item], single=True)

    async def pods(self, request: web.Request) -> web.StreamResponse:
        _only_get(request, metrics.PODMETRICS)
        q = request.query
        namespace = request.match_info.get("namespace")
        pods, _ = self.service.list_objects(self.pods_rt, namespace,
                                            q.get("labelSelector", ""),
                                            q.get("fieldSelector", ""))
        items = await self._pod_items(pods)
        return self._respond(request, metrics.PODMETRICS, items)

    async def pod(self, request: web.Request) -> web.StreamResponse:
        _only_get(request, metrics.PODMETRICS)
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        pod = self.service.get(self.pods_rt, namespace, name)
        items = await self._pod_items([pod])
        if not items:
            raise _not_found(metrics.PODMETRICS, f"{namespace}/{name}")
        return self._respond(request, metrics.PODMETRICS, items, single=True)

    async def unknown(self, request: web.Request) -> web.StreamResponse:
        raise errors.NotFound("the server could not find the requested resource")

    # -- figures -------------------------------------------------------------------------

    async def _pod_items(self, pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
        names = sorted({str((p.get("spec") or {}).get("nodeName")) for p in pods
                        if (p.get("spec") or {}).get("nodeName")})
        nodes = [n for n in (self.service.store.get("/nodes", "", name) for name in names)
                 if n is not None]
        summaries = await self._summaries(nodes)
        simulated = {n["metadata"]["name"] for n in nodes if _is_simulated(n)}
        by_uid: dict[str, dict[str, Any]] = {}
        for summary in summaries.values():
            for entry in (summary or {}).get("pods") or []:
                by_uid[str((entry.get("podRef") or {}).get("uid"))] = entry
        now = now_rfc3339()
        items = []
        for pod in pods:
            node = (pod.get("spec") or {}).get("nodeName")
            if node in simulated:
                stats = metrics.idle_pod_stats(pod) if _running(pod) else None
            else:
                stats = by_uid.get(pod["metadata"].get("uid", ""))
            item = metrics.pod_metrics(pod, stats, now)
            if item is not None:
                items.append(item)
        return items

    async def _summaries(self, nodes: list[dict[str, Any]]) -> Summaries:
        """Each process node's summary, asked for at once (as metrics-server scrapes)."""
        wanted = [(n["metadata"]["name"], _kubelet_port(n)) for n in nodes
                  if not _is_simulated(n)]
        wanted = [(name, port) for name, port in wanted if port]
        if not wanted:
            return {}
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {self.token}"},
                                         timeout=_TIMEOUT) as session:
            answers = await asyncio.gather(*(self._summary(session, name, port)
                                             for name, port in wanted))
        return dict(zip((name for name, _ in wanted), answers))

    async def _summary(self, session: aiohttp.ClientSession, node: str, port: int
                       ) -> dict[str, Any] | None:
        url = f"http://127.0.0.1:{port}/stats/summary"
        try:
            async with session.get(url, params={"node": node}) as resp:
                body = await resp.read()
                if resp.status != 200:
                    log.warning("node %s: stats summary answered HTTP %d", node, resp.status)
                    return None
                summary: dict[str, Any] = json.loads(body)
                return summary
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            # metrics-server logs a failed scrape and serves what it has: here, nothing.
            log.warning("node %s: cannot read its stats summary: %s", node, exc)
            return None

    # -- rendering -----------------------------------------------------------------------

    def _respond(self, request: web.Request, rt: Any, items: list[dict[str, Any]],
                 single: bool = False) -> web.Response:
        if content.wants_table(request):
            return content.respond(metrics.metrics_table(
                items, request.query.get("includeObject", "Metadata")))
        if single:
            return content.respond(items[0])
        return content.respond(metrics.metrics_list(rt, items))


def _only_get(request: web.Request, rt: Any) -> None:
    if request.method != "GET":
        raise errors.MethodNotAllowed(
            "the server does not allow this method on the requested resource")
    if request.query.get("watch", "").lower() in ("1", "true"):
        # kube-apiserver's NewMethodNotSupported for a storage without Watch.
        raise errors.MethodNotAllowed(
            f'watch is not supported on resources of kind "{rt.plural}.{rt.group}"')


def _not_found(rt: Any, name: str) -> errors.NotFound:
    return errors.NotFound(f'{rt.plural}.{rt.group} "{name}" not found', name=name,
                           group=rt.group, kind=rt.plural)


def _running(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running"


def _is_simulated(node: dict[str, Any]) -> bool:
    labels = (node.get("metadata") or {}).get("labels") or {}
    return bool(labels.get(_SIMULATED[0]) == _SIMULATED[1])


def _kubelet_port(node: dict[str, Any]) -> int:
    endpoints = ((node.get("status") or {}).get("daemonEndpoints") or {})
    return int((endpoints.get("kubeletEndpoint") or {}).get("Port") or 0)


def _node_stats(node: dict[str, Any], summaries: Summaries) -> dict[str, Any] | None:
    if _is_simulated(node):
        return {"cpu": {}, "memory": {}}
    summary = summaries.get(node["metadata"]["name"])
    return None if summary is None else dict(summary.get("node") or {})


def install(app: web.Application, service: ObjectService, token: str | None) -> None:
    """Serve the group (before the generic /apis routes, which would look in the store)."""
    api = MetricsAPI(service, token)
    # Discovery lists the group from the registry, as an APIService adds it.
    service.registry.set_custom(metrics.APISERVICE_NAME, list(metrics.TYPES))
    r = app.router
    r.add_route("*", f"{_BASE}/nodes", api.nodes)
    r.add_route("*", f"{_BASE}/nodes/{{name}}", api.node)
    r.add_route("*", f"{_BASE}/pods", api.pods)
    r.add_route("*", f"{_BASE}/namespaces/{{namespace}}/pods", api.pods)
    r.add_route("*", f"{_BASE}/namespaces/{{namespace}}/pods/{{name}}", api.pod)
    r.add_route("*", f"{_BASE}/{{rest:.+}}", api.unknown)
