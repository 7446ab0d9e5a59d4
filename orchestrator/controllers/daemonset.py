"""The DaemonSet controller: executor for `daemonset_plan` (fresh reads each pass)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any, Callable

from orchestrator.api import errors
from orchestrator.api.selectors import format_label_selector
from orchestrator.api.workloads import controller_of
from orchestrator.client import (
    Client,
    EventRecorder,
    Informer,
    Result,
    WorkQueue,
    run_controller,
)
from orchestrator.controllers.daemonset_plan import plan, revision_hash

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Key = tuple[str, str]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class DaemonSetController:
    def __init__(self, client: Client, *, now: Callable[[], datetime] = utc_now,
                 workers: int = 2) -> None:
        self.client = client
        self.now = now
        self.workers = workers
        self.ds_rt = client.resource("apps/v1", "DaemonSet")
        self.pods_rt = client.resource("v1", "Pod")
        self.nodes_rt = client.resource("v1", "Node")
        self.rev_rt = client.resource("apps/v1", "ControllerRevision")
        self.sets = Informer.shared(client, self.ds_rt)
        self.pods = Informer.shared(client, self.pods_rt)
        self.nodes = Informer.shared(client, self.nodes_rt)
        self.queue: WorkQueue[Key] = WorkQueue()
        self.recorder = EventRecorder(client, "daemonset-controller")
        self.sets.add_handler(self._on_set)
        self.pods.add_handler(self._on_pod)
        self.nodes.add_handler(self._on_node)

    def _on_set(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        if obj is not None:
            self.queue.add((obj["metadata"].get("namespace", ""), obj["metadata"]["name"]))

    def _on_pod(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        for obj in (old, new):
            ref = controller_of(obj) if obj else None
            if obj is not None and ref and ref.get("kind") == "DaemonSet":
                self.queue.add((obj["metadata"].get("namespace", ""), str(ref["name"])))

    def _on_node(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        # Heartbeats change status only; labels, taints and membership change eligibility.
        if old is not None and new is not None and (
                old["metadata"].get("labels"), old.get("spec")) == (
                new["metadata"].get("labels"), new.get("spec")):
            return
        for key in list(self.sets.cache):
            self.queue.add(key)

    async def wait_ready(self) -> None:
        await asyncio.gather(self.sets.wait_synced(), self.pods.wait_synced(),
                             self.nodes.wait_synced())

    async def run(self) -> None:
        await run_controller("daemonset", self, self.queue, [self.sets, self.pods, self.nodes],
                             self.workers)

    async def reconcile(self, key: Key) -> Result | None:
        namespace, name = key
        try:
            ds = await self.client.get(self.ds_rt, name, namespace)
        except errors.NotFound:
            return None
        if ds["metadata"].get("deletionTimestamp"):
            return None
        selector = format_label_selector((ds.get("spec") or {}).get("selector"))
        items, _ = await self.client.list(self.pods_rt, namespace, label_selector=selector)
        uid = ds["metadata"]["uid"]
        pods = [p for p in items if (controller_of(p) or {}).get("uid") == uid]
        nodes, _ = await self.client.list(self.nodes_rt)
        rev_name = f"{name}-{revision_hash(ds)}"
        try:
            await self.client.get(self.rev_rt, rev_name, namespace)
            have_revision = True
        except errors.NotFound:
            have_revision = False
        decision = plan(ds, nodes, pods, self.now(), have_revision)
        if decision.revision is not None:
            try:
                await self.client.create(self.rev_rt, decision.revision, namespace)
            except errors.AlreadyExists:
                pass
        for pod_name in decision.delete_pods:
            try:
                await self.client.delete(self.pods_rt, pod_name, namespace)
            except errors.NotFound:
                continue
            await self.recorder.record(ds, "Normal", "SuccessfulDelete",
                                       f"Deleted pod: {pod_name}")
        for pod in decision.create_pods:
            try:
                created = await self.client.create(self.pods_rt, pod, namespace)
            except errors.APIError as exc:
                await self.recorder.record(ds, "Warning", "FailedCreate",
                                           f"Error creating: {exc}")
                raise
            await self.recorder.record(ds, "Normal", "SuccessfulCreate",
                                       f"Created pod: {created['metadata']['name']}")
        if decision.status is not None:
            await self.client.replace(self.ds_rt, {**ds, "status": decision.status}, "status")
        for etype, reason, message in decision.events:
            await self.recorder.record(ds, etype, reason, message)
        min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready and decision.status and decision.status["numberAvailable"] < \
                decision.status["numberReady"]:
            return Result(requeue_after=1.0)  # availability changes with time alone
        return None
