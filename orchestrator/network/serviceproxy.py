"""The service proxy (kube-proxy's job): Service IPs and ports become real listeners.

- ClusterIP: the Service's cluster IP is a loopback address (127.96.0.0/16), so the proxy
  listens on clusterIP:port itself; a port below 1024 that cannot be bound without
  privilege is also (always) served at port + 40000, where the pod hook sends it. The
  listener is open only while the Service has ready endpoints, so a Service selecting
  nothing refuses connections at once, as kube-proxy's REJECT rule makes it.
- NodePort: 127.0.0.1:nodePort. LoadBalancer: also 127.0.0.1:port, reported in
  `status.loadBalancer.ingress`. A host port already taken gives a Warning Event.
- Backends: the ready addresses of the Service's Endpoints, round robin, or by client IP
  with `sessionAffinity: ClientIP` (pods connect from their pod IP thanks to the hook).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from orchestrator.api import errors
from orchestrator.client import Client, EventRecorder, Informer
from orchestrator.network.endpoints import ENDPOINTS, SERVICES
from orchestrator.network.hook.daskhub_netpatch import PRIVILEGED_PORT_OFFSET, is_service_ip
from orchestrator.network.relay import Half, reset

log = logging.getLogger(__name__)

HOST_IP = "127.0.0.1"
Listen = tuple[str, int]  # (address, port)


@dataclass(frozen=True)
class PortRef:
    namespace: str
    service: str
    port_name: str
    port: int


@dataclass
class Listener:
    ref: PortRef
    kind: str  # cluster | node | lb
    server: asyncio.base_events.Server | None = None


@dataclass
class Balancer:
    """Backends of one Service port and how to pick one."""

    backends: list[tuple[str, int]] = field(default_factory=list)
    affinity_timeout: float | None = None
    _counter: itertools.count[int] = field(default_factory=itertools.count)
    _sticky: dict[str, tuple[tuple[str, int], float]] = field(default_factory=dict)

    def order(self, client_ip: str, now: float) -> list[tuple[str, int]]:
        """Backends to try, best first."""
        if not self.backends:
            return []
        n = len(self.backends)
        if self.affinity_timeout is not None:
            hit = self._sticky.get(client_ip)
            if hit is not None and hit[1] > now and hit[0] in self.backends:
                first = self.backends.index(hit[0])
            else:
                first = next(self._counter) % n
            self._sticky[client_ip] = (self.backends[first], now + self.affinity_timeout)
        else:
            first = next(self._counter) % n
        return [self.backends[(first + i) % n] for i in range(n)]


def desired_listeners(service: dict[str, Any]) -> dict[Listen, Listener]:
    """Where the proxy listens for one Service (pure)."""
    md, spec = service["metadata"], service.get("spec") or {}
    out: dict[Listen, Listener] = {}
    ip = spec.get("clusterIP")
    kind = spec.get("type") or "ClusterIP"
    if kind == "ExternalName":
        return out
    for port in spec.get("ports") or []:
        if (port.get("protocol") or "TCP") != "TCP":
            continue
        ref = PortRef(md.get("namespace", ""), md["name"], str(port.get("name") or ""),
                      int(port["port"]))
        if ip and ip != "None" and is_service_ip(ip):
            out[(ip, ref.port)] = Listener(ref, "cluster")
            if ref.port < 1024:
                out[(ip, ref.port + PRIVILEGED_PORT_OFFSET)] = Listener(ref, "cluster")
        if kind in ("NodePort", "LoadBalancer") and port.get("nodePort"):
            out[(HOST_IP, int(port["nodePort"]))] = Listener(ref, "node")
        if kind == "LoadBalancer":
            out[(HOST_IP, ref.port)] = Listener(ref, "lb")
    return out


def backends_of(endpoints: dict[str, Any] | None, ref: PortRef) -> list[tuple[str, int]]:
    """Ready (ip, port) pairs of the Endpoints for the Service port `ref` (pure)."""
    out: list[tuple[str, int]] = []
    for subset in (endpoints or {}).get("subsets") or []:
        ports = subset.get("ports") or []
        match = next((p for p in ports if str(p.get("name") or "") == ref.port_name), None)
        if match is None and len(ports) == 1 and not ref.port_name:
            match = ports[0]
        if match is None:
            continue
        for addr in subset.get("addresses") or []:
            out.append((addr["ip"], int(match["port"])))
    return out


class ServiceProxy:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.services = Informer.shared(client, SERVICES)
        self.endpoints = Informer.shared(client, ENDPOINTS)
        self.events = EventRecorder(client, "service-proxy")
        self.listeners: dict[Listen, Listener] = {}
        self.balancers: dict[PortRef, Balancer] = {}
        self._failed: set[Listen] = set()
        self._dirty = asyncio.Event()
        for informer in (self.services, self.endpoints):
            informer.add_handler(lambda *_: self._dirty.set())

    async def wait_ready(self) -> None:
        await self.services.wait_synced()
        await self.endpoints.wait_synced()
        await self.sync()

    async def run(self) -> None:
        tasks = [asyncio.create_task(i.run()) for i in (self.services, self.endpoints)]
        try:
            await self.wait_ready()
            while True:
                await self._dirty.wait()
                self._dirty.clear()
                try:
                    await self.sync()
                except Exception:
                    log.exception("service proxy sync failed")
                    await asyncio.sleep(0.5)
                    self._dirty.set()
        finally:
            for t in tasks:
                t.cancel()
            await self.shutdown()

    async def shutdown(self) -> None:
        for listener in self.listeners.values():
            if listener.server is not None:
                listener.server.close()
        self.listeners.clear()

    # -- reconciling listeners -----------------------------------------------------------

    async def sync(self) -> None:
        wanted: dict[Listen, Listener] = {}
        balancers: dict[PortRef, Balancer] = {}
        by_service: dict[tuple[str, str], dict[str, Any]] = {}
        for svc in self.services.items():
            md, spec = svc["metadata"], svc.get("spec") or {}
            by_service[(md.get("namespace", ""), md["name"])] = svc
            for addr, listener in desired_listeners(svc).items():
                wanted[addr] = listener
                ref = listener.ref
                if ref not in balancers:
                    bal = self.balancers.get(ref) or Balancer()
                    bal.backends = backends_of(self.endpoints.get(ref.namespace, ref.service),
                                               ref)
                    bal.affinity_timeout = None
                    if spec.get("sessionAffinity") == "ClientIP":
                        cfg = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
                        bal.affinity_timeout = float(cfg.get("timeoutSeconds") or 10800)
                    balancers[ref] = bal
        self.balancers = balancers
        for addr in list(self.listeners):
            current = self.listeners[addr]
            target = wanted.get(addr)
            keep = target is not None and target.ref == current.ref and (
                current.kind != "cluster" or balancers[current.ref].backends)
            if not keep:
                if current.server is not None:
                    current.server.close()
                del self.listeners[addr]
        lb_status: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for addr, listener in wanted.items():
            if addr in self.listeners:
                if listener.kind == "lb":
                    lb_status.setdefault((listener.ref.namespace, listener.ref.service),
                                         []).append({"port": listener.ref.port,
                                                     "protocol": "TCP"})
                continue
            if listener.kind == "cluster" and not balancers[listener.ref].backends:
                continue  # nothing ready: no listener, so connections are refused
            try:
                listener.server = await asyncio.get_running_loop().create_server(
                    functools.partial(_Inbound, self, listener.ref), addr[0], addr[1],
                    reuse_address=True)
            except OSError as exc:
                if listener.kind == "cluster" and addr[1] < 1024:
                    continue  # served at port + offset instead (needs privilege)
                if addr not in self._failed:
                    self._failed.add(addr)
                    owner = by_service.get((listener.ref.namespace, listener.ref.service))
                    if owner is not None:
                        await self.events.record(
                            owner, "Warning", "FailedToBindPort",
                            f"cannot listen on {addr[0]}:{addr[1]}: {exc.strerror or exc}")
                continue
            self._failed.discard(addr)
            self.listeners[addr] = listener
            if listener.kind == "lb":
                lb_status.setdefault((listener.ref.namespace, listener.ref.service),
                                     []).append({"port": listener.ref.port, "protocol": "TCP"})
        await self._write_lb_status(by_service, lb_status)

    async def _write_lb_status(self, by_service: dict[tuple[str, str], dict[str, Any]],
                               lb_status: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
        for key, svc in by_service.items():
            if (svc.get("spec") or {}).get("type") != "LoadBalancer":
                continue
            ports = sorted(lb_status.get(key, []), key=lambda p: p["port"])
            wanted = {"ingress": [{"ip": HOST_IP, "ports": ports}]} if ports else {}
            current = (svc.get("status") or {}).get("loadBalancer") or {}
            if current == wanted:
                continue
            try:
                await self.client.patch(SERVICES, key[1], {"status": {"loadBalancer": wanted}},
                                        key[0], subresource="status")
            except errors.APIError as exc:
                log.debug("service %s/%s: status not written: %s", key[0], key[1], exc)

    # -- connections ---------------------------------------------------------------------

    async def connect(self, ref: PortRef, inbound: "_Inbound", client_ip: str) -> None:
        loop = asyncio.get_running_loop()
        balancer = self.balancers.get(ref)
        candidates = balancer.order(client_ip, time.monotonic()) if balancer else []
        for host, port in candidates:
            try:
                _, outbound = await loop.create_connection(Half, host, port)
            except OSError:
                continue
            inbound.join(outbound)
            return
        if inbound.transport is not None:
            reset(inbound.transport)


class _Inbound(Half):
    def __init__(self, proxy: ServiceProxy, ref: PortRef) -> None:
        super().__init__()
        self.proxy = proxy
        self.ref = ref

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername") or ("", 0)
        asyncio.ensure_future(self.proxy.connect(self.ref, self, str(peer[0])))
