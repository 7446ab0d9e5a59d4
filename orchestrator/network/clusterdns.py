"""`kube-system/kube-dns`: the cluster DNS Service, as kubeadm's DNS add-on installs it.

Tools and tests look for it by name and by `k8s-app=kube-dns`: ClusterIP (the service
range's tenth address when free, as kubeadm picks 10.96.0.10: nine past `default/kubernetes`,
which holds the first, so 127.96.0.10 in the default range), ports dns 53/UDP, dns-tcp
53/TCP and metrics 9153/TCP, selecting `k8s-app=kube-dns`.

It is backed only by what really answers. Today no DNS server process runs: in loopback
mode cluster names resolve inside the Python processes the runtime starts (the start-up
hook asks the API), and other processes use the host's resolver. So no pod carries the
label, its Endpoints and EndpointSlice list nothing (the endpoints controller writes them
from the selector), nothing listens on the ClusterIP (the service proxy opens listeners for
ready endpoints only), and the Service says why in an annotation and an Event.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any

from orchestrator.api import errors
from orchestrator.client import Client, EventRecorder
from orchestrator.network.endpoints import SERVICES

log = logging.getLogger(__name__)

NAMESPACE, NAME = "kube-system", "kube-dns"
LABEL = {"k8s-app": "kube-dns"}
NOTE_ANNOTATION = "daskhub-lite.io/cluster-dns"
NO_SERVER = ("no DNS server runs in this cluster (loopback pod network): Python processes "
             "started by the runtime resolve cluster names through the API (start-up hook), "
             "other processes use the host's resolver; this Service has no endpoints")


def tenth_address(first: Any) -> str | None:
    """The range's tenth address from its first (the `kubernetes` Service's)."""
    try:
        return str(ipaddress.ip_address(str(first)) + 9)
    except ValueError:
        return None


def service(note: str, cluster_ip: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": "ClusterIP", "selector": dict(LABEL),
        "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                  {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                  {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}]}
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": dict(LABEL),
                         "annotations": {NOTE_ANNOTATION: note,
                                         "prometheus.io/port": "9153",
                                         "prometheus.io/scrape": "true"}},
            "spec": spec}


class ClusterDNSService:
    """Keeps kube-dns present and its note current (a component of the control plane)."""

    def __init__(self, client: Client, note: str = NO_SERVER) -> None:
        self.client = client
        self.note = note
        self.events = EventRecorder(client, "daskhub-lite-network")
        self._ready = asyncio.Event()

    async def wait_ready(self) -> None:
        await self._ready.wait()

    async def run(self) -> None:
        delay = 0.2
        while True:
            try:
                await self.ensure()
                break
            except (errors.APIError, OSError) as exc:  # the API is starting or restarting
                log.debug("kube-dns: not written yet: %s", exc)
                await asyncio.sleep(delay)
                delay = min(2 * delay, 5.0)
        self._ready.set()

    async def ensure(self) -> None:
        try:
            current = await self.client.get(SERVICES, NAME, NAMESPACE)
        except errors.NotFound:
            current = await self._create()
        annotations = current["metadata"].get("annotations") or {}
        if annotations.get(NOTE_ANNOTATION) != self.note:
            current = await self.client.patch(
                SERVICES, NAME, {"metadata": {"annotations": {NOTE_ANNOTATION: self.note}}},
                NAMESPACE)
        if self.note == NO_SERVER:
            await self.events.record(current, "Normal", "NoDNSServer", self.note)

    async def _create(self) -> dict[str, Any]:
        taken, _ = await self.client.list(SERVICES)
        used = {(s.get("spec") or {}).get("clusterIP") for s in taken}
        apiserver = next((s for s in taken if (s["metadata"].get("namespace"),
                                               s["metadata"]["name"]) == ("default",
                                                                          "kubernetes")), None)
        address = tenth_address((apiserver or {}).get("spec", {}).get("clusterIP"))
        wanted = service(self.note, address if address not in used else None)
        try:
            return await self.client.create(SERVICES, wanted, NAMESPACE)
        except errors.AlreadyExists:
            return await self.client.get(SERVICES, NAME, NAMESPACE)
