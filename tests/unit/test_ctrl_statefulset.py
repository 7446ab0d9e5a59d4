"""The StatefulSet controller's pure plan: ordering, scale-down, partitioned updates."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from orchestrator.controllers.statefulset_plan import REVISION_LABEL, new_revision, plan

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def sts(replicas: int = 3, image: str = "v1", **spec: Any) -> dict[str, Any]:
    status = spec.pop("status", {})
    base = {"replicas": replicas, "serviceName": "web", "podManagementPolicy": "OrderedReady",
            "selector": {"matchLabels": {"app": "web"}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "revisionHistoryLimit": 10,
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "c", "image": image}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {}}]}
    base.update(spec)
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "ns", "uid": "su", "generation": 1},
            "spec": base, "status": status}


def pod(ordinal: int, revision: str, healthy: bool = True,
        terminating: bool = False) -> dict[str, Any]:
    md: dict[str, Any] = {"name": f"web-{ordinal}", "labels": {REVISION_LABEL: revision}}
    if terminating:
        md["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": md, "status": {
        "phase": "Running" if healthy else "Pending",
        "conditions": [{"type": "Ready", "status": "True" if healthy else "False"}]}}


def rev(s: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return new_revision(s, [])


def test_first_pass_creates_revision_claims_and_only_pod_zero() -> None:
    s = sts()
    p = plan(s, [], [], [], NOW)
    assert p.create_revision is not None
    assert [c["metadata"]["name"] for c in p.create_pvcs] == ["data-web-0", "data-web-1",
                                                              "data-web-2"]
    assert [x["metadata"]["name"] for x in p.create_pods] == ["web-0"]
    made = p.create_pods[0]
    assert made["spec"]["hostname"] == "web-0" and made["spec"]["subdomain"] == "web"
    assert made["spec"]["volumes"] == [{"name": "data", "persistentVolumeClaim": {
        "claimName": "data-web-0"}}]
    assert made["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "web-0"


def test_ordered_ready_waits_for_previous_pod() -> None:
    s = sts()
    name, r = rev(s)
    waiting = plan(s, [pod(0, name, healthy=False)], [], [r], NOW)
    assert waiting.create_pods == []
    going = plan(s, [pod(0, name)], [], [r], NOW)
    assert [x["metadata"]["name"] for x in going.create_pods] == ["web-1"]


def test_parallel_creates_all_at_once() -> None:
    s = sts(podManagementPolicy="Parallel")
    p = plan(s, [], [], [], NOW)
    assert [x["metadata"]["name"] for x in p.create_pods] == ["web-0", "web-1", "web-2"]


def test_scale_down_removes_highest_first_one_at_a_time() -> None:
    s = sts(replicas=1)
    name, r = rev(s)
    p = plan(s, [pod(0, name), pod(1, name), pod(2, name)], [], [r], NOW)
    assert p.delete_pods == ["web-2"]
    q = plan(s, [pod(0, name), pod(1, name), pod(2, name, terminating=True)], [], [r], NOW)
    assert q.delete_pods == []  # wait for web-2 to go first


def test_rolling_update_with_partition_goes_from_the_top() -> None:
    old = sts(image="v1")
    old_name, old_rev = rev(old)
    new = sts(image="v2", updateStrategy={"type": "RollingUpdate",
                                          "rollingUpdate": {"partition": 1}},
              status={"currentRevision": old_name})
    new_name, new_rev = rev(new)
    pods = [pod(0, old_name), pod(1, old_name), pod(2, old_name)]
    p = plan(new, pods, [], [old_rev, new_rev], NOW)
    assert p.delete_pods == ["web-2"]
    pods = [pod(0, old_name), pod(1, old_name), pod(2, new_name)]
    q = plan(new, pods, [], [old_rev, new_rev], NOW)
    assert q.delete_pods == ["web-1"]
    pods = [pod(0, old_name), pod(1, new_name), pod(2, new_name)]
    done = plan(new, pods, [], [old_rev, new_rev], NOW)
    assert done.delete_pods == []  # web-0 is below the partition
    assert done.status is not None
    assert done.status["updatedReplicas"] == 2 and done.status["currentReplicas"] == 1
    assert done.status["currentRevision"] == old_name
    # A recreated pod below the partition keeps the current revision's template.
    again = plan(new, [pod(1, new_name), pod(2, new_name)], [], [old_rev, new_rev], NOW)
    assert again.create_pods[0]["spec"]["containers"][0]["image"] == "v1"


def test_on_delete_leaves_pods_alone() -> None:
    old = sts(image="v1")
    old_name, old_rev = rev(old)
    new = sts(image="v2", updateStrategy={"type": "OnDelete"},
              status={"currentRevision": old_name})
    new_name, new_rev = rev(new)
    p = plan(new, [pod(0, old_name), pod(1, old_name), pod(2, old_name)], [],
             [old_rev, new_rev], NOW)
    assert p.delete_pods == []


def test_failed_pod_is_recreated() -> None:
    s = sts(replicas=1)
    name, r = rev(s)
    failed = pod(0, name)
    failed["status"]["phase"] = "Failed"
    assert plan(s, [failed], [], [r], NOW).delete_pods == ["web-0"]


def test_claims_retention_policies() -> None:
    s = sts(replicas=1, persistentVolumeClaimRetentionPolicy={
        "whenDeleted": "Delete", "whenScaled": "Delete"})
    name, r = rev(s)
    pvcs = [{"metadata": {"name": f"data-web-{i}"}, "status": {"phase": "Bound"}}
            for i in range(3)]
    p = plan(s, [pod(0, name)], pvcs, [r], NOW)
    assert sorted(p.delete_pvcs) == ["data-web-1", "data-web-2"]
    fresh = plan(s, [], [], [r], NOW)
    assert fresh.create_pvcs[0]["metadata"]["ownerReferences"][0]["uid"] == "su"
    kept = plan(sts(replicas=1), [pod(0, name)], pvcs, [r], NOW)
    assert kept.delete_pvcs == []
