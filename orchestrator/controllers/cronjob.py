"""The CronJob controller: creates Jobs on a schedule (as kube's cronjob controller v2).

The clock is injected (`now`), so tests can drive time instead of waiting for minutes.
Jobs are named `<cronjob>-<scheduled time in Unix minutes>`, so a pass that runs twice for
the same schedule time gets AlreadyExists rather than a second Job.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Callable

from orchestrator.api.meta import now_rfc3339, parse_time
from orchestrator.api.workloads import condition, owner_reference
from orchestrator.client import (
    Action, Client, Controller, Create, Declaration, Delete, Kind, Record, RequeueAfter,
    WriteStatus, list_owned, utc_now,
)
from orchestrator.controllers.cron_schedule import Schedule, ScheduleError, load_zone, parse

Obj = dict[str, Any]
CRONJOB = Kind("batch/v1", "CronJob")
JOB = Kind("batch/v1", "Job")
SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
TOO_MANY_MISSED = 100


@dataclass
class CronPlan:
    status: Obj | None = None
    create: Obj | None = None
    delete: list[str] = field(default_factory=list)  # Jobs, Background propagation
    events: list[tuple[str, str, str]] = field(default_factory=list)
    requeue_after: float | None = None


def _finished(job: Obj) -> str | None:
    for ctype in ("Complete", "Failed"):
        c = condition(job, ctype)
        if c and c.get("status") == "True":
            return ctype
    return None


def _job_ref(job: Obj) -> Obj:
    md = job["metadata"]
    return {"apiVersion": "batch/v1", "kind": "Job", "name": md["name"],
            "namespace": md.get("namespace"), "uid": md.get("uid"),
            "resourceVersion": md.get("resourceVersion")}


def job_name(cronjob: Obj, scheduled: datetime) -> str:
    return f"{cronjob['metadata']['name']}-{int(scheduled.timestamp()) // 60}"


def most_recent_unmet(schedule: Schedule, earliest: datetime, now: datetime,
                      zone: tzinfo | None) -> tuple[datetime | None, bool]:
    """The latest schedule time in (earliest, now], and whether over 100 were missed.

    Searched in growing windows ending at `now`, so a long outage of a `* * * * *` schedule
    costs a few hundred steps, not one per missed minute.
    """
    window = timedelta(hours=1)
    while True:
        start = max(earliest, now - window)
        times: list[datetime] = []
        t = schedule.next_after(start, zone)
        while t is not None and t <= now:
            times.append(t)
            t = schedule.next_after(t, zone)
        if times or start == earliest:
            if not times:
                return None, False
            missed = float(len(times))
            if start > earliest:  # only a window was searched: scale its count up
                missed *= (now - earliest) / (now - start)
            return times[-1], missed > TOO_MANY_MISSED
        window *= 4


def new_job(cronjob: Obj, scheduled: datetime, zone: tzinfo) -> Obj:
    template = copy.deepcopy((cronjob.get("spec") or {}).get("jobTemplate") or {})
    tmd = template.get("metadata") or {}
    annotations = dict(tmd.get("annotations") or {})
    annotations[SCHEDULED_ANNOTATION] = scheduled.astimezone(zone).isoformat()
    md: Obj = {"name": job_name(cronjob, scheduled),
               "namespace": cronjob["metadata"].get("namespace", "default"),
               "labels": dict(tmd.get("labels") or {}), "annotations": annotations,
               "ownerReferences": [owner_reference(cronjob)]}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": md,
            "spec": template.get("spec") or {}}


def plan(cronjob: Obj, jobs: list[Obj], now: datetime) -> CronPlan:
    """What to do for `cronjob`, given the Jobs it controls, at `now`."""
    spec = cronjob.get("spec") or {}
    old_status = cronjob.get("status") or {}
    status = copy.deepcopy(old_status)
    result = CronPlan()
    by_uid = {j["metadata"].get("uid"): j for j in jobs}

    # -- the active list and history ------------------------------------------------------
    active: list[Obj] = []
    for ref in status.get("active") or []:
        job = by_uid.get(ref.get("uid"))
        if job is None:
            continue  # deleted by someone else
        done = _finished(job)
        if done:
            result.events.append(("Normal", "SawCompletedJob",
                                  f"Saw completed job: {job['metadata']['name']}, "
                                  f"condition: {done}"))
            continue
        active.append(ref)
    known = {r.get("uid") for r in active}
    for job in jobs:
        if not _finished(job) and job["metadata"].get("uid") not in known and not job[
                "metadata"].get("deletionTimestamp"):
            # Ours but unlisted: created just before a crash, or adopted.
            active.append(_job_ref(job))
            known.add(job["metadata"].get("uid"))
    last_success = status.get("lastSuccessfulTime")
    for job in jobs:
        done_at = (job.get("status") or {}).get("completionTime")
        if _finished(job) == "Complete" and done_at and (not last_success or done_at >
                                                          last_success):
            last_success = done_at
    if last_success:
        status["lastSuccessfulTime"] = last_success
    for kind, limit_key in (("Complete", "successfulJobsHistoryLimit"),
                            ("Failed", "failedJobsHistoryLimit")):
        limit = spec.get(limit_key)
        if limit is None:
            continue
        finished = sorted((j for j in jobs if _finished(j) == kind and not j["metadata"].get(
            "deletionTimestamp")), key=lambda j: ((j.get("status") or {}).get("startTime") or "",
                                                  j["metadata"].get("creationTimestamp", "")))
        for job in finished[: max(0, len(finished) - int(limit))]:
            result.delete.append(job["metadata"]["name"])
            result.events.append(("Normal", "SuccessfulDelete",
                                  f"Deleted job {job['metadata']['name']}"))

    def finish() -> CronPlan:
        if active:
            status["active"] = active
        else:
            status.pop("active", None)
        if status != old_status:
            result.status = status
        return result

    if cronjob["metadata"].get("deletionTimestamp") or spec.get("suspend"):
        return finish()
    try:
        zone: tzinfo = load_zone(spec["timeZone"]) if spec.get("timeZone") else timezone.utc
        schedule = parse(str(spec.get("schedule", "")))
    except ScheduleError as exc:
        result.events.append(("Warning", "UnparseableSchedule" if "zone" not in str(exc)
                              else "UnknownTimeZone", str(exc)))
        return finish()

    last = status.get("lastScheduleTime") or cronjob["metadata"].get("creationTimestamp")
    earliest = parse_time(last) if last else now
    deadline = spec.get("startingDeadlineSeconds")
    if deadline is not None:
        earliest = max(earliest, now - timedelta(seconds=int(deadline)))
    scheduled, too_many = most_recent_unmet(schedule, earliest, now, zone)
    upcoming = schedule.next_after(now, zone)
    if upcoming is not None:
        # A little after the minute, as upstream, so the clock has surely passed it.
        result.requeue_after = (upcoming - now).total_seconds() + 0.1
    if scheduled is None:
        return finish()
    if too_many:
        result.events.append(("Warning", "TooManyMissedTimes",
                              "too many missed start times. Set or decrease "
                              ".spec.startingDeadlineSeconds or check clock skew"))
    if deadline is not None and scheduled + timedelta(seconds=int(deadline)) < now:
        result.events.append(("Warning", "MissSchedule",
                              f"Missed scheduled time to start a job: {now_rfc3339(scheduled)}"))
        return finish()
    policy = spec.get("concurrencyPolicy", "Allow")
    if active and policy == "Forbid":
        result.events.append(("Normal", "JobAlreadyActive",
                               "Not starting job because prior execution is running and "
                               "concurrency policy is Forbid"))
        return finish()
    if active and policy == "Replace":
        for ref in active:
            result.delete.append(str(ref["name"]))
            result.events.append(("Normal", "SuccessfulDelete", f"Deleted job {ref['name']}"))
        active = []
    result.create = new_job(cronjob, scheduled, zone)
    status["lastScheduleTime"] = now_rfc3339(scheduled)
    return finish()


def actions(cronjob: Obj, jobs: list[Obj], now: datetime) -> list[Action]:
    """The plan as the controller builder's actions: old Jobs deleted, the new one created
    (its reference joins `status.active` when this pass made it), status, Events, the wake-up
    at the next schedule time."""
    decision = plan(cronjob, jobs, now)
    out: list[Action] = [Delete(JOB, name, propagation="Background") for name in decision.delete]
    if decision.create is not None:
        out.append(Create(JOB, decision.create,
                          on_created=Record("Normal", "SuccessfulCreate", "Created job {name}"),
                          on_failed=Record("Warning", "FailedCreate",
                                           "Error creating job: {error}")))
    if decision.status is not None or decision.create is not None:
        out.append(WriteStatus(decision.status if decision.status is not None else
                               dict(cronjob.get("status") or {}), created_refs="active",
                               only_if_created=decision.status is None))
    out += [Record(etype, reason, message) for etype, reason, message in decision.events]
    if decision.requeue_after is not None:
        out.append(RequeueAfter(decision.requeue_after))
    return out


DECLARATION = Declaration("cronjob", "cronjob-controller", CRONJOB, owns=(JOB,),
                          skip_deleting=False)


class CronJobLogic:
    async def observe(self, client: Client, cronjob: Obj) -> list[Obj]:
        return await list_owned(client, JOB, cronjob)

    def plan(self, cronjob: Obj, jobs: list[Obj], now: datetime) -> list[Action]:
        return actions(cronjob, jobs, now)


class CronJobController(Controller[list[Obj]]):
    def __init__(self, client: Client, *, now: Callable[[], datetime] = utc_now,
                 workers: int = 2) -> None:
        super().__init__(client, DECLARATION, CronJobLogic(), now=now, workers=workers)

    def poke(self) -> None:
        """Look at every CronJob now (tests call this after moving their clock)."""
        for key in list(self.primaries.cache):
            self.queue.add(key)
