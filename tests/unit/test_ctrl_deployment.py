"""The Deployment controller's pure rollout arithmetic, driven step by step."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from orchestrator.controllers import deployment_rollout as ro


def deploy(replicas: int = 10, surge: Any = "25%", unavailable: Any = "25%",
           strategy: str = "RollingUpdate", **spec: Any) -> dict[str, Any]:
    strat: dict[str, Any] = {"type": strategy}
    if strategy == "RollingUpdate":
        strat["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {"metadata": {"name": "web", "namespace": "default", "uid": "d-uid",
                         "generation": 2, "annotations": {"kubernetes.io/change-cause": "v2"}},
            "spec": {"replicas": replicas, "strategy": strat, "revisionHistoryLimit": 2,
                     "progressDeadlineSeconds": 600,
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "v2"}]}},
                     **spec}}


def rs(name: str, replicas: int, available: int | None = None, *, revision: int = 1,
       created: str = "2024-01-01T00:00:00Z", image: str = "v1",
       annotations: dict[str, str] | None = None) -> dict[str, Any]:
    available = replicas if available is None else available
    return {"metadata": {"name": name, "creationTimestamp": created, "generation": 1,
                         "annotations": {ro.REVISION: str(revision), **(annotations or {})}},
            "spec": {"replicas": replicas,
                     "template": {"metadata": {"labels": {"app": "web",
                                                          "pod-template-hash": name}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}},
            "status": {"replicas": replicas, "readyReplicas": available,
                       "availableReplicas": available, "observedGeneration": 1}}


@pytest.mark.parametrize("surge,unavailable,replicas,expected", [
    ("25%", "25%", 10, (3, 2)),
    ("25%", "25%", 4, (1, 1)),
    (0, 0, 3, (0, 1)),          # both zero would deadlock: unavailable becomes 1
    ("0%", "0%", 3, (0, 1)),
    (1, 0, 3, (1, 0)),
    ("50%", "10%", 5, (3, 0)),
    ("100%", "100%", 3, (3, 3)),
])
def test_fenceposts(surge: Any, unavailable: Any, replicas: int,
                    expected: tuple[int, int]) -> None:
    assert ro.resolve_fenceposts(surge, unavailable, replicas) == expected


def test_max_unavailable_is_capped_and_zero_for_recreate() -> None:
    assert ro.max_unavailable(deploy(3, 0, 5)) == 3
    assert ro.max_unavailable(deploy(3, strategy="Recreate")) == 0
    assert ro.max_surge(deploy(3, strategy="Recreate")) == 0
    assert ro.max_unavailable(deploy(0)) == 0


def simulate(d: dict[str, Any], old_size: int, steps: int = 50) -> list[tuple[int, int, int]]:
    """Drive a rollout to the end, each pod becoming available as soon as it exists.
    Returns (old, new, available) after each controller step."""
    old = rs("old", old_size, revision=1)
    new = rs("new", 0, revision=2, created="2024-01-02T00:00:00Z", image="v2")
    trace = []
    for _ in range(steps):
        target = ro.new_rs_replicas(d, [old, new], new)
        if target != ro.rs_replicas(new):
            new["spec"]["replicas"] = target
        else:
            plan = ro.old_scale_down(d, [old, new], [old], new)
            if not plan:
                break
            old["spec"]["replicas"] = plan["old"]
        # The ReplicaSets' status: old pods go at once, new ones become available.
        old["status"].update(replicas=old["spec"]["replicas"],
                             availableReplicas=old["spec"]["replicas"])
        trace.append((old["spec"]["replicas"], new["spec"]["replicas"],
                      old["spec"]["replicas"] + new["status"]["availableReplicas"]))
        new["status"].update(replicas=new["spec"]["replicas"],
                             availableReplicas=new["spec"]["replicas"])
    return trace


@pytest.mark.parametrize("replicas,surge,unavailable", [
    (10, "25%", "25%"), (3, 1, 0), (3, 0, 1), (5, "50%", "0%"), (4, 2, 2), (1, 1, 0),
    (1, 0, 1), (7, "30%", "20%"),
])
def test_rolling_update_respects_surge_and_availability(replicas: int, surge: Any,
                                                       unavailable: Any) -> None:
    d = deploy(replicas, surge, unavailable)
    max_surge, max_unavail = ro.resolve_fenceposts(surge, unavailable, replicas)
    trace = simulate(d, replicas)
    assert trace[-1][:2] == (0, replicas)
    for old, new, available in trace:
        assert old + new <= replicas + max_surge
        assert available >= replicas - max_unavail


def test_first_steps_of_a_default_rollout() -> None:
    d = deploy(10)
    trace = simulate(d, 10)
    assert trace[0] == (10, 3, 10)   # surge 3 first
    # New pods are available: old ones go down to replicas - maxUnavailable available.
    assert trace[1] == (5, 3, 8)


def test_unhealthy_old_pods_are_removed_first() -> None:
    d = deploy(4, 0, 1)
    old = rs("old", 4, available=2)
    new = rs("new", 0, revision=2, created="2024-01-02T00:00:00Z")
    # Budget: 4 pods - 3 min available = 1, spent on an unavailable old pod.
    assert ro.old_scale_down(d, [old, new], [old], new) == {"old": 3}


def test_new_rs_not_scaled_past_surge_with_unavailable_new_pods() -> None:
    d = deploy(3, 1, 0)
    old = rs("old", 3)
    new = rs("new", 1, available=0, revision=2, created="2024-01-02T00:00:00Z")
    assert ro.new_rs_replicas(d, [old, new], new) == 1
    assert ro.old_scale_down(d, [old, new], [old], new) == {}


def test_find_new_ignores_hash_label() -> None:
    d = deploy(3)
    old, new = rs("a", 3), rs("b", 0, image="v2", created="2024-01-02T00:00:00Z")
    found, others = ro.find_new_and_old(d, [old, new])
    assert found is new and others == [old]


def test_revision_annotations_on_new_and_reused_sets() -> None:
    d = deploy(3)
    fresh = ro.new_rs_annotations(d, {}, 3, exists=False)
    assert fresh[ro.REVISION] == "3"
    assert fresh["kubernetes.io/change-cause"] == "v2"
    assert fresh[ro.DESIRED_REPLICAS] == "3" and fresh[ro.MAX_REPLICAS] == "4"
    reused = ro.new_rs_annotations(d, {ro.REVISION: "1"}, 4, exists=True)
    assert reused[ro.REVISION] == "4" and reused[ro.REVISION_HISTORY] == "1"
    again = ro.new_rs_annotations(d, reused, 4, exists=True)
    assert again == reused
    assert ro.LAST_APPLIED not in ro.new_rs_annotations(
        {**d, "metadata": {**d["metadata"], "annotations": {ro.LAST_APPLIED: "{}"}}}, {}, 1,
        exists=False)


def test_history_cleanup_keeps_limit_and_busy_sets() -> None:
    d = deploy(3)  # revisionHistoryLimit 2
    old = [rs("r1", 0, revision=1), rs("r2", 0, revision=2), rs("r3", 1, revision=3),
           rs("r4", 0, revision=4)]
    assert [r["metadata"]["name"] for r in ro.history_to_delete(d, old)] == ["r1", "r2"]
    busy = [rs("r1", 1, revision=1), rs("r2", 0, revision=2), rs("r3", 0, revision=3)]
    assert [r["metadata"]["name"] for r in ro.history_to_delete(d, busy)] == []
    assert ro.history_to_delete({**d, "spec": {**d["spec"], "revisionHistoryLimit": 0}},
                                [rs("r1", 0)]) != []


def test_scaling_single_active_set_and_proportional() -> None:
    d = deploy(5)
    only = rs("a", 3, annotations={ro.DESIRED_REPLICAS: "3"})
    assert ro.is_scaling_event(d, [only])
    assert ro.scale_plan(d, only, []) == {"a": 5}
    # Mid-rollout, 10 -> 20: the change is shared in proportion (max-replicas 13).
    d = deploy(20)
    ann = {ro.DESIRED_REPLICAS: "10", ro.MAX_REPLICAS: "13"}
    new = rs("new", 5, annotations=ann, created="2024-01-02T00:00:00Z")
    old = rs("old", 8, annotations=ann)
    plan = ro.scale_plan(d, new, [old])
    assert sum(plan.values()) == 20 + 5  # 20 + maxSurge
    assert plan["old"] > plan["new"] > 5


def test_conditions_and_rollout_status() -> None:
    d = deploy(3, 1, 0)
    new = rs("new", 3, revision=2)
    status = ro.rollout_status(d, [new], new)
    assert status["updatedReplicas"] == 3 and status["availableReplicas"] == 3
    assert ro.condition({"status": status}, "Available")["reason"] == ro.MIN_AVAILABLE
    assert ro.condition({"status": status}, "Progressing")["reason"] == ro.NEW_RS_AVAILABLE
    slow = rs("new", 3, available=1, revision=2)
    d["status"] = {"conditions": [{"type": "Progressing", "status": "True",
                                   "reason": ro.RS_UPDATED,
                                   "lastUpdateTime": "2024-01-01T00:00:00Z",
                                   "lastTransitionTime": "2024-01-01T00:00:00Z"}],
                   "availableReplicas": 1, "updatedReplicas": 3, "replicas": 3,
                   "readyReplicas": 1}
    later = dt.datetime(2024, 1, 1, 0, 11, tzinfo=dt.timezone.utc)
    timed = ro.rollout_status(d, [slow], slow, later)
    cond = ro.condition({"status": timed}, "Progressing")
    assert cond["reason"] == ro.TIMED_OUT and cond["status"] == "False"
    assert ro.condition({"status": timed}, "Available")["reason"] == ro.MIN_UNAVAILABLE


def test_paused_condition() -> None:
    d = deploy(3, paused=True)
    status: dict[str, Any] = {}
    assert ro.paused_condition(d, status)
    assert ro.condition({"status": status}, "Progressing")["reason"] == ro.PAUSED
    d["spec"]["paused"] = False
    assert ro.paused_condition(d, status)
    assert ro.condition({"status": status}, "Progressing")["reason"] == ro.RESUMED
