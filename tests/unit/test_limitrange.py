"""LimitRange defaults and constraints (orchestrator.api.limitrange), and the API defaulting
they rely on (a LimitRange item's defaults, a Pod's requests from its limits)."""

from __future__ import annotations

from typing import Any

from orchestrator.api import limitrange
from orchestrator.api.defaults import apply_defaults
from orchestrator.api.kinds import BUILTIN_TYPES


def _rt(kind: str) -> Any:
    return next(rt for rt in BUILTIN_TYPES if rt.group == "" and rt.kind == kind)


def limit_range(*items: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "limits"}, "spec": {"limits": list(items)}}


def pod(*containers: dict[str, Any], init: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "p"},
            "spec": {"containers": list(containers), "initContainers": init or []}}


def c(name: str, requests: dict[str, str] | None = None,
      limits: dict[str, str] | None = None) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if requests is not None:
        resources["requests"] = requests
    if limits is not None:
        resources["limits"] = limits
    return {"name": name, "resources": resources}


def test_defaults_fill_only_what_is_missing_and_say_so() -> None:
    lr = limit_range({"type": "Container", "default": {"cpu": "1"},
                      "defaultRequest": {"cpu": "100m", "memory": "64Mi"}},
                     {"type": "Pod", "max": {"cpu": "4"}})
    p = pod(c("a"), c("b", {"cpu": "2"}, {"cpu": "3"}), init=[c("i")])
    assert limitrange.apply_defaults(lr, p)
    a, b = p["spec"]["containers"]
    assert a["resources"] == {"requests": {"cpu": "100m", "memory": "64Mi"},
                              "limits": {"cpu": "1"}}
    assert b["resources"] == {"requests": {"cpu": "2", "memory": "64Mi"}, "limits": {"cpu": "3"}}
    assert p["metadata"]["annotations"][limitrange.ANNOTATION] == (
        "LimitRanger plugin set: cpu, memory request for container a; cpu limit for container "
        "a; memory request for container b; cpu, memory request for init container i; cpu "
        "limit for init container i")
    assert not limitrange.apply_defaults(lr, p)  # nothing left to set


def test_container_constraints() -> None:
    lr = limit_range({"type": "Container", "min": {"cpu": "100m"}, "max": {"memory": "1Gi"},
                      "maxLimitRequestRatio": {"cpu": "2"}})
    assert limitrange.pod_problems(lr, pod(c("a", {"cpu": "50m"}, {"cpu": "100m",
                                                                    "memory": "1Gi"}))) == [
        "minimum cpu usage per Container is 100m, but request is 50m"]
    assert limitrange.pod_problems(lr, pod(c("a", {"cpu": "100m"}, {"cpu": "150m"}))) == [
        "maximum memory usage per Container is 1Gi.  No limit is specified"]
    assert limitrange.pod_problems(lr, pod(c("a", {"cpu": "100m"},
                                             {"cpu": "300m", "memory": "512Mi"}))) == [
        "cpu max limit to request ratio per Container is 2, but provided ratio is 3.000000"]
    assert limitrange.pod_problems(lr, pod(c("a", {}, {"memory": "1Gi"}))) == [
        "minimum cpu usage per Container is 100m.  No request is specified",
        "cpu max limit to request ratio per Container is 2, but no request is specified or "
        "request is 0"]


def test_pod_constraints_see_the_pods_sum() -> None:
    lr = limit_range({"type": "Pod", "max": {"cpu": "2"}, "min": {"cpu": "500m"}})
    assert limitrange.pod_problems(lr, pod(c("a", {"cpu": "1"}, {"cpu": "1"}),
                                           c("b", {"cpu": "1"}, {"cpu": "1500m"}))) == [
        "maximum cpu usage per Pod is 2, but limit is 2500m"]
    assert limitrange.pod_problems(lr, pod(c("a", {"cpu": "200m"}, {"cpu": "1"}),
                                           c("b", {"cpu": "200m"}, {"cpu": "1"}))) == [
        "minimum cpu usage per Pod is 500m, but request is 400m"]


def test_claim_constraints() -> None:
    lr = limit_range({"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"},
                      "max": {"storage": "10Gi"}})

    def claim(size: str | None) -> dict[str, Any]:
        return {"spec": {"resources": {"requests": {"storage": size} if size else {}}}}

    assert limitrange.claim_problems(lr, claim("20Gi")) == [
        "maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi"]
    assert limitrange.claim_problems(lr, claim("5Gi")) == []
    assert limitrange.claim_problems(lr, claim(None)) == [
        "minimum storage usage per PersistentVolumeClaim is 1Gi.  No request is specified",
        "maximum storage usage per PersistentVolumeClaim is 10Gi.  No request is specified"]


def test_aggregate_reads_as_kubes() -> None:
    assert limitrange.aggregate(["a"]) == "a"
    assert limitrange.aggregate(["a", "b", "a"]) == "[a, b]"


def test_limit_range_item_defaults() -> None:
    obj = {"spec": {"limits": [
        {"type": "Container", "max": {"cpu": "2", "memory": "1Gi"}, "default": {"cpu": "1"},
         "min": {"cpu": "100m", "ephemeral-storage": "1Gi"}},
        {"type": "Pod", "max": {"cpu": "4"}}]}}
    apply_defaults(obj, _rt("LimitRange"))
    container, pod_item = obj["spec"]["limits"]
    assert container["default"] == {"cpu": "1", "memory": "1Gi"}
    assert container["defaultRequest"] == {"cpu": "1", "memory": "1Gi",
                                           "ephemeral-storage": "1Gi"}
    assert "default" not in pod_item


def test_a_pods_limits_become_its_requests() -> None:
    obj = {"spec": {"containers": [
        {"name": "a", "resources": {"limits": {"nvidia.com/gpu": "1", "cpu": "2"},
                                    "requests": {"cpu": "1"}}},
        {"name": "b", "resources": {}}]}}
    apply_defaults(obj, _rt("Pod"))
    a, b = obj["spec"]["containers"]
    assert a["resources"]["requests"] == {"cpu": "1", "nvidia.com/gpu": "1"}
    assert b["resources"] == {}
