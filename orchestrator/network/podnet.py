"""Pod IPs and what a pod's processes need to use them: the seam the runtime calls.

Every pod gets its own loopback address from POD_CIDR (Linux routes all of 127.0.0.0/8 to
`lo`, so any 127.x.y.z can be bound without root or configuration). The runtime calls
`PodNetwork.attach(pod)` before starting a pod's containers and puts the returned address
in `status.podIP(s)`, the env in each container's environment and the pythonpath in front
of its PYTHONPATH; it calls `detach(pod)` once the pod's processes are gone.

macOS has only 127.0.0.1 on `lo0` unless aliases are added (`sudo ifconfig lo0 alias
127.244.0.2 up`, once per address). `check_platform()` finds out by binding a probe
address and raises `PodNetworkUnavailable` with that advice; `DASKHUB_LITE_POD_NETWORK=host`
chooses the documented fallback instead: every pod gets 127.0.0.1 (the hook still resolves
cluster names, but two pods cannot listen on the same port).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import random
import re
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.api.kinds import BUILTIN_TYPES
from orchestrator.client import Client, Informer
from orchestrator.planeranges import DEFAULT_RANGES, PlaneRanges

log = logging.getLogger(__name__)

POD_CIDR = DEFAULT_RANGES.pod_cidr  # the first plane's; each plane has its own (planeranges)
HOOK_DIR = str(Path(__file__).parent / "hook")
SERVICES = next(rt for rt in BUILTIN_TYPES if rt.group == "" and rt.plural == "services")


class PodNetworkUnavailable(RuntimeError):
    """This host cannot give pods their own loopback addresses."""


def check_platform(probe: str = DEFAULT_RANGES.pod_probe_ip) -> str:
    """'loopback' when pod IPs work here, 'host' under the fallback; raises otherwise."""
    if os.environ.get("DASKHUB_LITE_POD_NETWORK") == "host":
        return "host"
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((probe, 0))
    except OSError as exc:
        hint = ""
        if sys.platform == "darwin":
            hint = (" macOS has only 127.0.0.1 on lo0: add aliases for the pod range "
                    "(`sudo ifconfig lo0 alias 127.244.0.N up`) or set "
                    "DASKHUB_LITE_POD_NETWORK=host to run every pod on 127.0.0.1 "
                    "(pods then cannot share a port).")
        raise PodNetworkUnavailable(
            f"cannot bind the pod address {probe}: {exc}.{hint}") from exc
    return "loopback"


class IPAllocator:
    """Hands out addresses of `network` one by one (next-fit, so a released address is
    not reused at once and stale connections do not reach a new pod). `start=None` begins
    at a random place: control planes sharing a host (test sessions side by side, two
    `up`s) then rarely hand out the same addresses, whose pods would clash on their ports."""

    def __init__(self, network: ipaddress.IPv4Network = POD_CIDR, start: int | None = 0
                 ) -> None:
        self.network = network
        self._hosts = [str(h) for h in network.hosts()][1:]  # .0.1 is the probe/gateway
        self._owner: dict[str, str] = {}   # ip -> owner (pod uid)
        self._by_owner: dict[str, str] = {}
        self._next = random.randrange(len(self._hosts)) if start is None else start

    def __len__(self) -> int:
        return len(self._owner)

    def owner_of(self, ip: str) -> str | None:
        return self._owner.get(ip)

    def allocate(self, owner: str, wanted: str | None = None) -> str:
        if owner in self._by_owner:
            return self._by_owner[owner]
        if wanted and wanted in self._hosts_set() and wanted not in self._owner:
            return self._take(owner, wanted)
        for i in range(len(self._hosts)):
            ip = self._hosts[(self._next + i) % len(self._hosts)]
            if ip not in self._owner:
                self._next = (self._next + i + 1) % len(self._hosts)
                return self._take(owner, ip)
        raise PodNetworkUnavailable(f"no free pod address left in {self.network}")

    def _hosts_set(self) -> set[str]:
        hosts = getattr(self, "_set", None)
        if hosts is None:
            hosts = self._set = set(self._hosts)
        return hosts

    def _take(self, owner: str, ip: str) -> str:
        self._owner[ip] = owner
        self._by_owner[owner] = ip
        return ip

    def release(self, owner: str) -> str | None:
        ip = self._by_owner.pop(owner, None)
        if ip is not None:
            self._owner.pop(ip, None)
        return ip


@dataclass(frozen=True)
class PodAttachment:
    """What the runtime applies to a pod: its IP, extra env, and PYTHONPATH entries."""

    ip: str
    env: dict[str, str] = field(default_factory=dict)
    pythonpath: list[str] = field(default_factory=list)


def service_env_name(name: str) -> str:
    return re.sub(r"[^A-Z0-9_]", "_", name.upper())


def service_env(services: list[dict[str, Any]]) -> dict[str, str]:
    """The `{SVC}_SERVICE_HOST/PORT` (and docker-link style) variables the kubelet sets
    for the Services of a pod's namespace."""
    env: dict[str, str] = {}
    for svc in sorted(services, key=lambda s: s["metadata"]["name"]):
        spec = svc.get("spec") or {}
        ip = spec.get("clusterIP")
        ports = spec.get("ports") or []
        if not ip or ip == "None" or not ports:
            continue
        prefix = service_env_name(svc["metadata"]["name"])
        env[f"{prefix}_SERVICE_HOST"] = ip
        env[f"{prefix}_SERVICE_PORT"] = str(ports[0].get("port"))
        for port in ports:
            proto = str(port.get("protocol") or "TCP")
            if port.get("name"):
                env[f"{prefix}_SERVICE_PORT_{service_env_name(port['name'])}"] = str(
                    port["port"])
            base = f"{prefix}_PORT_{port['port']}_{proto}"
            env[base] = f"{proto.lower()}://{ip}:{port['port']}"
            env[f"{base}_PROTO"] = proto.lower()
            env[f"{base}_PORT"] = str(port["port"])
            env[f"{base}_ADDR"] = ip
        first = ports[0]
        env[f"{prefix}_PORT"] = (f"{str(first.get('protocol') or 'TCP').lower()}://{ip}:"
                                 f"{first.get('port')}")
    return env


class PodNetwork:
    """The runtime's hook into the pod network; also a component (it watches Services for
    the environment variables), so run it with the other network components."""

    def __init__(self, client: Client | None = None, *, mode: str | None = None,
                 allocator: IPAllocator | None = None,
                 ranges: PlaneRanges = DEFAULT_RANGES) -> None:
        self.client = client
        self.mode = mode or check_platform(ranges.pod_probe_ip)
        self.allocator = allocator or IPAllocator(ranges.pod_cidr, start=None)
        self.services = Informer.shared(client, SERVICES) if client is not None else None

    async def run(self) -> None:
        if self.services is not None:
            await self.services.run()

    async def wait_ready(self) -> None:
        if self.services is not None:
            await self.services.wait_synced()

    def attach(self, pod: dict[str, Any]) -> PodAttachment:
        """Allocate (or, after a restart, re-take) the pod's IP; env and PYTHONPATH to add."""
        md = pod.get("metadata") or {}
        owner = md.get("uid") or f"{md.get('namespace')}/{md.get('name')}"
        if self.mode == "host":
            ip = "127.0.0.1"
        else:
            previous = (pod.get("status") or {}).get("podIP")
            ip = self.allocator.allocate(owner, previous)
        namespace = md.get("namespace") or "default"
        env: dict[str, str] = {}
        spec = pod.get("spec") or {}
        if self.services is not None and spec.get("enableServiceLinks", True):
            # KUBERNETES_SERVICE_* stay the runtime's (the API server's own address).
            env.update(service_env([s for s in self.services.items(namespace)
                                    if (namespace, s["metadata"]["name"])
                                    != ("default", "kubernetes")]))
        env.update({
            "DASKHUB_LITE_POD_IP": ip,
            "DASKHUB_LITE_POD_NAMESPACE": namespace,
            "DASKHUB_LITE_POD_NAME": str(md.get("name", "")),
        })
        log.debug("pod %s/%s attached at %s", namespace, md.get("name"), ip)
        return PodAttachment(ip=ip, env=env, pythonpath=[HOOK_DIR])

    def detach(self, pod: dict[str, Any]) -> None:
        md = pod.get("metadata") or {}
        owner = md.get("uid") or f"{md.get('namespace')}/{md.get('name')}"
        ip = self.allocator.release(owner)
        if ip:
            log.debug("pod %s/%s released %s", md.get("namespace"), md.get("name"), ip)
