"""The DaemonSet controller's pure plan: eligibility, pinning, rolling updates."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from orchestrator.controllers.daemonset_plan import (
    REVISION_LABEL, daemon_tolerations, plan, pod_node, revision_hash, should_run,
)

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def ds(image: str = "v1", rolling: dict[str, Any] | None = None, **pod_spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "ns", "uid": "du", "generation": 1},
            "spec": {"selector": {"matchLabels": {"app": "a"}},
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": rolling or {
                         "maxUnavailable": 1, "maxSurge": 0}},
                     "template": {"metadata": {"labels": {"app": "a"}}, "spec": {
                         "containers": [{"name": "c", "image": image}], **pod_spec}}}}


def node(name: str, labels: dict[str, str] | None = None,
         taints: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"taints": taints or []}}


def pod(name: str, node_name: str, revision: str, ready: bool = True) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {REVISION_LABEL: revision},
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"nodeName": node_name},
            "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True" if ready else "False"}]}}


GPU_TAINT = {"key": "gpu", "value": "yes", "effect": "NoSchedule"}


def test_eligibility() -> None:
    assert should_run(ds(), node("a"))
    assert not should_run(ds(), node("g", taints=[GPU_TAINT]))
    assert should_run(ds(tolerations=[{"key": "gpu", "operator": "Exists"}]),
                      node("g", taints=[GPU_TAINT]))
    assert should_run(ds(), node("p", taints=[{"key": "x", "effect": "PreferNoSchedule"}]))
    # kube's automatic daemon tolerations: unschedulable and not-ready nodes still get one.
    assert should_run(ds(), node("u", taints=[
        {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]))
    assert not should_run(ds(nodeSelector={"zone": "x"}), node("a"))
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "zone", "operator": "In", "values": ["x", "y"]}]}]}}}
    assert should_run(ds(affinity=affinity), node("a", {"zone": "y"}))
    assert not should_run(ds(affinity=affinity), node("a", {"zone": "z"}))


def test_creates_one_pinned_pod_per_node() -> None:
    p = plan(ds(), [node("a"), node("b"), node("g", taints=[GPU_TAINT])], [], NOW, False)
    assert p.revision is not None
    assert sorted(pod_node(x) or "" for x in p.create_pods) == ["a", "b"]
    made = p.create_pods[0]
    assert "nodeName" not in made["spec"]
    assert made["metadata"]["labels"][REVISION_LABEL] == revision_hash(ds())
    assert p.status is not None and p.status["desiredNumberScheduled"] == 2


def test_misscheduled_and_duplicate_pods_are_removed() -> None:
    h = revision_hash(ds())
    pods = [pod("p1", "a", h), pod("p2", "a", h), pod("p3", "g", h)]
    p = plan(ds(), [node("a"), node("g", taints=[GPU_TAINT])], pods, NOW)
    assert sorted(p.delete_pods) == ["p2", "p3"]
    assert p.status is not None and p.status["numberMisscheduled"] == 1


def test_rolling_update_respects_max_unavailable() -> None:
    new = ds(image="v2")
    pods = [pod(f"p{i}", f"n{i}", "old") for i in range(4)]
    nodes = [node(f"n{i}") for i in range(4)]
    p = plan(new, nodes, pods, NOW)
    assert len(p.delete_pods) == 1 and p.create_pods == []
    wide = plan(ds(image="v2", rolling={"maxUnavailable": "50%", "maxSurge": 0}), nodes, pods,
                NOW)
    assert len(wide.delete_pods) == 2


def test_rolling_update_with_surge() -> None:
    new = ds(image="v2", rolling={"maxUnavailable": 0, "maxSurge": 1})
    h = revision_hash(new)
    nodes = [node("n0"), node("n1")]
    p = plan(new, nodes, [pod("p0", "n0", "old"), pod("p1", "n1", "old")], NOW)
    assert p.delete_pods == [] and [pod_node(x) for x in p.create_pods] == ["n0"]
    # Once the surge pod is available, the old one goes.
    q = plan(new, nodes, [pod("p0", "n0", "old"), pod("s0", "n0", h),
                          pod("p1", "n1", "old")], NOW)
    assert q.delete_pods == ["p0"]


def test_daemon_tolerations_are_added_unless_the_same_one_is_there() -> None:
    # kube's AddOrUpdateTolerationInPodSpec matches key, effect, operator and value: a user's
    # Equal toleration of the unschedulable taint does not stand in for the Exists one.
    own = {"key": "node.kubernetes.io/unschedulable", "operator": "Equal", "value": "yes",
           "effect": "NoSchedule"}
    added = daemon_tolerations({"tolerations": [own]})
    assert own in added and {"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
                             "effect": "NoSchedule"} in added
    same = {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}
    assert daemon_tolerations({"tolerations": [same]}).count(same) == 1


def test_a_template_node_name_limits_the_daemonset_to_that_node() -> None:
    assert should_run(ds(nodeName="a"), node("a"))
    assert not should_run(ds(nodeName="a"), node("b"))
