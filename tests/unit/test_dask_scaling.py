"""Scale-down and adaptive planning (pure), the idle reaper's rule, launcher validation and
CLI rows."""

from __future__ import annotations

import pytest

from daskhub_lite.clusters import cli, launcher_form, reaper, scaling
from daskhub_lite.clusters.spec import HEARTBEAT_ANNOTATION, IDLE_TIMEOUT_ANNOTATION


def test_scale_down_takes_pending_workers_first() -> None:
    deployments = ["w1", "w2", "w3", "w4"]  # oldest first; w4 never connected
    plan = scaling.plan_scale_down(deployments, {"w1", "w2", "w3"}, 2)
    assert plan.delete_now == ["w4"] and plan.retire == ["w3"]


def test_scale_down_follows_scheduler_choice() -> None:
    plan = scaling.plan_scale_down(["w1", "w2", "w3"], {"w1", "w2", "w3"}, 1, ["w2", "zz"])
    assert plan.delete_now == [] and plan.retire == ["w2", "w3"]
    assert plan.count == 2


def test_scale_down_nothing_to_do() -> None:
    assert scaling.plan_scale_down(["w1"], {"w1"}, 3).count == 0
    assert scaling.plan_scale_down([], set(), 0).count == 0


def test_group_target_and_bounds() -> None:
    assert scaling.group_target(10, 3, 1, 4) == 4
    assert scaling.group_target(2, 3, 1, 4) == 1
    assert scaling.group_target(5, 3, 0, 4) == 2
    with pytest.raises(ValueError):
        scaling.validate_bounds(-1, 3)
    with pytest.raises(ValueError):
        scaling.validate_bounds(3, 2)


def test_reaper_rule() -> None:
    ann = {IDLE_TIMEOUT_ANNOTATION: "60", HEARTBEAT_ANNOTATION: "1000"}
    assert not reaper.is_stale(ann, 1059)
    assert reaper.is_stale(ann, 1061)
    assert not reaper.is_stale({HEARTBEAT_ANNOTATION: "0"}, 10**9)  # not ours: never reaped
    assert not reaper.is_stale({IDLE_TIMEOUT_ANNOTATION: "0", HEARTBEAT_ANNOTATION: "0"}, 10**9)
    clusters = [{"metadata": {"name": "a", "namespace": "x", "annotations": ann}},
                {"metadata": {"name": "b", "namespace": "x", "annotations": ann,
                              "deletionTimestamp": "2026-01-01T00:00:00Z"}},
                {"metadata": {"name": "c", "namespace": "y"}}]
    assert reaper.stale_clusters(clusters, 2000) == [("x", "a")]
    assert reaper.heartbeat_interval(600) == 30 and reaper.heartbeat_interval(2) == 1


def _req(**kw: object) -> launcher_form.Request:
    base = dict(profile="cpu-small", workers=2, cores=1.0, memory="2Gi", gpus=0)
    base.update(kw)
    return launcher_form.Request(**base)  # type: ignore[arg-type]


def test_launcher_form_checks() -> None:
    assert launcher_form.problems(_req(), None) == []
    assert "Workers must be 0 or more" in launcher_form.problems(_req(workers=-1), None)[0]
    assert "no node has that many" in launcher_form.problems(_req(gpus=3), 2)[0]
    assert launcher_form.problems(_req(gpus=2), 2) == []
    assert "does not exist" in launcher_form.problems(_req(profile="nope"), None)[0]
    assert "Memory" in launcher_form.problems(_req(memory="lots"), None)[0]
    assert "Cores" in launcher_form.problems(_req(cores=0), None)[0]


def test_cli_rows() -> None:
    clusters = [{"metadata": {"name": "c1", "namespace": "ns", "creationTimestamp":
                              "2026-01-01T00:00:00Z",
                              "annotations": {"daskhub-lite.io/profile": "gpu"}},
                 "spec": {"worker": {"replicas": 2}}, "status": {"phase": "Running"}}]
    groups = [{"metadata": {"name": "c1-default", "namespace": "ns"},
               "spec": {"cluster": "c1", "worker": {"replicas": 2}}},
              {"metadata": {"name": "c1-gpu", "namespace": "ns"},
               "spec": {"cluster": "c1", "worker": {"replicas": 1}}}]
    now = 1767225600 + 125  # 2026-01-01T00:02:05Z
    assert cli.cluster_rows(clusters, groups, False, now) == [
        ["c1", "3", "default=2,gpu=1", "gpu", "Running", "2m"]]
    out = cli.table(["NAME", "WORKERS"], [["c1", "3"]])
    assert out.splitlines()[0].startswith("NAME   WORKERS")
