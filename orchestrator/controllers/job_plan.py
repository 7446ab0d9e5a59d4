"""The Job controller's pure half: from a Job and its pods, decide what to do.

Semantics follow kube-controller-manager's job controller:

- Pods carry the `batch.kubernetes.io/job-tracking` finalizer so a finished pod is counted
  even if it is deleted right after. Counting is two-phase, as upstream: a finished pod's
  uid first goes into `status.uncountedTerminatedPods` (written before its finalizer is
  removed); once the finalizer is gone the uid moves into `succeeded`/`failed`. Indexed Jobs
  record successes straight into `completedIndexes`.
- Finishing is two-phase too: an interim `FailureTarget`/`SuccessCriteriaMet` condition is
  written first, remaining pods are terminated, and only then `Failed`/`Complete`.
- Replacement pods after failures wait an exponential back-off (10s doubling, 6 min cap),
  counted from failures since the last success.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable

from orchestrator.api.meta import now_rfc3339, parse_time
from orchestrator.api.workloads import condition, pod_from_template, set_condition
from orchestrator.client import (
    Action, Create, Delete, Kind, Patch, Record, RequeueAfter, WriteStatus,
)

Obj = dict[str, Any]

JOB = Kind("batch/v1", "Job")
POD = Kind("v1", "Pod")

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
INDEX_KEY = "batch.kubernetes.io/job-completion-index"
INDEX_FAILURES_KEY = "batch.kubernetes.io/job-index-failure-count"
INDEX_ENV = "JOB_COMPLETION_INDEX"
BACKOFF_BASE = 10.0
BACKOFF_MAX = 360.0


@dataclass
class Backoff:
    """Failures since the last success, kept in memory as upstream's backoff store."""

    failures: int = 0
    last_failure: datetime | None = None

    def delay(self, now: datetime) -> float:
        """Seconds to wait before creating replacement pods."""
        if self.failures <= 0 or self.last_failure is None:
            return 0.0
        wanted = min(BACKOFF_MAX, BACKOFF_BASE * 2.0 ** (self.failures - 1))
        return max(0.0, wanted - (now - self.last_failure).total_seconds())


@dataclass(frozen=True)
class Observed:
    pods: list[Obj]  # the pods this Job controls
    backoff: Backoff | None = None  # failures remembered from earlier passes


@dataclass
class Event:
    type: str
    reason: str
    message: str


@dataclass
class JobPlan:
    status: Obj | None = None  # the new status, when it differs
    create: list[Obj] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)  # finalizer removed first: not counted
    terminate: list[str] = field(default_factory=list)  # finalizer kept: counted as failed
    remove_finalizer: list[str] = field(default_factory=list)  # after the status is written
    events: list[Event] = field(default_factory=list)
    delete_job: bool = False  # ttlSecondsAfterFinished ran out
    requeue_after: float | None = None
    backoff: Backoff = field(default_factory=Backoff)

    def wake(self, seconds: float) -> None:
        if self.requeue_after is None or seconds < self.requeue_after:
            self.requeue_after = max(0.05, seconds)


# -- small pure helpers -------------------------------------------------------------------

def format_indexes(indexes: Iterable[int]) -> str:
    """`completedIndexes` notation: sorted, runs collapsed (`0-2,5`)."""
    out: list[str] = []
    ordered = sorted(set(indexes))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(out)


def parse_indexes(text: str | None) -> set[int]:
    result: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            result.update(range(int(lo), int(hi) + 1))
        else:
            result.add(int(part))
    return result


def pod_index(pod: Obj) -> int | None:
    md = pod.get("metadata") or {}
    raw = (md.get("annotations") or {}).get(INDEX_KEY) or (md.get("labels") or {}).get(INDEX_KEY)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _index_failures(pod: Obj) -> int:
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(INDEX_FAILURES_KEY, "0")
    try:
        return int(raw)
    except ValueError:
        return 0


def _has_finalizer(pod: Obj) -> bool:
    return TRACKING_FINALIZER in ((pod.get("metadata") or {}).get("finalizers") or [])


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def _deleting(pod: Obj) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def _is_true(obj: Obj, ctype: str) -> bool:
    c = condition(obj, ctype)
    return c is not None and c.get("status") == "True"


def is_finished(job: Obj) -> bool:
    return _is_true(job, "Complete") or _is_true(job, "Failed")


def _ready(pod: Obj) -> bool:
    c = condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


# -- pod failure policy -------------------------------------------------------------------

def match_pod_failure_policy(policy: Obj | None, pod: Obj) -> tuple[str | None, str]:
    """The action of the first matching rule (None: no rule matched) and a message.

    Only pods in phase Failed are matched; exit code 0 never matches, and regular
    containers are checked before init containers, as upstream does.
    """
    if not policy or _phase(pod) != "Failed":
        return None, ""
    status = pod.get("status") or {}
    md = pod.get("metadata") or {}
    pod_ref = f"{md.get('namespace', '')}/{md.get('name', '')}"
    for i, rule in enumerate(policy.get("rules") or []):
        action = str(rule.get("action", ""))
        on_codes = rule.get("onExitCodes")
        if on_codes:
            for statuses in (status.get("containerStatuses"), status.get("initContainerStatuses")):
                hit = _matching_container(statuses or [], on_codes)
                if hit is not None:
                    return action, (f"Container {hit[0]} for pod {pod_ref} failed with exit "
                                    f"code {hit[1]} matching {action} rule at index {i}")
            continue
        for pattern in rule.get("onPodConditions") or []:
            for c in status.get("conditions") or []:
                if c.get("type") == pattern.get("type") and c.get("status") == pattern.get(
                        "status", "True"):
                    return action, (f"Pod {pod_ref} has condition {c.get('type')} matching "
                                    f"{action} rule at index {i}")
    return None, ""


def _matching_container(statuses: list[Obj], req: Obj) -> tuple[str, int] | None:
    values = set(int(v) for v in req.get("values") or [])
    for cs in statuses:
        terminated = (cs.get("state") or {}).get("terminated")
        if not terminated:
            continue
        if req.get("containerName") and req["containerName"] != cs.get("name"):
            continue
        code = int(terminated.get("exitCode", 0))
        if code == 0:
            continue
        inside = code in values
        if (req.get("operator") == "In") == inside:
            return str(cs.get("name")), code
    return None


def _restarts_past_limit(spec: Obj, pods: list[Obj]) -> bool:
    """restartPolicy OnFailure: container restarts in running pods count as failures."""
    if ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy") != "OnFailure":
        return False
    restarts = 0
    for pod in pods:
        if _phase(pod) not in ("Pending", "Running"):
            continue
        status = pod.get("status") or {}
        for cs in (status.get("initContainerStatuses") or []) + (
                status.get("containerStatuses") or []):
            restarts += int(cs.get("restartCount") or 0)
    limit = int(spec.get("backoffLimit", 6))
    return restarts > 0 if limit == 0 else restarts >= limit


# -- pods made from the template ----------------------------------------------------------

def new_pod(job: Obj, index: int | None, failures: int = 0) -> Obj:
    """A pod for `job` (at `index` for Indexed Jobs), carrying the tracking finalizer."""
    spec = job.get("spec") or {}
    name = job["metadata"]["name"]
    template = copy.deepcopy(spec.get("template") or {})
    annotations: dict[str, str] = {}
    labels: dict[str, str] = {}
    generate = f"{name}-"
    if index is not None:
        annotations[INDEX_KEY] = labels[INDEX_KEY] = str(index)
        if spec.get("backoffLimitPerIndex") is not None:
            annotations[INDEX_FAILURES_KEY] = str(failures)
        generate = f"{name}-{index}-"
        pod_spec = template.setdefault("spec", {})
        if not pod_spec.get("hostname"):
            pod_spec["hostname"] = f"{name}-{index}"[:63].rstrip("-.")
        # As upstream: the index reaches processes through the downward API.
        for key in ("initContainers", "containers"):
            for container in pod_spec.get(key) or []:
                env = container.setdefault("env", [])
                if not any(e.get("name") == INDEX_ENV for e in env):
                    env.append({"name": INDEX_ENV, "valueFrom": {"fieldRef": {
                        "fieldPath": f"metadata.annotations['{INDEX_KEY}']"}}})
    pod = pod_from_template(template, job, generate_name=generate, extra_labels=labels,
                            extra_annotations=annotations)
    finalizers = pod["metadata"].setdefault("finalizers", [])
    if TRACKING_FINALIZER not in finalizers:
        finalizers.append(TRACKING_FINALIZER)
    return pod


def _removal_order(pod: Obj) -> tuple[int, int, str]:
    """Sort key: pods to remove first come first (unscheduled, pending, not ready, newest)."""
    scheduled = 1 if (pod.get("spec") or {}).get("nodeName") else 0
    progress = 0 if _phase(pod) == "Pending" else 1 if not _ready(pod) else 2
    created = str((pod.get("metadata") or {}).get("creationTimestamp", ""))
    # Newer pods have done less work: invert the timestamp's order by sorting on its negation.
    return (scheduled, progress, "".join(chr(0x10FFFF - ord(ch)) for ch in created))


# -- the plan -----------------------------------------------------------------------------

def plan(job: Obj, pods: list[Obj], now: datetime, backoff: Backoff | None = None) -> JobPlan:
    """What to do for `job`, given the pods it controls, at time `now`."""
    spec = job.get("spec") or {}
    old_status = job.get("status") or {}
    status = copy.deepcopy(old_status)
    stamp = now_rfc3339(now)
    result = JobPlan(backoff=copy.copy(backoff or Backoff()))

    if is_finished(job):
        result.remove_finalizer = [p["metadata"]["name"] for p in pods if _has_finalizer(p)]
        _ttl(job, now, result)
        return result

    indexed = spec.get("completionMode") == "Indexed"
    completions = spec.get("completions")
    parallelism = int(spec.get("parallelism", 1))
    suspended = bool(spec.get("suspend"))
    replace_only_failed = spec.get("podReplacementPolicy") == "Failed"
    per_index_limit = spec.get("backoffLimitPerIndex")
    finishing = _is_true(job, "FailureTarget") or _is_true(job, "SuccessCriteriaMet")

    # -- count finished pods (two-phase, see module doc) ----------------------------------
    uncounted = status.get("uncountedTerminatedPods") or {}
    unc_ok = list(uncounted.get("succeeded") or [])
    unc_failed = list(uncounted.get("failed") or [])
    by_uid = {p["metadata"].get("uid"): p for p in pods}
    succeeded = int(status.get("succeeded") or 0)
    failed = int(status.get("failed") or 0)
    for uid in list(unc_ok):
        if uid not in by_uid or not _has_finalizer(by_uid[uid]):
            unc_ok.remove(uid)
            succeeded += 1
    for uid in list(unc_failed):
        if uid not in by_uid or not _has_finalizer(by_uid[uid]):
            unc_failed.remove(uid)
            failed += 1
    completed = parse_indexes(status.get("completedIndexes"))
    failed_indexes = parse_indexes(status.get("failedIndexes"))
    failure_target: tuple[str, str] | None = None
    new_failures = new_successes = 0
    for pod in pods:
        uid = pod["metadata"].get("uid")
        if not _has_finalizer(pod) or uid in unc_ok or uid in unc_failed:
            continue
        phase = _phase(pod)
        is_failed = phase == "Failed" or (
            _deleting(pod) and phase != "Succeeded" and (not replace_only_failed or finishing))
        if phase == "Succeeded":
            idx = pod_index(pod)
            if indexed:
                if idx is not None and (completions is None or idx < int(completions)) \
                        and idx not in failed_indexes:
                    completed.add(idx)
            else:
                unc_ok.append(uid)
            new_successes += 1
            result.remove_finalizer.append(pod["metadata"]["name"])
        elif is_failed:
            action, message = match_pod_failure_policy(spec.get("podFailurePolicy"), pod)
            result.remove_finalizer.append(pod["metadata"]["name"])
            if action == "Ignore":
                continue  # neither counted nor backed off: a plain replacement follows
            unc_failed.append(uid)
            new_failures += 1
            idx = pod_index(pod)
            if action == "FailJob" and failure_target is None:
                failure_target = ("PodFailurePolicy", message)
            elif action == "FailIndex" and idx is not None:
                failed_indexes.add(idx)
            elif indexed and per_index_limit is not None and idx is not None:
                if _index_failures(pod) + 1 > int(per_index_limit):
                    failed_indexes.add(idx)
    if new_successes:
        result.backoff = Backoff()
    if new_failures:
        result.backoff = Backoff(result.backoff.failures + new_failures, now)
    if indexed:
        succeeded_total = len(completed)
    else:
        succeeded_total = succeeded + len(unc_ok)
    failed_total = failed + len(unc_failed)

    active = [p for p in pods if _phase(p) not in ("Succeeded", "Failed") and not _deleting(p)]
    terminating = [p for p in pods if _phase(p) not in ("Succeeded", "Failed") and _deleting(p)]
    if indexed:
        # A pod whose index already completed or failed has nothing left to do.
        extra = [p for p in active if pod_index(p) is None or pod_index(p) in completed
                 or pod_index(p) in failed_indexes
                 or (completions is not None and (pod_index(p) or 0) >= int(completions))]
        if extra:
            result.delete += [p["metadata"]["name"] for p in extra]
            active = [p for p in active if p not in extra]

    # -- start time (reset on resume, so activeDeadlineSeconds restarts) -------------------
    if suspended:
        status.pop("startTime", None)
    elif not status.get("startTime"):
        status["startTime"] = stamp

    # -- decide whether the Job has failed or succeeded -----------------------------------
    if not finishing:
        reason_message = failure_target
        if reason_message is None and (
                failed_total > int(spec.get("backoffLimit", 6))
                or _restarts_past_limit(spec, active)):
            reason_message = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        if reason_message is None and indexed and spec.get("maxFailedIndexes") is not None \
                and len(failed_indexes) > int(spec["maxFailedIndexes"]):
            reason_message = ("MaxFailedIndexesExceeded",
                              "Job has exceeded the specified maximal number of failed indexes")
        deadline = spec.get("activeDeadlineSeconds")
        if reason_message is None and deadline is not None and status.get("startTime") \
                and not suspended:
            ends = parse_time(status["startTime"]) + timedelta(seconds=int(deadline))
            if now >= ends:
                reason_message = ("DeadlineExceeded", "Job was active longer than specified deadline")
            else:
                result.wake((ends - now).total_seconds())
        if reason_message is None and indexed and completions is not None and failed_indexes \
                and len(completed) + len(failed_indexes) >= int(completions):
            reason_message = ("FailedIndexes", "Job has failed indexes")
        if reason_message is not None:
            set_condition(status, "FailureTarget", "True", *reason_message, now=stamp)
            result.events.append(Event("Warning", *reason_message))
            finishing = True
        else:
            success = _success(spec, indexed, completions, succeeded_total, completed, active)
            if success is not None:
                set_condition(status, "SuccessCriteriaMet", "True", *success, now=stamp)
                finishing = True

    # -- act --------------------------------------------------------------------------------
    want_active = len(active)
    if finishing:
        # Failing: remaining pods are terminated and counted as failed. Succeeding: they
        # are no longer needed, so they go uncounted.
        names = [p["metadata"]["name"] for p in active]
        if _is_true({"status": status}, "FailureTarget"):
            result.terminate += names
        else:
            result.delete += names
        want_active = 0
        if not active and not terminating_with_finalizer(terminating) and not unc_ok \
                and not unc_failed and not result.remove_finalizer:
            _finish(status, stamp, result)
    elif suspended:
        result.delete += [p["metadata"]["name"] for p in active]
        want_active = 0
        if set_condition(status, "Suspended", "True", "JobSuspended", "Job suspended", now=stamp):
            result.events.append(Event("Normal", "Suspended", "Job suspended"))
    else:
        if condition(job, "Suspended") is not None and set_condition(
                status, "Suspended", "False", "JobResumed", "Job resumed", now=stamp):
            result.events.append(Event("Normal", "Resumed", "Job resumed"))
        busy = len(active) + (len(terminating) if replace_only_failed else 0)
        want_active = _wanted(indexed, completions, parallelism, succeeded_total, completed,
                              failed_indexes, len(active))
        if len(active) > want_active:
            victims = sorted(active, key=_removal_order)[: len(active) - want_active]
            result.delete += [p["metadata"]["name"] for p in victims]
        elif busy < want_active:
            delay = result.backoff.delay(now)
            if delay > 0:
                result.wake(delay)
                want_active = len(active)
            else:
                result.create = _pods_to_create(job, pods, active, completed, failed_indexes,
                                                want_active - busy, indexed)
                want_active = len(active) + len(result.create)

    # -- status --------------------------------------------------------------------------
    status["active"] = want_active if not finishing else 0
    status["ready"] = sum(1 for p in active if _ready(p)) if not finishing else 0
    status["terminating"] = len(terminating) + len(result.terminate) + len(result.delete)
    status["succeeded"] = succeeded_total if indexed else succeeded
    status["failed"] = failed
    if indexed:
        status["completedIndexes"] = format_indexes(completed)
        if per_index_limit is not None:
            status["failedIndexes"] = format_indexes(failed_indexes)
    status["uncountedTerminatedPods"] = {k: v for k, v in (("succeeded", unc_ok),
                                                           ("failed", unc_failed)) if v}
    if status != old_status:
        result.status = status
    return result


def terminating_with_finalizer(pods: list[Obj]) -> bool:
    return any(_has_finalizer(p) for p in pods)


def _success(spec: Obj, indexed: bool, completions: Any, succeeded: int, completed: set[int],
             active: list[Obj]) -> tuple[str, str] | None:
    """(reason, message) once the Job has succeeded, else None."""
    for i, rule in enumerate((spec.get("successPolicy") or {}).get("rules") or []):
        pool = completed
        if rule.get("succeededIndexes") is not None:
            pool = completed & parse_indexes(rule["succeededIndexes"])
            need = int(rule.get("succeededCount") or len(parse_indexes(rule["succeededIndexes"])))
        else:
            need = int(rule.get("succeededCount") or 0)
        if indexed and need and len(pool) >= need:
            return "SuccessPolicy", f"Matched rules at index {i}"
    if completions is None:
        if succeeded > 0 and not active:
            return "CompletionsReached", "Reached expected number of succeeded pods"
        return None
    done = len(completed) if indexed else succeeded
    if done >= int(completions):
        return "CompletionsReached", "Reached expected number of succeeded pods"
    return None


def _wanted(indexed: bool, completions: Any, parallelism: int, succeeded: int,
            completed: set[int], failed_indexes: set[int], active: int) -> int:
    if completions is None:
        # Work-queue Jobs: once one pod succeeded, no new pods are started.
        return active if succeeded > 0 else parallelism
    remaining = int(completions) - (len(completed) + len(failed_indexes) if indexed else succeeded)
    return max(0, min(parallelism, remaining))


def _pods_to_create(job: Obj, pods: list[Obj], active: list[Obj], completed: set[int],
                    failed_indexes: set[int], count: int, indexed: bool) -> list[Obj]:
    if not indexed:
        return [new_pod(job, None) for _ in range(count)]
    completions = int((job.get("spec") or {}).get("completions") or 0)
    busy = {pod_index(p) for p in active}
    failures: dict[int, int] = {}
    for p in pods:
        idx = pod_index(p)
        if idx is None:
            continue
        seen = _index_failures(p) + (1 if _phase(p) == "Failed" else 0)
        failures[idx] = max(failures.get(idx, 0), seen)
    out: list[Obj] = []
    for idx in range(completions):
        if len(out) >= count:
            break
        if idx in completed or idx in failed_indexes or idx in busy:
            continue
        out.append(new_pod(job, idx, failures.get(idx, 0)))
    return out


def _finish(status: Obj, stamp: str, result: JobPlan) -> None:
    target = condition({"status": status}, "FailureTarget")
    if target is not None and target.get("status") == "True":
        set_condition(status, "Failed", "True", target.get("reason", ""),
                      target.get("message", ""), now=stamp)
    else:
        met = condition({"status": status}, "SuccessCriteriaMet") or {}
        set_condition(status, "Complete", "True", met.get("reason", ""),
                      met.get("message", ""), now=stamp)
        status["completionTime"] = stamp
        result.events.append(Event("Normal", "Completed", "Job completed"))


def _ttl(job: Obj, now: datetime, result: JobPlan) -> None:
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    if ttl is None:
        return
    status = job.get("status") or {}
    finished_at = status.get("completionTime")
    if not finished_at:
        for ctype in ("Complete", "Failed"):
            c = condition(job, ctype)
            if c and c.get("status") == "True":
                finished_at = c.get("lastTransitionTime")
    if not finished_at:
        return
    expires = parse_time(finished_at) + timedelta(seconds=int(ttl))
    if now >= expires:
        result.delete_job = True
    else:
        result.wake((expires - now).total_seconds())


def release_finalizer(pod_name: str) -> Patch:
    """Let a pod go: remove the tracking finalizer (a pod already gone is fine)."""
    return Patch(POD, pod_name, {"metadata": {
        "$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER]}}, patch_type="strategic")


def actions(job: Obj, observed: Observed, now: datetime) -> tuple[list[Action], Backoff]:
    """The plan as the controller builder's actions, in the order they are applied (the
    status before finalizers come off, so a finished pod is never uncounted), and the
    back-off to remember for the next pass."""
    decision = plan(job, observed.pods, now, observed.backoff)
    md = job["metadata"]
    if decision.delete_job:  # ttlSecondsAfterFinished ran out
        return [Delete(JOB, md["name"], uid=md["uid"], propagation="Background")], \
            decision.backoff
    uids = {p["metadata"]["name"]: p["metadata"].get("uid") for p in observed.pods}
    deleted = Record("Normal", "SuccessfulDelete", "Deleted pod: {name}")
    out: list[Action] = []
    if decision.status is not None:
        out.append(WriteStatus(decision.status))
    out += [release_finalizer(name) for name in decision.remove_finalizer]
    for name in decision.delete:
        out += [release_finalizer(name),
                Delete(POD, name, uid=uids.get(name), on_deleted=deleted)]
    out += [Delete(POD, name, uid=uids.get(name), on_deleted=deleted)
            for name in decision.terminate]
    out += [Create(POD, pod, on_created=Record("Normal", "SuccessfulCreate", "Created pod: {name}"),
                   on_failed=Record("Warning", "FailedCreate", "Error creating: {error}"))
            for pod in decision.create]
    out += [Record(e.type, e.reason, e.message) for e in decision.events]
    if decision.requeue_after is not None:
        out.append(RequeueAfter(decision.requeue_after))
    return out, decision.backoff
