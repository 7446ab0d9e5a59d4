"""The endpoints controller: Endpoints and EndpointSlices of each Service, from its pods.

As Kubernetes' endpoints and endpointslice controllers: a Service with a selector gets one
Endpoints object (same name) and EndpointSlices (label kubernetes.io/service-name) listing
its pods' IPs, ready ones in `addresses`, others in `notReadyAddresses` (unless the Service
publishes not-ready addresses). `targetPort` names resolve per pod through its declared
container ports; a pod that does not declare the name is left out for that port and the
Service gets a Warning Event. Services without a selector keep hand-written Endpoints,
except `default/kubernetes`, which points at the API server.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

from orchestrator.api import errors
from orchestrator.api.kinds import BUILTIN_TYPES, ResourceType
from orchestrator.client import Client, EventRecorder, Informer, WorkQueue, run_workers

log = logging.getLogger(__name__)

Key = tuple[str, str]


def _type(group: str, plural: str) -> ResourceType:
    return next(rt for rt in BUILTIN_TYPES if rt.group == group and rt.plural == plural)


PODS, SERVICES, ENDPOINTS = _type("", "pods"), _type("", "services"), _type("", "endpoints")
SLICES = _type("discovery.k8s.io", "endpointslices")
MANAGED_BY = "endpointslice-controller.k8s.io"


# -- pure planning ---------------------------------------------------------------------------


def selects(selector: dict[str, str] | None, pod: dict[str, Any]) -> bool:
    if not selector:
        return False
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def pod_ready(pod: dict[str, Any]) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def resolve_target_port(port: dict[str, Any], pod: dict[str, Any]) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for cport in container.get("ports") or []:
            if cport.get("name") == target and (cport.get("protocol") or "TCP") == (
                    port.get("protocol") or "TCP"):
                return int(cport["containerPort"])
    return None


def plan(service: dict[str, Any], pods: list[dict[str, Any]]
         ) -> tuple[list[dict[str, Any]], list[str]]:
    """(Endpoints subsets, names of target ports no selected pod declares)."""
    spec = service.get("spec") or {}
    publish = bool(spec.get("publishNotReadyAddresses"))
    svc_name = service["metadata"]["name"]
    groups: dict[tuple[tuple[str, int, str], ...], dict[str, list[dict[str, Any]]]] = {}
    unresolved: set[str] = set()
    resolved_any: set[str] = set()
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        status = pod.get("status") or {}
        if not status.get("podIP") or status.get("phase") in ("Succeeded", "Failed"):
            continue
        ports: list[tuple[str, int, str]] = []
        for port in spec.get("ports") or []:
            number = resolve_target_port(port, pod)
            if number is None:
                unresolved.add(str(port.get("targetPort")))
                continue
            resolved_any.add(str(port.get("targetPort")))
            ports.append((str(port.get("name") or ""), number, port.get("protocol") or "TCP"))
        if spec.get("ports") and not ports:
            continue
        address: dict[str, Any] = {"ip": status["podIP"]}
        pspec = pod.get("spec") or {}
        if pspec.get("hostname") and pspec.get("subdomain") == svc_name:
            address["hostname"] = pspec["hostname"]
        if pspec.get("nodeName"):
            address["nodeName"] = pspec["nodeName"]
        address["targetRef"] = {"kind": "Pod", "namespace": pod["metadata"].get("namespace"),
                                "name": pod["metadata"]["name"],
                                "uid": pod["metadata"].get("uid")}
        ready = (pod_ready(pod) and not pod["metadata"].get("deletionTimestamp")) or publish
        bucket = groups.setdefault(tuple(sorted(ports)), {"addresses": [],
                                                           "notReadyAddresses": []})
        bucket["addresses" if ready else "notReadyAddresses"].append(address)
    subsets = []
    for ports_key, bucket in sorted(groups.items()):
        subset: dict[str, Any] = {k: v for k, v in bucket.items() if v}
        if ports_key:
            subset["ports"] = [{**({"name": n} if n else {}), "port": p, "protocol": proto}
                               for n, p, proto in ports_key]
        subsets.append(subset)
    return subsets, sorted(unresolved - resolved_any)


def slices_for(service: dict[str, Any], subsets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """EndpointSlices (one per port set) equivalent to `subsets`."""
    md = service["metadata"]
    out = []
    for i, subset in enumerate(subsets or [{}]):
        endpoints = []
        for key, ready in (("addresses", True), ("notReadyAddresses", False)):
            for addr in subset.get(key) or []:
                ep: dict[str, Any] = {"addresses": [addr["ip"]], "conditions": {
                    "ready": ready, "serving": ready, "terminating": False}}
                for field in ("hostname", "nodeName", "targetRef"):
                    if addr.get(field):
                        ep[field] = addr[field]
                endpoints.append(ep)
        out.append({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{md['name']}-{i}" if i else md["name"],
                         "namespace": md.get("namespace"),
                         "labels": {"kubernetes.io/service-name": md["name"],
                                    "endpointslice.kubernetes.io/managed-by": MANAGED_BY},
                         "ownerReferences": [_owner(service)]},
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": subset.get("ports") or [],
        })
    return out


def _owner(service: dict[str, Any]) -> dict[str, Any]:
    md = service["metadata"]
    return {"apiVersion": "v1", "kind": "Service", "name": md["name"], "uid": md.get("uid"),
            "controller": True, "blockOwnerDeletion": True}


# -- the controller --------------------------------------------------------------------------


class EndpointsController:
    def __init__(self, client: Client, workers: int = 2) -> None:
        self.client = client
        self.workers = workers
        self.pods = Informer.shared(client, PODS)
        self.services = Informer.shared(client, SERVICES)
        self.endpoints = Informer.shared(client, ENDPOINTS)
        self.slices = Informer.shared(client, SLICES, label_selector=(
            f"endpointslice.kubernetes.io/managed-by={MANAGED_BY}"))
        self.queue: WorkQueue[Key] = WorkQueue()
        self.events = EventRecorder(client, "endpoint-controller")
        self.services.add_handler(self._on_service)
        self.pods.add_handler(self._on_pod)
        self.endpoints.add_handler(self._on_owned)

    def _on_service(self, etype: str, old: dict[str, Any] | None,
                    new: dict[str, Any] | None) -> None:
        obj = new or old
        assert obj is not None
        self.queue.add((obj["metadata"].get("namespace", ""), obj["metadata"]["name"]))

    def _on_owned(self, etype: str, old: dict[str, Any] | None,
                  new: dict[str, Any] | None) -> None:
        if etype == "DELETED" and old is not None:  # someone deleted ours: put it back
            self.queue.add((old["metadata"].get("namespace", ""), old["metadata"]["name"]))

    def _on_pod(self, etype: str, old: dict[str, Any] | None,
                new: dict[str, Any] | None) -> None:
        ns = (new or old or {}).get("metadata", {}).get("namespace", "")
        for svc in self.services.items(ns):
            selector = (svc.get("spec") or {}).get("selector")
            if any(p is not None and selects(selector, p) for p in (old, new)):
                self.queue.add((ns, svc["metadata"]["name"]))

    async def wait_ready(self) -> None:
        for informer in (self.pods, self.services, self.endpoints, self.slices):
            await informer.wait_synced()

    async def run(self) -> None:
        tasks = [asyncio.create_task(i.run()) for i in
                 (self.pods, self.services, self.endpoints, self.slices)]
        try:
            await self.wait_ready()
            await run_workers("endpoints", self, self.queue, self.workers)
        finally:
            for t in tasks:
                t.cancel()
            self.queue.shutdown()

    async def reconcile(self, key: Key) -> None:
        ns, name = key
        service = self.services.get(ns, name)
        if service is None:
            await self._delete_owned(ns, name)
            return
        spec = service.get("spec") or {}
        if (ns, name) == ("default", "kubernetes"):
            await self._write(ns, name, self._apiserver_subsets(service), service, False)
            return
        if not spec.get("selector") or spec.get("type") == "ExternalName":
            return  # hand-managed Endpoints
        pods = [p for p in self.pods.items(ns) if selects(spec["selector"], p)]
        subsets, unresolved = plan(service, pods)
        if unresolved and pods:
            await self.events.record(
                service, "Warning", "FailedToResolveTargetPort",
                f"no selected pod declares a container port named "
                f"{', '.join(unresolved)}")
        await self._write(ns, name, subsets, service, True)

    def _apiserver_subsets(self, service: dict[str, Any]) -> list[dict[str, Any]]:
        url = urlsplit(self.client.credentials.server)
        return [{"addresses": [{"ip": url.hostname or "127.0.0.1"}],
                 "ports": [{"name": "https", "port": url.port or 443, "protocol": "TCP"}]}]

    async def _write(self, ns: str, name: str, subsets: list[dict[str, Any]],
                     service: dict[str, Any], with_slices: bool) -> None:
        current = self.endpoints.get(ns, name)
        labels = dict(service["metadata"].get("labels") or {})
        if current is None:
            try:
                await self.client.create(ENDPOINTS, {
                    "apiVersion": "v1", "kind": "Endpoints",
                    "metadata": {"name": name, "namespace": ns, "labels": labels},
                    "subsets": subsets}, ns)
            except errors.AlreadyExists:
                raise errors.Conflict("endpoints appeared meanwhile") from None
        elif (current.get("subsets") or []) != subsets or (
                current["metadata"].get("labels") or {}) != labels:
            updated = dict(current)
            updated["metadata"] = {**current["metadata"], "labels": labels}
            updated["subsets"] = subsets
            await self.client.replace(ENDPOINTS, updated)
        if with_slices:
            await self._write_slices(ns, name, slices_for(service, subsets))

    async def _write_slices(self, ns: str, name: str, wanted: list[dict[str, Any]]) -> None:
        existing = {s["metadata"]["name"]: s for s in self.slices.items(ns)
                    if (s["metadata"].get("labels") or {}).get(
                        "kubernetes.io/service-name") == name}
        for obj in wanted:
            current = existing.pop(obj["metadata"]["name"], None)
            if current is None:
                try:
                    await self.client.create(SLICES, obj, ns)
                except errors.AlreadyExists:
                    raise errors.Conflict("endpointslice appeared meanwhile") from None
            elif any(current.get(k) != obj.get(k) for k in ("endpoints", "ports")):
                obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                await self.client.replace(SLICES, obj)
        for stale in existing:
            await self._delete(SLICES, stale, ns)

    async def _delete_owned(self, ns: str, name: str) -> None:
        if self.endpoints.get(ns, name) is not None:
            await self._delete(ENDPOINTS, name, ns)
        for s in self.slices.items(ns):
            if (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name") == name:
                await self._delete(SLICES, s["metadata"]["name"], ns)

    async def _delete(self, rt: ResourceType, name: str, ns: str) -> None:
        try:
            await self.client.delete(rt, name, ns)
        except errors.NotFound:
            pass
