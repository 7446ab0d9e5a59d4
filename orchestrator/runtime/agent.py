"""The agent of one process node: watches the pods bound to it and runs a worker per pod.

On start it adopts what an earlier control plane left: pod folders whose processes still
live are handed to their worker; folders of pods that no longer exist are cleaned up (their
processes killed), so nothing outlives its pod.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from orchestrator.api import errors
from orchestrator.client import Informer
from orchestrator.runtime import ephemeral, eviction, podfiles, process
from orchestrator.runtime.pod import PODS, NodeContext, PodWorker

log = logging.getLogger(__name__)


class ProcessNode:
    def __init__(self, ctx: NodeContext, shutdown_grace: float = 10.0,
                 eviction_period: float = 10.0) -> None:
        self.ctx = ctx
        self.shutdown_grace = shutdown_grace
        self.eviction_period = eviction_period
        self.informer = Informer(ctx.client, PODS, None,
                                 field_selector=f"spec.nodeName={ctx.node_name}")
        self.informer.add_handler(self._on_event)
        self.workers: dict[str, PodWorker] = {}
        self._stopping = False

    @property
    def name(self) -> str:
        return self.ctx.node_name

    async def run(self) -> None:
        monitor = asyncio.ensure_future(self._monitor_storage())
        try:
            await self.informer.run()
        finally:
            monitor.cancel()

    async def _monitor_storage(self) -> None:
        """kubelet's eviction manager for local ephemeral storage (see eviction.py)."""
        while True:
            await asyncio.sleep(self.eviction_period)
            for worker in list(self.workers.values()):
                if self._stopping or not worker.evictable():
                    continue
                try:
                    usage = await asyncio.to_thread(eviction.measure, worker.pod,
                                                    worker.folder)
                except OSError as exc:
                    log.debug("pod %s/%s: cannot measure its storage: %s",
                              worker.namespace, worker.name, exc)
                    continue
                message = eviction.decide(worker.pod, usage)
                if message and worker.evictable():
                    worker.evict(message)

    async def wait_synced(self) -> None:
        await self.informer.wait_synced()
        self._clean_orphans()

    def worker_for(self, namespace: str, name: str) -> PodWorker | None:
        pod = self.informer.get(namespace, name)
        if pod is None:
            return None
        return self.workers.get(pod["metadata"]["uid"])

    # -- events --------------------------------------------------------------------------

    def _on_event(self, etype: str, old: dict[str, Any] | None,
                  new: dict[str, Any] | None) -> None:
        if self._stopping:
            return
        if new is None:
            assert old is not None
            self._gone(old)
            return
        md = new["metadata"]
        uid = md["uid"]
        if old is not None and old["metadata"]["uid"] != uid:
            self._gone(old)  # same name, new pod
        worker = self.workers.get(uid)
        if worker is None:
            worker = self._new_worker(new)
            if worker is None:
                return
        else:
            worker.update(new)
        if md.get("deletionTimestamp"):
            grace = md.get("deletionGracePeriodSeconds")
            if grace is None:
                grace = (new.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
            worker.request_stop(float(grace), delete=True)

    def _new_worker(self, pod: dict[str, Any]) -> PodWorker | None:
        md = pod["metadata"]
        folder = podfiles.pod_dir(self.ctx.data_dir, md["uid"])
        saved = podfiles.read_state(folder)
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed") and not md.get("deletionTimestamp"):
            return None  # finished: nothing to run again
        if md.get("deletionTimestamp") and saved is None:
            asyncio.ensure_future(self._delete_now(pod))
            return None
        worker = PodWorker(self.ctx, pod, saved)
        self.workers[md["uid"]] = worker
        if not md.get("deletionTimestamp"):
            worker.start()
        else:
            worker._restore()  # only to learn which processes to stop
            worker.ephemeral.adopt()
        return worker

    async def _delete_now(self, pod: dict[str, Any]) -> None:
        md = pod["metadata"]
        try:
            await self.ctx.client.delete(PODS, md["name"], md.get("namespace"),
                                         grace_period=0, uid=md["uid"])
        except (errors.NotFound, errors.Conflict):
            pass

    def _gone(self, pod: dict[str, Any]) -> None:
        """The pod object is gone (force deletion): stop its processes quickly."""
        uid = pod["metadata"]["uid"]
        worker = self.workers.pop(uid, None)
        if worker is None:
            return

        async def stop() -> None:
            await worker.request_stop(min(2.0, _grace(pod)), delete=False)
            worker.release_network()
            podfiles.remove(worker.folder)

        asyncio.ensure_future(stop())

    def _clean_orphans(self) -> None:
        """Pod folders of this node whose pods are gone: kill what lives, remove the rest."""
        known = {p["metadata"]["uid"] for p in self.informer.items()}
        root = self.ctx.data_dir / "pods"
        if not root.is_dir():
            return
        for folder in root.iterdir():
            saved = podfiles.read_state(folder)
            if saved is None or saved.get("node") != self.name or folder.name in known:
                continue
            records = [process.InstanceRecord.from_json(entry["instance"])
                       for entry in (saved.get("containers") or {}).values()
                       if (entry or {}).get("instance")]
            for record in records + ephemeral.saved_instances(folder):
                if process.alive(record):
                    process.signal_group(record.pid, signal.SIGKILL)
            log.info("node %s: removed leftovers of deleted pod %s/%s", self.name,
                     saved.get("namespace"), saved.get("name"))
            podfiles.remove(folder)

    # -- shutdown ------------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Stop every pod's processes gracefully (bounded), leaving the pod objects."""
        self._stopping = True
        stops = [w.request_stop(min(self.shutdown_grace, _grace(w.pod)), delete=False)
                 for w in self.workers.values()]
        await asyncio.gather(*stops, return_exceptions=True)


def _grace(pod: dict[str, Any]) -> float:
    return float((pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
