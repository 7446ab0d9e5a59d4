"""How the user layer reads the API's refusals of pods it asked for: a Job's FailedCreate
Events (daskhub_lite.jobs.state) and a Dask cluster's ReplicaSet conditions
(daskhub_lite.clusters.kube)."""

from __future__ import annotations

from typing import Any

from daskhub_lite.clusters.kube import creation_refusals
from daskhub_lite.jobs.state import refusal, summarize

QUOTA = ('pods "train-abc" is forbidden: exceeded quota: user-quota, requested: '
         'requests.nvidia.com/gpu=1, used: requests.nvidia.com/gpu=1, limited: '
         'requests.nvidia.com/gpu=1')


def event(reason: str, message: str, when: str) -> dict[str, Any]:
    return {"reason": reason, "message": message, "lastTimestamp": when, "count": 1}


def test_the_newest_failed_create_is_the_refusal() -> None:
    events = [event("FailedCreate", "Error creating: old", "2026-01-01T00:00:01Z"),
              event("FailedCreate", f"Error creating: {QUOTA}", "2026-01-01T00:00:05Z"),
              event("SuccessfulCreate", "Created pod: x", "2026-01-01T00:00:00Z")]
    assert refusal(events) == QUOTA
    # A pod made since the refusal: creating works again.
    assert refusal(events, newest_pod="2026-01-01T00:00:06Z") == ""
    assert refusal([event("SuccessfulCreate", "Created pod: x", "2026-01-01T00:00:00Z")]) == ""


def test_a_job_with_no_live_pod_reports_the_refusal() -> None:
    job = {"metadata": {"name": "train"}, "spec": {"completions": 1}, "status": {}}
    events = [event("FailedCreate", f"Error creating: {QUOTA}", "2026-01-01T00:00:05Z")]
    state = summarize(job, [], events)
    assert state.phase == "Pending" and state.refused == QUOTA
    assert state.line().endswith(f"; refused: {QUOTA}")
    running = {"metadata": {"name": "train-x", "creationTimestamp": "2026-01-01T00:00:01Z"},
               "status": {"phase": "Running"}}
    assert summarize(job, [running], events).refused == ""
    assert summarize(job, [], []).refused == ""


def test_replica_set_failures_are_the_clusters_refusals() -> None:
    def rs(*conditions: dict[str, str]) -> dict[str, Any]:
        return {"status": {"conditions": list(conditions)}}

    failed = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
              "message": QUOTA}
    assert creation_refusals([rs(failed), rs(failed), rs()]) == [QUOTA]
    assert creation_refusals([rs({**failed, "status": "False"})]) == []
