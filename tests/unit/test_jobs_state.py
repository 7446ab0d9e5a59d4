"""Reading a job's state from its Job and pods."""

from __future__ import annotations

from typing import Any

from daskhub_lite.jobs.state import exit_summary, failed_pods, summarize


def job(conditions: list[dict[str, Any]] | None = None, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "t"}, "spec": {"completions": 2},
            "status": {**status, "conditions": conditions or []}}


def pod(name: str, phase: str, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "creationTimestamp": status.pop("created", "")},
            "status": {"phase": phase, **status}}


def test_pending_then_running_then_succeeded() -> None:
    assert summarize(job(active=1), [pod("a", "Pending")]).phase == "Pending"
    assert summarize(job(active=1), [pod("a", "Running")]).phase == "Running"
    # A finished pod the controller has not counted yet is not "Pending" again.
    assert summarize(job(), [pod("a", "Succeeded")]).phase == "Running"
    done = summarize(job([{"type": "Complete", "status": "True"}], succeeded=2), [])
    assert done.phase == "Succeeded" and done.done and "2/2 succeeded" in done.line()


def test_failed_with_reason() -> None:
    state = summarize(job([{"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
                            "message": "Job was active longer than specified deadline"}],
                          failed=1), [])
    assert (state.phase, state.reason) == ("Failed", "DeadlineExceeded")
    assert "deadline" in state.message


def test_unschedulable_reason_surfaces() -> None:
    p = pod("a", "Pending", conditions=[{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": "0/2 nodes are available: 2 node(s) didn't have the requested GPU model"}])
    state = summarize(job(active=1), [p])
    assert state.phase == "Pending" and "GPU model" in state.unschedulable
    assert "unschedulable:" in state.line()


def test_config_error_surfaces() -> None:
    p = pod("a", "Pending", containerStatuses=[{"state": {"waiting": {
        "reason": "CreateContainerConfigError", "message": 'secret "s" not found'}}}])
    state = summarize(job(active=1), [p])
    assert state.reason == "CreateContainerConfigError" and "secret" in state.message


def test_failed_pods_newest_last_and_exit_summary() -> None:
    a = pod("a", "Failed", startTime="2026-01-01T00:00:01Z", containerStatuses=[
        {"state": {"terminated": {"exitCode": 3, "reason": "Error"}}}])
    b = pod("b", "Failed", startTime="2026-01-01T00:00:05Z")
    assert [p["metadata"]["name"] for p in failed_pods([b, pod("c", "Running"), a])] == \
        ["a", "b"]
    assert exit_summary(a) == "exit code 3 (Error)"
