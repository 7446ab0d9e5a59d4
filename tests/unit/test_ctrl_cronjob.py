"""Cron schedules and the CronJob controller's pure plan (UTC, no DST)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from orchestrator.controllers.cron_schedule import ScheduleError, parse
from orchestrator.controllers.cronjob import SCHEDULED_ANNOTATION, job_name, plan

UTC = timezone.utc


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize("schedule,after,expected", [
    ("* * * * *", "2026-01-01T10:00:30", "2026-01-01T10:01:00"),
    ("*/15 * * * *", "2026-01-01T10:01:00", "2026-01-01T10:15:00"),
    ("5 4 * * *", "2026-01-01T04:05:00", "2026-01-02T04:05:00"),
    ("0 0 1 1 *", "2026-03-01T00:00:00", "2027-01-01T00:00:00"),
    ("@hourly", "2026-01-01T10:00:00", "2026-01-01T11:00:00"),
    ("@daily", "2026-01-31T23:59:00", "2026-02-01T00:00:00"),
    ("@weekly", "2026-01-01T00:00:00", "2026-01-04T00:00:00"),  # 2026-01-04 is a Sunday
    ("0 9 * * mon-fri", "2026-01-02T10:00:00", "2026-01-05T09:00:00"),
    ("0 0 29 2 *", "2026-01-01T00:00:00", "2028-02-29T00:00:00"),
    ("30 2 1,15 * *", "2026-01-01T03:00:00", "2026-01-15T02:30:00"),
    # Both day fields restricted: either matches (the 13th or a Friday).
    ("0 0 13 * 5", "2026-01-01T00:00:00", "2026-01-02T00:00:00"),
    ("0 12 * jan,jun *", "2026-02-01T00:00:00", "2026-06-01T12:00:00"),
    ("0 0 * * 7", "2026-01-01T00:00:00", "2026-01-04T00:00:00"),  # 7 is Sunday too
])
def test_next_time(schedule: str, after: str, expected: str) -> None:
    assert parse(schedule).next_after(at(after)) == at(expected)


def test_time_zone_prefix_and_field() -> None:
    tokyo = parse("CRON_TZ=Asia/Tokyo 0 9 * * *")
    assert tokyo.next_after(at("2026-01-01T00:30:00")) == at("2026-01-02T00:00:00")
    from zoneinfo import ZoneInfo
    assert parse("0 9 * * *").next_after(at("2026-01-01T00:30:00"), ZoneInfo("Asia/Tokyo")) \
        == at("2026-01-02T00:00:00")


@pytest.mark.parametrize("bad", ["* * * *", "61 * * * *", "* * * * mon-xyz", "*/0 * * * *",
                                 "CRON_TZ=Mars/Base * * * * *"])
def test_bad_schedules(bad: str) -> None:
    with pytest.raises(ScheduleError):
        parse(bad)


def cronjob(**spec: Any) -> dict[str, Any]:
    status = spec.pop("status", {})
    base = {"schedule": "* * * * *", "concurrencyPolicy": "Allow", "suspend": False,
            "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
            "jobTemplate": {"metadata": {"labels": {"app": "x"}},
                            "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}}
    base.update(spec)
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "cj", "namespace": "ns", "uid": "cu",
                         "creationTimestamp": "2026-01-01T10:00:10Z"},
            "spec": base, "status": status}


def job(name: str, done: str | None = None, uid: str | None = None,
        start: str = "2026-01-01T10:00:00Z") -> dict[str, Any]:
    status: dict[str, Any] = {"startTime": start}
    if done:
        status["conditions"] = [{"type": done, "status": "True"}]
        if done == "Complete":
            status["completionTime"] = start
    return {"metadata": {"name": name, "namespace": "ns", "uid": uid or name}, "status": status}


def test_nothing_due_before_first_minute() -> None:
    p = plan(cronjob(), [], at("2026-01-01T10:00:40"))
    assert p.create is None and p.requeue_after == pytest.approx(20.1)


def test_creates_job_for_the_most_recent_time() -> None:
    p = plan(cronjob(), [], at("2026-01-01T10:03:05"))
    assert p.create is not None
    assert p.create["metadata"]["name"] == job_name(cronjob(), at("2026-01-01T10:03:00"))
    assert p.create["metadata"]["labels"] == {"app": "x"}
    assert p.create["metadata"]["annotations"][SCHEDULED_ANNOTATION] == \
        "2026-01-01T10:03:00+00:00"
    assert p.create["metadata"]["ownerReferences"][0]["uid"] == "cu"
    assert p.status is not None and p.status["lastScheduleTime"] == "2026-01-01T10:03:00Z"


def test_forbid_and_replace() -> None:
    active = {"active": [{"name": "old", "uid": "old"}], "lastScheduleTime": "2026-01-01T10:01:00Z"}
    running = [job("old")]
    forbid = plan(cronjob(concurrencyPolicy="Forbid", status=dict(active)), running,
                  at("2026-01-01T10:02:01"))
    assert forbid.create is None
    replace = plan(cronjob(concurrencyPolicy="Replace", status=dict(active)), running,
                   at("2026-01-01T10:02:01"))
    assert replace.delete == ["old"] and replace.create is not None
    allow = plan(cronjob(status=dict(active)), running, at("2026-01-01T10:02:01"))
    assert allow.create is not None and allow.delete == []


def test_starting_deadline_missed() -> None:
    p = plan(cronjob(schedule="0 * * * *", startingDeadlineSeconds=10,
                     status={"lastScheduleTime": "2026-01-01T09:00:00Z"}), [],
             at("2026-01-01T10:00:30"))
    assert p.create is None
    assert not any(e[1] == "MissSchedule" for e in p.events)  # outside the window: skipped
    q = plan(cronjob(schedule="0 * * * *", startingDeadlineSeconds=60,
                     status={"lastScheduleTime": "2026-01-01T09:00:00Z"}), [],
             at("2026-01-01T10:00:30"))
    assert q.create is not None


def test_too_many_missed_still_runs_latest() -> None:
    p = plan(cronjob(status={"lastScheduleTime": "2025-12-01T00:00:00Z"}), [],
             at("2026-01-01T10:03:05"))
    assert p.create is not None
    assert p.create["metadata"]["name"] == job_name(cronjob(), at("2026-01-01T10:03:00"))
    assert any(e[1] == "TooManyMissedTimes" for e in p.events)


def test_suspended_creates_nothing() -> None:
    assert plan(cronjob(suspend=True), [], at("2026-01-01T10:05:00")).create is None


def test_finished_jobs_leave_active_and_history_is_trimmed() -> None:
    jobs = [job(f"ok{i}", "Complete", start=f"2026-01-01T10:0{i}:00Z") for i in range(5)]
    jobs += [job("bad0", "Failed"), job("bad1", "Failed", start="2026-01-01T10:09:00Z")]
    status = {"active": [{"name": "ok4", "uid": "ok4"}],
              "lastScheduleTime": "2026-01-01T10:04:00Z"}
    p = plan(cronjob(status=status), jobs, at("2026-01-01T10:04:30"))
    assert sorted(p.delete) == ["bad0", "ok0", "ok1"]
    assert p.status is not None and "active" not in p.status
    assert p.status["lastSuccessfulTime"] == "2026-01-01T10:04:00Z"
    assert any(e[1] == "SawCompletedJob" for e in p.events)


def test_unlisted_running_job_is_adopted_into_active() -> None:
    p = plan(cronjob(status={"lastScheduleTime": "2026-01-01T10:04:00Z"}), [job("stray")],
             at("2026-01-01T10:04:30"))
    assert p.status is not None and [r["name"] for r in p.status["active"]] == ["stray"]
