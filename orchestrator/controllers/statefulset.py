"""The StatefulSet controller: executor for `statefulset_plan` (reads fresh state each pass)."""

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
from orchestrator.controllers.statefulset_plan import plan

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Key = tuple[str, str]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class StatefulSetController:
    def __init__(self, client: Client, *, now: Callable[[], datetime] = utc_now,
                 workers: int = 2) -> None:
        self.client = client
        self.now = now
        self.workers = workers
        self.sts_rt = client.resource("apps/v1", "StatefulSet")
        self.pods_rt = client.resource("v1", "Pod")
        self.pvc_rt = client.resource("v1", "PersistentVolumeClaim")
        self.rev_rt = client.resource("apps/v1", "ControllerRevision")
        self.sets = Informer.shared(client, self.sts_rt)
        self.pods = Informer.shared(client, self.pods_rt)
        self.queue: WorkQueue[Key] = WorkQueue()
        self.recorder = EventRecorder(client, "statefulset-controller")
        self.sets.add_handler(self._on_set)
        self.pods.add_handler(self._on_pod)

    def _on_set(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        if obj is not None:
            self.queue.add((obj["metadata"].get("namespace", ""), obj["metadata"]["name"]))

    def _on_pod(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        for obj in (old, new):
            ref = controller_of(obj) if obj else None
            if obj is not None and ref and ref.get("kind") == "StatefulSet":
                self.queue.add((obj["metadata"].get("namespace", ""), str(ref["name"])))

    async def wait_ready(self) -> None:
        await asyncio.gather(self.sets.wait_synced(), self.pods.wait_synced())

    async def run(self) -> None:
        await run_controller("statefulset", self, self.queue, [self.sets, self.pods],
                             self.workers)

    async def _owned(self, rt: Any, sts: Obj, selector: str) -> list[Obj]:
        items, _ = await self.client.list(rt, sts["metadata"]["namespace"],
                                          label_selector=selector)
        uid = sts["metadata"]["uid"]
        return [o for o in items if (controller_of(o) or {}).get("uid") == uid]

    async def reconcile(self, key: Key) -> Result | None:
        namespace, name = key
        try:
            sts = await self.client.get(self.sts_rt, name, namespace)
        except errors.NotFound:
            return None
        if sts["metadata"].get("deletionTimestamp"):
            return None
        selector = format_label_selector((sts.get("spec") or {}).get("selector"))
        pods = await self._owned(self.pods_rt, sts, selector)
        revisions = await self._owned(self.rev_rt, sts, selector)
        pvcs, _ = await self.client.list(self.pvc_rt, namespace)
        decision = plan(sts, pods, pvcs, revisions, self.now())
        if decision.create_revision is not None:
            try:
                await self.client.create(self.rev_rt, decision.create_revision, namespace)
            except errors.AlreadyExists:
                pass
        for pvc in decision.create_pvcs:
            try:
                await self.client.create(self.pvc_rt, pvc, namespace)
                await self.recorder.record(sts, "Normal", "SuccessfulCreate",
                                           f"create Claim {pvc['metadata']['name']} Pod "
                                           f"in StatefulSet {name} success")
            except errors.AlreadyExists:
                pass
        for pvc_name in decision.bind_pvcs:
            # No provisioner: the node runtime backs claims with local folders.
            await self.client.patch(self.pvc_rt, pvc_name, {"status": {"phase": "Bound"}},
                                    namespace, subresource="status")
        for pod in decision.create_pods:
            try:
                await self.client.create(self.pods_rt, pod, namespace)
            except errors.AlreadyExists:
                continue
            except errors.APIError as exc:
                await self.recorder.record(sts, "Warning", "FailedCreate",
                                           f"create Pod {pod['metadata']['name']} in "
                                           f"StatefulSet {name} failed error: {exc}")
                raise
            await self.recorder.record(sts, "Normal", "SuccessfulCreate",
                                       f"create Pod {pod['metadata']['name']} in StatefulSet "
                                       f"{name} successful")
        for pod_name in decision.delete_pods:
            try:
                await self.client.delete(self.pods_rt, pod_name, namespace)
            except errors.NotFound:
                continue
            await self.recorder.record(sts, "Normal", "SuccessfulDelete",
                                       f"delete Pod {pod_name} in StatefulSet {name} successful")
        for pvc_name in decision.delete_pvcs:
            await self._delete(self.pvc_rt, pvc_name, namespace)
        for rev_name in decision.delete_revisions:
            await self._delete(self.rev_rt, rev_name, namespace)
        if decision.status is not None:
            await self.client.replace(self.sts_rt, {**sts, "status": decision.status}, "status")
        for etype, reason, message in decision.events:
            await self.recorder.record(sts, etype, reason, message)
        min_ready = int((sts.get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready and decision.status and decision.status.get("availableReplicas", 0) < \
                decision.status.get("readyReplicas", 0):
            return Result(requeue_after=1.0)  # availability changes with time alone
        return None

    async def _delete(self, rt: Any, name: str, namespace: str) -> None:
        try:
            await self.client.delete(rt, name, namespace)
        except errors.NotFound:
            pass
