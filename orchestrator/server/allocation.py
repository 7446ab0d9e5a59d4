"""Values the API server assigns on create: Service cluster IPs and node ports, Pod QoS."""

from __future__ import annotations

import ipaddress
import secrets
from typing import Any

from orchestrator.planeranges import DEFAULT_RANGES

from orchestrator.api.quota import pods

# A loopback service range (kubeadm's 10.96.0.0/12, moved into 127/8): Linux routes all of
# 127.0.0.0/8 to lo, so the service proxy can listen on each cluster IP itself and any
# process, Python or not, reaches it. 127.96.0.1 is the `kubernetes` Service. Kept equal to
# orchestrator.network's service octets (a test checks it). These are the first plane's
# ranges: each plane on a host has its own (orchestrator.planeranges).
SERVICE_CIDR = DEFAULT_RANGES.service_cidr
# The loopback range the pod network hands pod IPs out of (loopback mode), its first address
# kept back as the probe. Kept equal to orchestrator.network's POD_CIDR (a test checks it):
# the API server proxies to loopback addresses in this range only.
POD_CIDR = DEFAULT_RANGES.pod_cidr
NODE_PORT_RANGE = range(30000, 32768)


def assign_cluster_ip(service: dict[str, Any], existing: list[dict[str, Any]],
                      service_cidr: ipaddress.IPv4Network = SERVICE_CIDR) -> None:
    spec = service.setdefault("spec", {})
    used_ports = {
        p.get("nodePort") for s in existing for p in (s.get("spec") or {}).get("ports") or []
    }
    if spec.get("type") in ("NodePort", "LoadBalancer"):
        for port in spec.get("ports") or []:
            if not port.get("nodePort"):
                port["nodePort"] = next(p for p in NODE_PORT_RANGE if p not in used_ports)
                used_ports.add(port["nodePort"])
    if spec.get("type") == "ExternalName":
        spec.pop("clusterIP", None)
        return
    requested = spec.get("clusterIP")
    if requested and requested != "":
        spec["clusterIPs"] = [requested]
        return
    used = {(s.get("spec") or {}).get("clusterIP") for s in existing}
    candidate = _free_address(used, service_cidr)
    if candidate is not None:
        spec["clusterIP"] = candidate
        spec["clusterIPs"] = [candidate]


def _free_address(used: set[Any], cidr: ipaddress.IPv4Network) -> str | None:
    """A free address of the range, drawn at random like kube-apiserver's allocator."""
    base = int(cidr.network_address)
    size = cidr.num_addresses
    for _ in range(64):
        offset = secrets.randbelow(size - 3) + 2  # .0.0 network, .0.1 `kubernetes`, broadcast
        candidate = str(ipaddress.ip_address(base + offset))
        if candidate not in used:
            return candidate
    for host in cidr.hosts():  # nearly full: look at every address
        if str(host) not in used:
            return str(host)
    return None


def keep_cluster_ip(new: dict[str, Any], old: dict[str, Any]) -> None:
    """clusterIP is immutable once assigned; an update that omits it keeps the old one."""
    old_spec = old.get("spec") or {}
    spec = new.setdefault("spec", {})
    for key in ("clusterIP", "clusterIPs"):
        if key in old_spec and not spec.get(key):
            spec[key] = old_spec[key]
    old_ports = {(p.get("port"), p.get("protocol")): p.get("nodePort")
                 for p in old_spec.get("ports") or []}
    for port in spec.get("ports") or []:
        if not port.get("nodePort") and old_ports.get((port.get("port"), port.get("protocol"))):
            port["nodePort"] = old_ports[(port.get("port"), port.get("protocol"))]


def qos_class(pod: dict[str, Any]) -> str:
    """Guaranteed, Burstable or BestEffort, as kube computes it (cpu and memory only: a
    pod asking for a GPU and nothing else is BestEffort)."""
    return pods.qos_class(pod)
