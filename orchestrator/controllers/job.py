"""The Job controller: runs pods to completion (`job_plan` decides) on the controller builder.

Each pass re-reads the Job and lists its pods from the API (not from the informer cache),
so a pass never acts on a stale view of pods it just created; the informers only tell it
when to look again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from orchestrator.api.workloads import controller_of
from orchestrator.client import (
    Action, Client, Controller, Declaration, Informer, execute, list_owned, utc_now,
)
from orchestrator.controllers.job_plan import (
    JOB, POD, TRACKING_FINALIZER, Backoff, Observed, actions, is_finished, release_finalizer,
)

Obj = dict[str, Any]
Key = tuple[str, str]
Clock = Callable[[], datetime]

DECLARATION = Declaration("job", "job-controller", JOB, owns=(POD,))


def _tracked(pod: Obj) -> bool:
    return TRACKING_FINALIZER in (pod["metadata"].get("finalizers") or [])


class JobLogic:
    def __init__(self) -> None:
        # Failures since the last success, by Job uid: upstream's in-memory backoff store.
        self.backoff: dict[str, Backoff] = {}

    async def observe(self, client: Client, job: Obj) -> Observed:
        pods = await list_owned(client, POD, job, (job.get("spec") or {}).get("selector"))
        return Observed(pods=pods, backoff=self.backoff.get(job["metadata"]["uid"]))

    def plan(self, job: Obj, observed: Observed, now: datetime) -> list[Action]:
        planned, self.backoff[job["metadata"]["uid"]] = actions(job, observed, now)
        return planned


class JobController(Controller[Observed]):
    def __init__(self, client: Client, *, now: Clock = utc_now, workers: int = 4) -> None:
        self.job_logic = JobLogic()
        super().__init__(client, DECLARATION, self.job_logic, now=now, workers=workers)
        self.pods = Informer.shared(client, client.resource(POD.api_version, POD.kind))

    def _on_primary(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        if etype == "DELETED" and old is not None:
            self.job_logic.backoff.pop(old["metadata"].get("uid", ""), None)
        super()._on_primary(etype, old, new)

    async def on_deleting(self, job: Obj) -> None:
        """A Job being deleted must not keep its pods alive through our finalizer."""
        pods = await list_owned(self.client, POD, job, (job.get("spec") or {}).get("selector"))
        await execute(self.client, self.recorder, job, JOB,
                      [release_finalizer(p["metadata"]["name"]) for p in pods if _tracked(p)])

    async def on_gone(self, key: Key) -> None:
        """The Job is gone (Background deletion): let the garbage collector take its pods."""
        namespace, name = key
        orphans = [p for p in self.pods.items(namespace) if _tracked(p) and (
            controller_of(p) or {}).get("kind") == "Job" and (
            controller_of(p) or {}).get("name") == name]
        await execute(self.client, self.recorder, {"metadata": {"namespace": namespace}}, JOB,
                      [release_finalizer(p["metadata"]["name"]) for p in orphans])


__all__ = ["JobController", "is_finished"]
