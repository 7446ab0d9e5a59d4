"""Simulated nodes (kwok-style): their pods become Running and Ready without a process.

One agent serves every simulated node through one pod watch, so thousands of nodes cost one
watch and one worker pool. A pod with a deletionTimestamp is removed at once (grace 0).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from orchestrator.api import errors
from orchestrator.client import Informer, WorkQueue, run_workers
from orchestrator.client.api import Client
from orchestrator.runtime.pod import PODS
from orchestrator.runtime.status import ContainerState, pod_status

log = logging.getLogger(__name__)


def simulated_status(pod: dict[str, Any], now: float) -> dict[str, Any]:
    spec = pod.get("spec") or {}
    init = []
    for c in spec.get("initContainers") or []:
        state = ContainerState(c["name"], c.get("image", ""))
        state.terminated(0, "Completed", now, now)
        state.done = True
        init.append(state)
    containers = []
    for c in spec.get("containers") or []:
        state = ContainerState(c["name"], c.get("image", ""))
        state.running(now, "")
        state.started = state.ready = True
        containers.append(state)
    return pod_status(pod, init, False, containers, now)


class SimulatedNodes:
    def __init__(self, client: Client, names: set[str], workers: int = 8) -> None:
        self.client = client
        self.names = names
        self.workers = workers
        # Only bound pods matter; the node set is filtered here, not by the server.
        self.informer = Informer(client, PODS, None, field_selector="spec.nodeName!=")
        self.informer.add_handler(self._on_event)
        self.queue: WorkQueue[tuple[str, str]] = WorkQueue()

    def _on_event(self, etype: str, old: dict[str, Any] | None,
                  new: dict[str, Any] | None) -> None:
        if new is None:
            return
        if (new.get("spec") or {}).get("nodeName") not in self.names:
            return
        md = new["metadata"]
        if md.get("deletionTimestamp") or (new.get("status") or {}).get("phase") != "Running":
            self.queue.add((md.get("namespace", ""), md["name"]))

    async def reconcile(self, key: tuple[str, str]) -> None:
        pod = self.informer.get(*key)
        if pod is None:
            return
        md = pod["metadata"]
        try:
            if md.get("deletionTimestamp"):
                await self.client.delete(PODS, md["name"], md.get("namespace"),
                                         grace_period=0, uid=md["uid"])
            elif (pod.get("status") or {}).get("phase") != "Running":
                await self.client.patch(PODS, md["name"],
                                        {"status": simulated_status(pod, time.time())},
                                        md.get("namespace"), subresource="status")
        except errors.NotFound:
            pass

    async def wait_synced(self) -> None:
        await self.informer.wait_synced()

    async def run(self) -> None:
        await asyncio.gather(self.informer.run(),
                             run_workers("simulated-nodes", self, self.queue, self.workers))
