"""Quota arithmetic, evaluators, the admission check and the controller's recount, as pure
functions (orchestrator.api.quota, orchestrator.controllers.resourcequota.plan)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from orchestrator.api.quota import amounts, pods
from orchestrator.api.quota.amounts import Amount
from orchestrator.api.quota.check import QuotaRefused, check_request
from orchestrator.api.quota.evaluators import evaluator_for, group_resources_for
from orchestrator.api.quota.usage import calculate_used
from orchestrator.controllers.resourcequota import plan, usage_changed

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def pod(*containers: dict[str, Any], init: list[dict[str, Any]] | None = None,
        phase: str = "Pending", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", "resourceVersion": "1"},
            "spec": {"containers": list(containers), "initContainers": init or [], **spec},
            "status": {"phase": phase}}


def c(name: str = "c", requests: dict[str, str] | None = None,
      limits: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "resources": {"requests": requests or {}, "limits": limits or {}},
            **extra}


def quota(name: str, hard: dict[str, str], used: dict[str, str] | None = None,
          **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"hard": hard, **spec},
            "status": {"hard": hard, "used": used if used is not None
                       else {k: "0" for k in hard}}}


def text(items: dict[str, Amount]) -> dict[str, str]:
    return amounts.render(items)


# -- amounts --------------------------------------------------------------------------------

def test_sums_keep_the_first_format_and_print_canonically() -> None:
    assert str(Amount.parse("500m") + Amount.parse("500m")) == "1"
    assert str(Amount.parse("512Mi") + Amount.parse("512Mi")) == "1Gi"
    assert str(Amount.parse("1Gi") + Amount.parse("512Mi")) == "1536Mi"
    assert str(Amount.parse("500") + Amount.parse("500")) == "1k"
    assert str(amounts.ZERO + Amount.parse("1Gi")) == "1Gi"  # zero takes the other's format
    assert str(Amount.parse("1e3")) == "1e3"
    assert amounts.pretty({"requests.memory": Amount.parse("1Gi"),
                           "limits.cpu": Amount.parse("2")}) == "limits.cpu=2,requests.memory=1Gi"


def test_subtract_never_goes_below_zero() -> None:
    a = {"cpu": Amount.parse("1"), "memory": Amount.parse("1Gi")}
    b = {"cpu": Amount.parse("2"), "pods": Amount.parse("1")}
    assert text(amounts.subtract_non_negative(a, b)) == {"cpu": "0", "memory": "1Gi",
                                                         "pods": "0"}


# -- pods -----------------------------------------------------------------------------------

def test_pod_usage_sums_containers_and_floors_at_init_containers() -> None:
    p = pod(c("a", {"cpu": "500m", "memory": "1Gi", "nvidia.com/gpu": "1"}, {"cpu": "1"}),
            c("b", {"cpu": "250m"}),
            init=[c("setup", {"cpu": "2"}), c("sidecar", {"cpu": "100m"}, restartPolicy="Always")])
    usage = text(pods.usage(p, NOW))
    # Containers 750m + sidecar 100m = 850m; the setup init container (2) is the floor.
    assert usage["requests.cpu"] == usage["cpu"] == "2"
    assert usage["requests.memory"] == "1Gi"
    assert usage["limits.cpu"] == "1"
    assert usage["requests.nvidia.com/gpu"] == "1"
    assert usage["pods"] == usage["count/pods"] == "1"
    assert "nvidia.com/gpu" not in usage and "limits.nvidia.com/gpu" not in usage


def test_pod_level_resources_and_overhead() -> None:
    p = pod(c("a", {"cpu": "1"}), resources={"requests": {"cpu": "3"}},
            overhead={"cpu": "100m", "memory": "10Mi"})
    usage = text(pods.usage(p, NOW))
    assert usage["requests.cpu"] == "3100m" and usage["requests.memory"] == "10Mi"
    assert "limits.memory" not in usage  # overhead adds to a set limit only


def test_terminal_and_long_deleted_pods_charge_only_their_count() -> None:
    for finished in (pod(c("a", {"cpu": "1"}), phase="Succeeded"),
                     pod(c("a", {"cpu": "1"}), phase="Failed")):
        assert text(pods.usage(finished, NOW)) == {"count/pods": "1"}
    stuck = pod(c("a", {"cpu": "1"}), phase="Running")
    stuck["metadata"].update(deletionTimestamp="2025-12-31T23:00:00Z",
                             deletionGracePeriodSeconds=30)
    assert text(pods.usage(stuck, NOW)) == {"count/pods": "1"}
    stuck["metadata"]["deletionTimestamp"] = "2025-12-31T23:59:50Z"  # still in its grace
    assert text(pods.usage(stuck, NOW))["requests.cpu"] == "1"


@pytest.mark.parametrize(("containers", "qos"), [
    ([c("a")], "BestEffort"),
    ([c("a", limits={"nvidia.com/gpu": "1"})], "BestEffort"),
    ([c("a", {"cpu": "1"})], "Burstable"),
    ([c("a", {"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"})], "Guaranteed"),
    ([c("a", {"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"}),
      c("b", {"cpu": "1"}, {"cpu": "1"})], "Burstable"),
])
def test_qos_counts_cpu_and_memory_only(containers: list[dict[str, Any]], qos: str) -> None:
    assert pods.qos_class(pod(*containers)) == qos


@pytest.mark.parametrize(("selector", "klass", "expected"), [
    ({"operator": "In", "values": ["high"]}, "high", True),
    ({"operator": "In", "values": ["high"]}, "", False),
    ({"operator": "NotIn", "values": ["high"]}, "low", True),
    ({"operator": "NotIn", "values": ["high"]}, "", True),
    ({"operator": "NotIn", "values": ["high"]}, "high", False),
    ({"operator": "Exists"}, "low", True),
    ({"operator": "Exists"}, "", False),
    ({"operator": "DoesNotExist"}, "", True),
    ({"operator": "DoesNotExist"}, "low", False),
])
def test_priority_class_scope(selector: dict[str, Any], klass: str, expected: bool) -> None:
    p = pod(c("a"), **({"priorityClassName": klass} if klass else {}))
    assert pods.matches_scope({"scopeName": "PriorityClass", **selector}, p) is expected


def test_terminating_scopes() -> None:
    assert pods.matches_scope({"scopeName": "Terminating"}, pod(c(), activeDeadlineSeconds=60))
    assert pods.matches_scope({"scopeName": "NotTerminating"}, pod(c()))
    assert not pods.matches_scope({"scopeName": "Terminating"}, pod(c()))


def test_constraints_name_each_container_missing_a_resource() -> None:
    p = pod(c("a", {"cpu": "1"}), c("b", {"cpu": "1", "memory": "1Gi"}))
    assert pods.constraints(["requests.cpu", "requests.memory", "limits.cpu",
                             "requests.nvidia.com/gpu"], p) == (
        "must specify limits.cpu for: a,b; requests.memory for: a")
    assert pods.constraints(["requests.nvidia.com/gpu"], p) is None


# -- evaluators -----------------------------------------------------------------------------

def test_services_claims_and_counts() -> None:
    svc = {"spec": {"type": "LoadBalancer", "ports": [{"port": 80}, {"port": 443}]}}
    assert text(evaluator_for("services").usage(svc, NOW)) == {
        "count/services": "1", "services": "1", "services.loadbalancers": "1",
        "services.nodeports": "2"}
    claim = {"spec": {"storageClassName": "gold", "resources": {"requests": {"storage": "1.5"}}}}
    usage = text(evaluator_for("persistentvolumeclaims").usage(claim, NOW))
    assert usage["requests.storage"] == "2"  # whole bytes
    assert usage["gold.storageclass.storage.k8s.io/requests.storage"] == "2"
    assert usage["gold.storageclass.storage.k8s.io/persistentvolumeclaims"] == "1"
    assert text(evaluator_for("configmaps").usage({}, NOW)) == {"configmaps": "1",
                                                                 "count/configmaps": "1"}
    assert text(evaluator_for("deployments.apps").usage({}, NOW)) == {
        "count/deployments.apps": "1"}
    assert group_resources_for(["requests.nvidia.com/gpu", "services", "secrets",
                                "count/daskclusters.kubernetes.dask.org",
                                "gold.storageclass.storage.k8s.io/requests.storage"]) == {
        "pods", "services", "secrets", "daskclusters.kubernetes.dask.org",
        "persistentvolumeclaims"}


# -- the admission check --------------------------------------------------------------------

PODS = evaluator_for("pods")


def test_check_charges_every_matching_quota() -> None:
    gpus = quota("gpus", {"requests.nvidia.com/gpu": "2"}, {"requests.nvidia.com/gpu": "1"})
    cpus = quota("cpus", {"requests.cpu": "4"})
    charges = check_request([gpus, cpus], PODS, "CREATE",
                            pod(c("a", {"cpu": "1", "nvidia.com/gpu": "1"})), None, NOW)
    assert [(ch.quota["metadata"]["name"], text(ch.used)) for ch in charges] == [
        ("gpus", {"requests.nvidia.com/gpu": "2"}), ("cpus", {"requests.cpu": "1"})]


def test_check_refuses_with_kubes_message() -> None:
    gpus = quota("gpus", {"requests.nvidia.com/gpu": "1", "pods": "10"},
                 {"requests.nvidia.com/gpu": "1", "pods": "1"})
    with pytest.raises(QuotaRefused) as refused:
        check_request([gpus], PODS, "CREATE", pod(c("a", {"nvidia.com/gpu": "1"})), None, NOW)
    assert str(refused.value) == ("exceeded quota: gpus, requested: requests.nvidia.com/gpu=1, "
                                  "used: requests.nvidia.com/gpu=1, limited: "
                                  "requests.nvidia.com/gpu=1")


def test_check_needs_the_controllers_status() -> None:
    fresh = {"metadata": {"name": "new"}, "spec": {"hard": {"pods": "1"}}}
    assert check_request([fresh], PODS, "CREATE", pod(c()), None, NOW) == []  # not enforced
    half = quota("half", {"pods": "1", "requests.cpu": "1"}, {"pods": "0"})
    with pytest.raises(QuotaRefused, match=r"^status unknown for quota: half, resources: "
                                           r"pods,requests.cpu$"):
        check_request([half], PODS, "CREATE", pod(c("a", {"cpu": "1"})), None, NOW)
    with pytest.raises(QuotaRefused, match=r"^failed quota: half: must specify requests.cpu "
                                           r"for: a$"):
        check_request([half], PODS, "CREATE", pod(c("a")), None, NOW)


def test_scoped_quotas_only_see_their_pods() -> None:
    best_effort = quota("be", {"pods": "1"}, {"pods": "1"}, scopes=["BestEffort"])
    assert check_request([best_effort], PODS, "CREATE", pod(c("a", {"cpu": "1"})), None,
                         NOW) == []
    with pytest.raises(QuotaRefused, match="exceeded quota: be,"):
        check_request([best_effort], PODS, "CREATE", pod(c("a")), None, NOW)
    # Non-pod objects match no scope.
    assert check_request([quota("s", {"services": "0"}, scopes=["BestEffort"])],
                         evaluator_for("services"), "CREATE", {"spec": {}}, None, NOW) == []


def test_an_update_is_charged_what_it_adds() -> None:
    storage = quota("storage", {"requests.storage": "10Gi"}, {"requests.storage": "8Gi"})
    claims = evaluator_for("persistentvolumeclaims")

    def claim(size: str) -> dict[str, Any]:
        return {"metadata": {"resourceVersion": "5"},
                "spec": {"resources": {"requests": {"storage": size}}}}

    (charge,) = check_request([storage], claims, "UPDATE", claim("4Gi"), claim("3Gi"), NOW)
    assert text(charge.used) == {"requests.storage": "9Gi"}
    assert check_request([storage], claims, "UPDATE", claim("2Gi"), claim("3Gi"), NOW) == []
    with pytest.raises(QuotaRefused, match="requested: requests.storage=3Gi"):
        check_request([storage], claims, "UPDATE", claim("6Gi"), claim("3Gi"), NOW)


# -- the controller's recount -----------------------------------------------------------------

def test_recount_fills_status_from_the_namespace() -> None:
    q = {"metadata": {"name": "q"},
         "spec": {"hard": {"pods": "5", "requests.nvidia.com/gpu": "2", "services": "3",
                           "count/deployments.apps": "1", "example.com/unknown": "1"}},
         "status": {"used": {"example.com/unknown": "1", "pods": "4"}}}
    objects = {"pods": [pod(c("a")),
                        pod(c("b", {"nvidia.com/gpu": "1"})),
                        pod(c("d", {"nvidia.com/gpu": "1"}), phase="Succeeded")]}
    assert text(calculate_used(q, objects, NOW)) == {
        "pods": "2", "requests.nvidia.com/gpu": "1", "services": "0",
        "count/deployments.apps": "0", "example.com/unknown": "1"}
    status = plan(q, objects, NOW)
    assert status is not None and status["hard"]["pods"] == "5"
    assert plan({**q, "status": status}, objects, NOW) is None  # nothing to write twice


def test_only_usage_changes_trigger_a_recount() -> None:
    running = pod(c("a", {"cpu": "1"}), phase="Running")
    ready = {**running, "status": {"phase": "Running", "conditions": [{"type": "Ready"}]}}
    done = {**running, "status": {"phase": "Succeeded"}}
    assert not usage_changed("pods", running, ready, NOW)
    assert usage_changed("pods", running, done, NOW)
    assert usage_changed("pods", None, running, NOW)
    assert usage_changed("pods", running, None, NOW)
    assert not usage_changed("configmaps", {}, {}, NOW)
    assert usage_changed("services", {}, {}, NOW)
