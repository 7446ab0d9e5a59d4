"""The Job controller's pure plan: counting, failure policies, indexes, finishing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from orchestrator.controllers.job_plan import (
    INDEX_KEY, TRACKING_FINALIZER, Backoff, format_indexes, match_pod_failure_policy,
    parse_indexes, plan,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


def job(**spec: Any) -> dict[str, Any]:
    status = spec.pop("status", {})
    base = {"completions": 1, "parallelism": 1, "backoffLimit": 6, "completionMode": "NonIndexed",
            "podReplacementPolicy": "TerminatingOrFailed",
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}},
            "template": {"metadata": {"labels": {"job-name": "j"}},
                         "spec": {"restartPolicy": "Never",
                                  "containers": [{"name": "main", "image": "x"}]}}}
    base.update(spec)
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "j", "namespace": "ns", "uid": "u"}, "spec": base,
            "status": status}


def pod(name: str, phase: str = "Running", *, finalizer: bool = True, index: int | None = None,
        exit_code: int | None = None, deleting: bool = False, restarts: int = 0,
        ready: bool = False) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": "ns", "uid": f"uid-{name}",
                          "creationTimestamp": "2026-01-01T11:00:00Z",
                          "finalizers": [TRACKING_FINALIZER] if finalizer else []}
    if index is not None:
        md["annotations"] = {INDEX_KEY: str(index)}
    if deleting:
        md["deletionTimestamp"] = "2026-01-01T11:59:00Z"
    cs: dict[str, Any] = {"name": "main", "restartCount": restarts, "state": {}}
    if exit_code is not None:
        cs["state"] = {"terminated": {"exitCode": exit_code}}
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    return {"metadata": md, "spec": {"nodeName": "n"},
            "status": {"phase": phase, "containerStatuses": [cs], "conditions": conditions}}


def cond(status: dict[str, Any] | None, ctype: str) -> tuple[str, str] | None:
    for c in (status or {}).get("conditions") or []:
        if c["type"] == ctype:
            return c["status"], c.get("reason", "")
    return None


def test_new_job_creates_parallelism_pods_with_finalizer() -> None:
    p = plan(job(completions=4, parallelism=2), [], NOW)
    assert len(p.create) == 2
    assert all(TRACKING_FINALIZER in c["metadata"]["finalizers"] for c in p.create)
    assert p.status is not None and p.status["active"] == 2
    assert p.status["startTime"] == "2026-01-01T12:00:00Z"


def test_finished_pods_are_counted_in_two_phases() -> None:
    pods = [pod("a", "Succeeded", exit_code=0), pod("b", "Failed", exit_code=1)]
    first = plan(job(completions=4, parallelism=2), pods, NOW)
    assert first.status is not None
    assert first.status["uncountedTerminatedPods"] == {"succeeded": ["uid-a"],
                                                       "failed": ["uid-b"]}
    assert first.status["succeeded"] == 0 and first.status["failed"] == 0
    assert sorted(first.remove_finalizer) == ["a", "b"]
    # The failure starts a back-off: no replacement yet, a wake-up instead.
    assert first.create == [] and first.requeue_after == 10.0
    # Finalizers removed: the uids move into the counts.
    after = [pod("a", "Succeeded", finalizer=False), pod("b", "Failed", finalizer=False)]
    second = plan(job(completions=4, parallelism=2, status=first.status), after,
                  NOW + timedelta(seconds=11), first.backoff)
    assert second.status is not None
    assert second.status["succeeded"] == 1 and second.status["failed"] == 1
    assert second.status["uncountedTerminatedPods"] == {}
    assert len(second.create) == 2


def test_backoff_limit_exceeded_is_two_phase() -> None:
    pods = [pod("a", "Failed", exit_code=1), pod("b")]
    first = plan(job(backoffLimit=0, parallelism=2, completions=2), pods, NOW)
    assert cond(first.status, "FailureTarget") == ("True", "BackoffLimitExceeded")
    assert cond(first.status, "Failed") is None
    assert first.terminate == ["b"]  # counted as failed once gone
    gone = [pod("a", "Failed", finalizer=False)]
    second = plan(job(backoffLimit=0, status=first.status), gone, NOW)
    assert cond(second.status, "Failed") == ("True", "BackoffLimitExceeded")
    assert "completionTime" not in (second.status or {})


def test_on_failure_restarts_count_toward_backoff_limit() -> None:
    spec_template = {"spec": {"restartPolicy": "OnFailure", "containers": [{"name": "m"}]}}
    p = plan(job(backoffLimit=2, template=spec_template), [pod("a", restarts=2)], NOW)
    assert cond(p.status, "FailureTarget") == ("True", "BackoffLimitExceeded")


def test_deleted_running_pod_counts_as_failure() -> None:
    p = plan(job(), [pod("a", deleting=True)], NOW)
    assert p.status is not None and p.status["uncountedTerminatedPods"] == {"failed": ["uid-a"]}
    replaced = plan(job(podReplacementPolicy="Failed"), [pod("a", deleting=True)], NOW)
    assert replaced.remove_finalizer == [] and replaced.create == []


def test_completes_when_completions_reached() -> None:
    status = {"succeeded": 1, "uncountedTerminatedPods": {}}
    p = plan(job(completions=2, status=status), [pod("b", "Succeeded", finalizer=False),
                                                  pod("c", "Succeeded")], NOW)
    assert cond(p.status, "SuccessCriteriaMet") == ("True", "CompletionsReached")
    assert cond(p.status, "Complete") is None  # c's finalizer must go first
    status2 = {**(p.status or {})}
    q = plan(job(completions=2, status=status2), [pod("c", "Succeeded", finalizer=False)], NOW)
    assert cond(q.status, "Complete") == ("True", "CompletionsReached")
    assert q.status is not None and q.status["succeeded"] == 2 and q.status["completionTime"]
    assert [e.reason for e in q.events] == ["Completed"]


def test_pod_failure_policy_rules() -> None:
    policy = {"rules": [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
        {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In",
                                              "values": [42]}},
        {"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [1, 2]}},
    ]}
    assert match_pod_failure_policy(policy, pod("a", "Failed", exit_code=42))[0] == "FailJob"
    assert match_pod_failure_policy(policy, pod("a", "Failed", exit_code=7))[0] == "Count"
    assert match_pod_failure_policy(policy, pod("a", "Failed", exit_code=1))[0] is None
    # Exit code 0 never matches, and only Failed pods are considered.
    assert match_pod_failure_policy(policy, pod("a", "Failed", exit_code=0))[0] is None
    assert match_pod_failure_policy(policy, pod("a", "Running", exit_code=42))[0] is None
    disrupted = pod("a", "Failed", exit_code=1)
    disrupted["status"]["conditions"].append({"type": "DisruptionTarget", "status": "True"})
    assert match_pod_failure_policy(policy, disrupted)[0] == "Ignore"

    ignored = plan(job(podFailurePolicy=policy, backoffLimit=0), [disrupted], NOW)
    assert ignored.status is not None and ignored.status["uncountedTerminatedPods"] == {}
    assert ignored.remove_finalizer == ["a"] and cond(ignored.status, "FailureTarget") is None
    assert len(ignored.create) == 1 and ignored.requeue_after is None
    failing = plan(job(podFailurePolicy=policy), [pod("a", "Failed", exit_code=42)], NOW)
    assert cond(failing.status, "FailureTarget") == ("True", "PodFailurePolicy")


def test_indexed_job_creates_missing_indexes_with_env_and_hostname() -> None:
    j = job(completions=4, parallelism=2, completionMode="Indexed",
            status={"completedIndexes": "0"})
    p = plan(j, [pod("j-1", index=1)], NOW)
    assert [c["metadata"]["annotations"][INDEX_KEY] for c in p.create] == ["2"]
    created = p.create[0]
    assert created["metadata"]["labels"][INDEX_KEY] == "2"
    assert created["metadata"]["generateName"] == "j-2-"
    assert created["spec"]["hostname"] == "j-2"
    env = created["spec"]["containers"][0]["env"]
    assert env == [{"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
        "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}]


def test_indexed_success_goes_to_completed_indexes() -> None:
    j = job(completions=3, parallelism=3, completionMode="Indexed",
            status={"completedIndexes": "0"})
    p = plan(j, [pod("a", "Succeeded", index=2), pod("b", index=1)], NOW)
    assert p.status is not None
    assert p.status["completedIndexes"] == "0,2" and p.status["succeeded"] == 2
    assert p.status["uncountedTerminatedPods"] == {}


def test_backoff_limit_per_index_fails_index_not_job() -> None:
    j = job(completions=3, parallelism=3, completionMode="Indexed", backoffLimitPerIndex=0,
            backoffLimit=2147483647)
    p = plan(j, [pod("a", "Failed", index=1, exit_code=1), pod("b", index=0),
                 pod("c", index=2)], NOW)
    assert p.status is not None and p.status["failedIndexes"] == "1"
    assert cond(p.status, "FailureTarget") is None
    done = plan(job(completions=2, parallelism=2, completionMode="Indexed",
                    backoffLimitPerIndex=0, backoffLimit=2147483647,
                    status={"completedIndexes": "0"}),
                [pod("a", "Failed", index=1, exit_code=1)], NOW)
    assert cond(done.status, "FailureTarget") == ("True", "FailedIndexes")


def test_active_deadline() -> None:
    started = {"startTime": "2026-01-01T11:59:50Z"}
    early = plan(job(activeDeadlineSeconds=30, status=dict(started)), [pod("a")], NOW)
    assert early.requeue_after == 20.0 and cond(early.status, "FailureTarget") is None
    late = plan(job(activeDeadlineSeconds=5, status=dict(started)), [pod("a")], NOW)
    assert cond(late.status, "FailureTarget") == ("True", "DeadlineExceeded")
    assert late.terminate == ["a"]


def test_suspend_deletes_uncounted_and_resume_restarts_clock() -> None:
    p = plan(job(suspend=True, parallelism=2, completions=2, status={"startTime": "x"}),
             [pod("a"), pod("b")], NOW)
    assert sorted(p.delete) == ["a", "b"] and p.terminate == []
    assert cond(p.status, "Suspended") == ("True", "JobSuspended")
    assert p.status is not None and "startTime" not in p.status
    resumed = plan(job(parallelism=2, completions=2, status=p.status), [], NOW)
    assert cond(resumed.status, "Suspended") == ("False", "JobResumed")
    assert len(resumed.create) == 2 and resumed.status is not None
    assert resumed.status["startTime"] == "2026-01-01T12:00:00Z"


def test_scale_down_deletes_pending_first() -> None:
    pods = [pod("run", ready=True), pod("pend", "Pending")]
    p = plan(job(parallelism=1, completions=5), pods, NOW)
    assert p.delete == ["pend"]


def test_ttl_after_finished() -> None:
    done = {"completionTime": "2026-01-01T11:59:00Z",
            "conditions": [{"type": "Complete", "status": "True"}]}
    soon = plan(job(ttlSecondsAfterFinished=120, status=done), [], NOW)
    assert not soon.delete_job and soon.requeue_after == 60.0
    assert plan(job(ttlSecondsAfterFinished=30, status=done), [], NOW).delete_job


def test_backoff_delay_doubles() -> None:
    b = Backoff(3, NOW)
    assert b.delay(NOW) == 40.0
    assert b.delay(NOW + timedelta(seconds=50)) == 0.0
    assert Backoff(20, NOW).delay(NOW) == 360.0


def test_index_notation_round_trips() -> None:
    assert format_indexes([5, 0, 1, 2, 7, 8]) == "0-2,5,7-8"
    assert parse_indexes("0-2,5,7-8") == {0, 1, 2, 5, 7, 8}
    assert parse_indexes("") == set()
