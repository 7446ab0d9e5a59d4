"""The Job controller: runs pods to completion (see `job_plan` for the decisions).

The executor re-reads the Job and lists its pods from the API on every pass (not from the
informer cache), so a pass never acts on a stale view of pods it just created; the
informers only tell it when to look again.
"""

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
from orchestrator.controllers.job_plan import TRACKING_FINALIZER, Backoff, is_finished, plan

log = logging.getLogger(__name__)

Key = tuple[str, str]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class JobController:
    def __init__(self, client: Client, *, now: Clock = utc_now, workers: int = 4) -> None:
        self.client = client
        self.now = now
        self.workers = workers
        self.jobs_rt = client.resource("batch/v1", "Job")
        self.pods_rt = client.resource("v1", "Pod")
        self.jobs = Informer.shared(client, self.jobs_rt)
        self.pods = Informer.shared(client, self.pods_rt)
        self.queue: WorkQueue[Key] = WorkQueue()
        self.recorder = EventRecorder(client, "job-controller")
        self._backoff: dict[str, Backoff] = {}
        self.jobs.add_handler(self._on_job)
        self.pods.add_handler(self._on_pod)

    # -- wiring ---------------------------------------------------------------------------

    def _on_job(self, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        obj = new or old
        if obj is None:
            return
        md = obj["metadata"]
        if etype == "DELETED":
            self._backoff.pop(md.get("uid", ""), None)
        self.queue.add((md.get("namespace", ""), md["name"]))

    def _on_pod(self, etype: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        for obj in (old, new):
            ref = controller_of(obj) if obj else None
            if ref and ref.get("kind") == "Job" and str(ref.get("apiVersion", "")).startswith(
                    "batch/"):
                self.queue.add((obj["metadata"].get("namespace", ""), ref["name"]))  # type: ignore[index]

    async def wait_ready(self) -> None:
        await asyncio.gather(self.jobs.wait_synced(), self.pods.wait_synced())

    async def run(self) -> None:
        await run_controller("job", self, self.queue, [self.jobs, self.pods],
                             self.workers)

    # -- reconcile ------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> Result | None:
        namespace, name = key
        try:
            job = await self.client.get(self.jobs_rt, name, namespace)
        except errors.NotFound:
            await self._release_orphans(namespace, name)
            return None
        if job["metadata"].get("deletionTimestamp"):
            await self._release_pods(job)
            return None
        pods = await self._owned_pods(job)
        uid = job["metadata"]["uid"]
        decision = plan(job, pods, self.now(), self._backoff.get(uid))
        self._backoff[uid] = decision.backoff
        if decision.delete_job:
            log.info("job %s/%s: ttlSecondsAfterFinished passed, deleting", namespace, name)
            await self._ignore_missing(self.client.delete(
                self.jobs_rt, name, namespace, propagation="Background", uid=uid))
            return None
        if decision.status is not None:
            job = await self.client.replace(self.jobs_rt, {**job, "status": decision.status},
                                            "status")
        for pod_name in decision.remove_finalizer:
            await self._remove_finalizer(namespace, pod_name)
        for pod_name in decision.delete:
            await self._remove_finalizer(namespace, pod_name)
            await self._delete_pod(job, pod_name)
        for pod_name in decision.terminate:
            await self._delete_pod(job, pod_name)
        for pod in decision.create:
            try:
                created = await self.client.create(self.pods_rt, pod, namespace)
            except errors.APIError as exc:
                await self.recorder.record(job, "Warning", "FailedCreate",
                                           f"Error creating: {exc}")
                raise
            await self.recorder.record(job, "Normal", "SuccessfulCreate",
                                       f"Created pod: {created['metadata']['name']}")
        for event in decision.events:
            await self.recorder.record(job, event.type, event.reason, event.message)
        if decision.requeue_after is not None:
            return Result(requeue_after=decision.requeue_after)
        return None

    async def _owned_pods(self, job: dict[str, Any]) -> list[dict[str, Any]]:
        selector = format_label_selector((job.get("spec") or {}).get("selector"))
        items, _ = await self.client.list(self.pods_rt, job["metadata"]["namespace"],
                                          label_selector=selector)
        uid = job["metadata"]["uid"]
        return [p for p in items if (controller_of(p) or {}).get("uid") == uid]

    async def _release_pods(self, job: dict[str, Any]) -> None:
        """A Job being deleted must not keep its pods alive through our finalizer."""
        for pod in await self._owned_pods(job):
            if TRACKING_FINALIZER in (pod["metadata"].get("finalizers") or []):
                await self._remove_finalizer(job["metadata"]["namespace"],
                                             pod["metadata"]["name"])

    async def _release_orphans(self, namespace: str, name: str) -> None:
        """The Job is gone (Background deletion): let the garbage collector take its pods."""
        for pod in self.pods.items(namespace):
            ref = controller_of(pod) or {}
            if ref.get("kind") == "Job" and ref.get("name") == name and TRACKING_FINALIZER in (
                    pod["metadata"].get("finalizers") or []):
                await self._remove_finalizer(namespace, pod["metadata"]["name"])

    async def _remove_finalizer(self, namespace: str, pod_name: str) -> None:
        patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER]}}
        await self._ignore_missing(self.client.patch(
            self.pods_rt, pod_name, patch, namespace, patch_type="strategic"))

    async def _delete_pod(self, job: dict[str, Any], pod_name: str) -> None:
        try:
            await self.client.delete(self.pods_rt, pod_name, job["metadata"]["namespace"])
        except errors.NotFound:
            return
        await self.recorder.record(job, "Normal", "SuccessfulDelete", f"Deleted pod: {pod_name}")

    @staticmethod
    async def _ignore_missing(call: Any) -> None:
        try:
            await call
        except errors.NotFound:
            pass


__all__ = ["JobController", "is_finished"]
