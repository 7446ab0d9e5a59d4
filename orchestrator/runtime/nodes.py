"""Node objects: registration, conditions and Lease heartbeats for any number of nodes.

One `NodeRegistry` serves many nodes with one heartbeat task (thousands of simulated nodes
must not mean thousands of tasks); each node's Lease in `kube-node-lease` is renewed on its
own cadence, spread over the period so renewals do not arrive in bursts.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from orchestrator.api import errors
from orchestrator.api.kinds import BUILTIN_TYPES, ResourceType
from orchestrator.api.meta import now_rfc3339
from orchestrator.client import Client
from orchestrator.runtime import hostinfo
from orchestrator.runtime.nodespec import NodeSpec

log = logging.getLogger(__name__)


def _rt(plural: str) -> ResourceType:
    return next(rt for rt in BUILTIN_TYPES if rt.plural == plural and rt.version == "v1")


NODES, LEASES = _rt("nodes"), _rt("leases")
LEASE_NAMESPACE = "kube-node-lease"
RUNTIME_LABEL = "daskhub-lite.io/runtime"
_CONCURRENCY = 64


def micro_time(moment: float | None = None) -> str:
    dt = datetime.fromtimestamp(time.time() if moment is None else moment, timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def host_pressure(data_dir: Path) -> dict[str, bool]:
    """Whether this machine is short of memory or disk, as the kubelet's eviction signals."""
    available = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except OSError:
        pass
    usage = shutil.disk_usage(data_dir)
    return {"MemoryPressure": available is not None and available < 100 * 2**20,
            "DiskPressure": usage.free < usage.total * 0.10,
            "PIDPressure": False}


def conditions(pressure: dict[str, bool], ready: bool = True,
               since: dict[str, tuple[str, str]] | None = None) -> list[dict[str, Any]]:
    """Node conditions; `since` keeps each condition's (status, lastTransitionTime)."""
    now = now_rfc3339()
    since = since if since is not None else {}
    messages = {
        "MemoryPressure": ("KubeletHasSufficientMemory", "KubeletHasInsufficientMemory",
                           "kubelet has sufficient memory available"),
        "DiskPressure": ("KubeletHasNoDiskPressure", "KubeletHasDiskPressure",
                         "kubelet has no disk pressure"),
        "PIDPressure": ("KubeletHasSufficientPID", "KubeletHasInsufficientPID",
                        "kubelet has sufficient PID available"),
    }
    out = []
    for ctype, (ok_reason, bad_reason, ok_message) in messages.items():
        bad = pressure.get(ctype, False)
        out.append({"type": ctype, "status": "True" if bad else "False",
                    "reason": bad_reason if bad else ok_reason,
                    "message": f"kubelet has {ctype}" if bad else ok_message,
                    "lastHeartbeatTime": now})
    out.append({"type": "Ready", "status": "True" if ready else "False",
                "reason": "KubeletReady" if ready else "KubeletNotReady",
                "message": "kubelet is posting ready status" if ready else "node is not ready",
                "lastHeartbeatTime": now})
    for c in out:
        previous = since.get(c["type"])
        if previous is None or previous[0] != c["status"]:
            since[c["type"]] = (c["status"], now)
        c["lastTransitionTime"] = since[c["type"]][1]
    return out


@dataclass
class NodeEntry:
    spec: NodeSpec
    kubelet_port: int = 0
    lease_period: float = 10.0
    uid: str = ""
    next_renew: float = 0.0
    allocatable: dict[str, str] = field(default_factory=dict)
    extra_status: dict[str, Any] = field(default_factory=dict)


def node_object(entry: NodeEntry, host: hostinfo.Host | None,
                pressure: dict[str, bool]) -> dict[str, Any]:
    spec = entry.spec
    capacity = hostinfo.capacity(host) if host is not None else {"pods": str(hostinfo.MAX_PODS)}
    capacity.update(spec.capacity)
    capacity.setdefault("pods", str(hostinfo.MAX_PODS))
    allocatable = dict(capacity)
    allocatable.update(spec.allocatable)
    info = hostinfo.node_info(spec.runtime)
    labels = {"kubernetes.io/hostname": spec.name, "kubernetes.io/os": info["operatingSystem"],
              "kubernetes.io/arch": info["architecture"], "beta.kubernetes.io/os":
              info["operatingSystem"], "beta.kubernetes.io/arch": info["architecture"],
              RUNTIME_LABEL: spec.runtime}
    if host is not None and spec.local:
        labels.update(hostinfo.gpu_labels(host.gpus))
    elif "nvidia.com/gpu" in capacity:
        labels["nvidia.com/gpu.count"] = capacity["nvidia.com/gpu"]
    labels.update(spec.labels)
    md: dict[str, Any] = {"name": spec.name, "labels": labels}
    if spec.annotations:
        md["annotations"] = dict(spec.annotations)
    node_spec: dict[str, Any] = {}
    if spec.taints:
        node_spec["taints"] = [dict(t) for t in spec.taints]
    status: dict[str, Any] = {
        "capacity": capacity, "allocatable": allocatable,
        "conditions": conditions(pressure), "phase": "Running",
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                      {"type": "Hostname", "address": spec.name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": entry.kubelet_port}},
        "nodeInfo": info,
    }
    status.update(entry.extra_status)
    return {"apiVersion": "v1", "kind": "Node", "metadata": md, "spec": node_spec,
            "status": status}


class NodeRegistry:
    """Registers nodes and keeps their Leases (and Ready condition) fresh."""

    def __init__(self, client: Client, data_dir: Path,
                 host: Callable[[], hostinfo.Host] | None = None) -> None:
        self.client = client
        self.data_dir = data_dir
        self.entries: dict[str, NodeEntry] = {}
        self._host: hostinfo.Host | None = None
        self._host_factory = host or (lambda: hostinfo.detect(data_dir))
        self._status_every = 10.0
        self._last_status = time.monotonic()
        self._since: dict[str, tuple[str, str]] = {}

    def host(self) -> hostinfo.Host:
        if self._host is None:
            self._host = self._host_factory()
        return self._host

    async def register(self, entries: list[NodeEntry]) -> None:
        pressure = host_pressure(self.data_dir)
        needs_host = any(e.spec.runtime == "process" and (e.spec.local or not e.spec.capacity)
                         for e in entries)
        host = await asyncio.to_thread(self.host) if needs_host else None
        sem = asyncio.Semaphore(_CONCURRENCY)

        async def one(entry: NodeEntry) -> None:
            use_host = host if entry.spec.runtime == "process" and (
                entry.spec.local or not entry.spec.capacity) else None
            obj = node_object(entry, use_host, pressure if entry.spec.runtime == "process"
                              else {})
            entry.allocatable = dict(obj["status"]["allocatable"])
            async with sem:
                entry.uid = await self._upsert(obj)
                if entry.spec.runtime == "process":
                    await self._renew(entry)  # simulated nodes get theirs from run(), spread
            self.entries[entry.spec.name] = entry

        await asyncio.gather(*(one(e) for e in entries))
        now = time.monotonic()
        for i, entry in enumerate(entries):  # spread the next renewals over one period
            entry.next_renew = now + entry.lease_period * (i % 100 + 1) / 100
            if entry.spec.runtime != "process":
                entry.next_renew = now + entry.lease_period * (i % 100) / 100

    async def _upsert(self, obj: dict[str, Any]) -> str:
        name = obj["metadata"]["name"]
        try:
            created = await self.client.create(NODES, obj)
        except errors.AlreadyExists:
            current = await self.client.get(NODES, name)
            current["metadata"].setdefault("labels", {}).update(obj["metadata"]["labels"])
            current["spec"] = {**(current.get("spec") or {}), **obj["spec"]}
            if not obj["spec"].get("taints"):
                current["spec"].pop("taints", None)
            created = await self.client.replace(NODES, current)
        status = created.get("status") or {}
        if status.get("capacity") != obj["status"]["capacity"] or not status.get("nodeInfo") \
                or status.get("daemonEndpoints") != obj["status"]["daemonEndpoints"]:
            await self.client.patch(NODES, name, {"status": obj["status"]},
                                    subresource="status")
        return str(created["metadata"]["uid"])

    async def _renew(self, entry: NodeEntry) -> None:
        name = entry.spec.name
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": name, "namespace": LEASE_NAMESPACE,
                              "ownerReferences": [{"apiVersion": "v1", "kind": "Node",
                                                   "name": name, "uid": entry.uid}]},
                 "spec": {"holderIdentity": name, "leaseDurationSeconds": int(
                     entry.lease_period * 4), "renewTime": micro_time()}}
        try:
            await self.client.patch(LEASES, name, {"spec": lease["spec"]}, LEASE_NAMESPACE)
        except errors.NotFound:
            try:
                await self.client.create(LEASES, lease, LEASE_NAMESPACE)
            except errors.AlreadyExists:
                pass

    async def _refresh_conditions(self) -> None:
        """Process nodes re-post their conditions (the heartbeat the node table shows)."""
        pressure = await asyncio.to_thread(host_pressure, self.data_dir)
        for entry in list(self.entries.values()):
            if entry.spec.runtime != "process":
                continue
            try:
                await self.client.patch(NODES, entry.spec.name,
                                        {"status": {"conditions": conditions(
                                            pressure, since=self._since)}},
                                        subresource="status")
            except errors.APIError as exc:
                log.debug("node %s: status update failed: %s", entry.spec.name, exc)

    async def run(self) -> None:
        sem = asyncio.Semaphore(_CONCURRENCY)

        async def renew(entry: NodeEntry) -> None:
            async with sem:
                try:
                    await self._renew(entry)
                except errors.APIError as exc:
                    log.debug("node %s: lease renewal failed: %s", entry.spec.name, exc)

        while True:
            now = time.monotonic()
            due = [e for e in self.entries.values() if e.next_renew <= now]
            for entry in due:
                entry.next_renew = now + entry.lease_period
            if due:
                await asyncio.gather(*(renew(e) for e in due))
            if now - self._last_status >= self._status_every:
                self._last_status = now
                await self._refresh_conditions()
            await asyncio.sleep(1.0)
