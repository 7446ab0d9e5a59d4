"""The ReplicaSet controller's pure parts: claiming, deletion order, batches, status."""

from __future__ import annotations

from typing import Any

from orchestrator.controllers.replicaset import (
    BURST_REPLICAS, Expectations, calculate_status, claim_pods, next_available_check,
    plan_replicas, pods_to_delete, slow_start_batches,
)

NOW = 1_800_000_000.0


def stamp(t: float) -> str:
    import datetime as dt
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name: str, *, node: str = "n1", phase: str = "Running", ready: bool = True,
        restarts: int = 0, age: float = 1000.0, ready_for: float = 1000.0,
        labels: dict[str, str] | None = None, owner: str | None = "rs-uid",
        cost: int | None = None) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": "default", "uid": f"uid-{name}",
                          "labels": labels if labels is not None else {"app": "web"},
                          "creationTimestamp": stamp(NOW - age)}
    if owner:
        md["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                  "name": "web", "uid": owner, "controller": True}]
    if cost is not None:
        md["annotations"] = {"controller.kubernetes.io/pod-deletion-cost": str(cost)}
    conditions = [{"type": "Ready", "status": "True" if ready else "False",
                   "lastTransitionTime": stamp(NOW - ready_for)}]
    return {"metadata": md, "spec": {"nodeName": node} if node else {},
            "status": {"phase": phase, "conditions": conditions,
                       "containerStatuses": [{"name": "c", "restartCount": restarts}]}}


def rs(replicas: int = 3, min_ready: int = 0, **md: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "default", "uid": "rs-uid",
                         "generation": 4, **md},
            "spec": {"replicas": replicas, "minReadySeconds": min_ready,
                     "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web", "tier": "front"}}}}}


def names(pods: list[dict[str, Any]]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


def test_deletion_prefers_unscheduled_then_pending_then_not_ready() -> None:
    pods = [pod("ready"), pod("notready", ready=False), pod("pending", phase="Pending",
            ready=False), pod("unscheduled", node="", phase="Pending", ready=False)]
    assert names(pods_to_delete(pods, pods, 4, NOW)) == [
        "unscheduled", "pending", "notready", "ready"]


def test_deletion_prefers_more_restarts_then_newer() -> None:
    pods = [pod("old", age=100_000, ready_for=90_000), pod("new", age=10, ready_for=9),
            pod("crashy", age=100_000, ready_for=90_000, restarts=5)]
    # `new` has been ready for much less time: it goes first; then restarts decide.
    assert names(pods_to_delete(pods, pods, 3, NOW)) == ["new", "crashy", "old"]


def test_deletion_prefers_doubled_up_nodes_and_low_cost() -> None:
    pods = [pod("a", node="n1"), pod("b", node="n1"), pod("c", node="n2")]
    assert names(pods_to_delete(pods, pods, 1, NOW))[0] in ("a", "b")
    cheap = [pod("x", cost=10), pod("y", cost=-5)]
    assert names(pods_to_delete(cheap, cheap, 1, NOW)) == ["y"]


def test_deletion_count_limits() -> None:
    pods = [pod(f"p{i}") for i in range(3)]
    assert pods_to_delete(pods, pods, 0, NOW) == []
    assert len(pods_to_delete(pods, pods, 10, NOW)) == 3


def test_slow_start_batches_double() -> None:
    assert slow_start_batches(0) == []
    assert slow_start_batches(1) == [1]
    assert slow_start_batches(10) == [1, 2, 4, 3]
    assert sum(slow_start_batches(500)) == 500


def test_claim_adopts_orphans_and_releases_mismatches() -> None:
    mine = pod("mine")
    orphan = pod("orphan", owner=None)
    strayed = pod("strayed", labels={"app": "other"})
    foreign = pod("foreign", owner="someone-else")
    unrelated = pod("unrelated", owner=None, labels={"app": "db"})
    claim = claim_pods(rs(), [mine, orphan, strayed, foreign, unrelated])
    assert names(claim.owned) == ["mine"]
    assert names(claim.adopt) == ["orphan"]
    assert names(claim.release) == ["strayed"]
    deleting = claim_pods(rs(deletionTimestamp="2020-01-01T00:00:00Z"), [orphan, strayed])
    assert deleting.adopt == [] and deleting.release == []


def test_status_counts() -> None:
    import datetime as dt
    pods = [pod("a", labels={"app": "web", "tier": "front"}), pod("b", ready=False),
            pod("c", ready_for=2)]
    status = calculate_status(rs(min_ready=10), pods,
                              dt.datetime.fromtimestamp(NOW, dt.timezone.utc))
    assert status == {"replicas": 3, "fullyLabeledReplicas": 1, "readyReplicas": 2,
                      "availableReplicas": 1, "observedGeneration": 4}
    failed = calculate_status(rs(), [], failure="quota exceeded")
    assert failed["conditions"][0]["type"] == "ReplicaFailure"
    assert failed["conditions"][0]["reason"] == "FailedCreate"
    assert calculate_status({**rs(), "status": failed}, [])["conditions"] == []


def test_requeue_when_min_ready_seconds_pass() -> None:
    pods = [pod("a", ready_for=2), pod("b", ready_for=100)]
    wait = next_available_check(rs(min_ready=10), pods, NOW)
    assert wait is not None and 8 <= wait <= 9
    assert next_available_check(rs(min_ready=0), pods, NOW) is None


def test_expectations() -> None:
    exp = Expectations(timeout=60)
    key = ("default", "web")
    assert exp.satisfied(key)
    exp.expect(key, adds=2, deletes=["u1"])
    exp.created(key)
    exp.deleted(key, "u1")
    assert not exp.satisfied(key)
    exp.created(key)
    assert exp.satisfied(key)
    exp.expect(key, adds=1)
    exp.timeout = -1
    assert exp.satisfied(key)


def test_plan_replicas_creates_or_deletes_toward_spec_with_the_given_clock() -> None:
    import datetime as dt
    now = dt.datetime.fromtimestamp(NOW, dt.timezone.utc)
    owned = [pod("a"), pod("b", ready=False)]
    assert plan_replicas(rs(5), owned, owned, now).create == 3
    assert plan_replicas(rs(5), owned, owned, now).delete == ()
    assert plan_replicas(rs(BURST_REPLICAS + 10), [], [], now).create == BURST_REPLICAS
    down = plan_replicas(rs(1), owned, owned, now)
    assert down.create == 0
    assert [p["metadata"]["name"] for p in down.delete] == ["b"]  # not ready goes first
    assert plan_replicas(rs(2), owned, owned, now) == plan_replicas(rs(2), owned, owned, now)
    assert not plan_replicas(rs(2), owned, owned, now).create
