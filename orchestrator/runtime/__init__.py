"""Node agents: the local node and virtual nodes (process and simulated runtimes).

`build(client, nodes, data_dir)` returns one component that registers the nodes, keeps their
Leases fresh, runs the pods of process nodes as local processes, marks the pods of simulated
nodes Running, and serves logs/exec for the API server on a kubelet-like endpoint.

Tunables (environment, read at build time), mostly for fast tests:
`DASKHUB_LITE_BACKOFF_BASE_SECONDS` (CrashLoopBackOff base, 10),
`DASKHUB_LITE_BACKOFF_MAX_SECONDS` (its cap, 300),
`DASKHUB_LITE_SHUTDOWN_GRACE_SECONDS` (longest grace per pod when the control plane stops, 10),
`DASKHUB_LITE_SIMULATED_LEASE_SECONDS` (lease renewal period of simulated nodes, 40),
`DASKHUB_LITE_CONTAINER_LOG_MAX_BYTES` / `DASKHUB_LITE_CONTAINER_LOG_MAX_FILES` (log rotation,
kubelet's containerLogMaxSize 10Mi and containerLogMaxFiles 5),
`DASKHUB_LITE_EVICTION_SECONDS` (how often ephemeral-storage use is checked, kubelet's 10),
`DASKHUB_LITE_METRICS_RESOLUTION_SECONDS` (how often CPU and memory are read for the metrics
API between requests, metrics-server's 15; see stats.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from orchestrator.client import Client, EventRecorder
from orchestrator.runtime import hostinfo, stats
from orchestrator.runtime.agent import ProcessNode
from orchestrator.runtime.kubelet import KubeletServer
from orchestrator.runtime.nodes import NodeEntry, NodeRegistry
from orchestrator.runtime.nodespec import NodesFileError, NodeSpec, parse
from orchestrator.runtime.pod import NodeContext, PodNetworkHook
from orchestrator.runtime.simulated import SimulatedNodes
from orchestrator.runtime.volumes import mount_namespaces_available

log = logging.getLogger(__name__)
__all__ = ["NodeAgents", "NodesFileError", "build"]



def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


class NodeAgents:
    """Every node of this control plane, as one component."""

    def __init__(self, client: Client, specs: list[NodeSpec], data_dir: Path,
                 pod_network: PodNetworkHook | None = None) -> None:
        self.client = client
        self.specs = specs
        self.data_dir = data_dir
        self.pod_network = pod_network
        self.registry = NodeRegistry(client, data_dir)
        self.process_nodes: list[ProcessNode] = []
        self.simulated: SimulatedNodes | None = None
        self.kubelet: KubeletServer | None = None
        self.backoff_base = _env_float("DASKHUB_LITE_BACKOFF_BASE_SECONDS", 10.0)
        self.backoff_cap = _env_float("DASKHUB_LITE_BACKOFF_MAX_SECONDS", 300.0)
        self.shutdown_grace = _env_float("DASKHUB_LITE_SHUTDOWN_GRACE_SECONDS", 10.0)
        self.log_max_bytes = int(_env_float("DASKHUB_LITE_CONTAINER_LOG_MAX_BYTES",
                                            10 * 1024 * 1024))
        self.log_max_files = max(2, int(_env_float("DASKHUB_LITE_CONTAINER_LOG_MAX_FILES", 5)))
        self.eviction_period = _env_float("DASKHUB_LITE_EVICTION_SECONDS", 10.0)
        self.metrics_resolution = _env_float("DASKHUB_LITE_METRICS_RESOLUTION_SECONDS", 15.0)
        self._ready = asyncio.Event()
        self._failed: BaseException | None = None

    async def _setup(self) -> list[Any]:
        process_specs = [s for s in self.specs if s.runtime == "process"]
        simulated_specs = [s for s in self.specs if s.runtime == "simulated"]
        port = 0
        bind = False
        if process_specs:
            bind = await asyncio.to_thread(mount_namespaces_available)
            self.kubelet = KubeletServer(self.process_nodes, self.data_dir,
                                         self.client.credentials.token or "")
            stats.install(self.kubelet.app, self.process_nodes,
                          {s.name for s in process_specs if s.local}, self.metrics_resolution)
            port = await self.kubelet.start()
        entries = [NodeEntry(s, kubelet_port=port) for s in process_specs]
        lease = _env_float("DASKHUB_LITE_SIMULATED_LEASE_SECONDS", 40.0)
        entries += [NodeEntry(s, lease_period=lease) for s in simulated_specs]
        await self.registry.register(entries)
        for entry in entries[:len(process_specs)]:
            ctx = NodeContext(self.client, EventRecorder(self.client, "kubelet",
                                                         entry.spec.name),
                              entry.spec.name, self.data_dir, entry.allocatable, bind,
                              self.backoff_base, self.backoff_cap, self.pod_network,
                              self.log_max_bytes, self.log_max_files)
            self.process_nodes.append(ProcessNode(ctx, self.shutdown_grace,
                                                  self.eviction_period))
        if simulated_specs:
            self.simulated = SimulatedNodes(self.client, {s.name for s in simulated_specs})
        return list(self.process_nodes) + ([self.simulated] if self.simulated else [])

    async def run(self) -> None:
        try:
            agents = await self._setup()
        except BaseException as exc:
            self._failed = exc
            self._ready.set()
            raise
        tasks = [asyncio.ensure_future(a.run()) for a in agents]
        tasks.append(asyncio.ensure_future(self.registry.run()))
        try:
            await asyncio.gather(*(a.wait_synced() for a in agents))
            self._ready.set()
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_ready(self) -> None:
        await self._ready.wait()
        if self._failed is not None:
            raise RuntimeError(f"nodes failed to start: {self._failed}") from self._failed

    async def shutdown(self) -> None:
        await asyncio.gather(*(n.shutdown() for n in self.process_nodes),
                             return_exceptions=True)
        if self.kubelet is not None:
            await self.kubelet.stop()


def build(client: Client, nodes: Any, data_dir: Path,
          pod_network: PodNetworkHook | None = None) -> list[Any]:
    """The node agents for this control plane: the local node when `nodes` is None, else the
    nodes a nodes file (path, parsed document or list of entries) declares."""
    specs = parse(nodes)
    if nodes is None:
        specs = [NodeSpec(hostinfo.local_node_name(), "process", local=True)]
    return [NodeAgents(client, specs, Path(data_dir), pod_network)]
