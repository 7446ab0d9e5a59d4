"""APIService availability decisions (orchestrator.api.apiservice_availability) and the
discovery conversion of aggregated APIs (orchestrator.server.aggregator.v2_resources)."""

from __future__ import annotations

from typing import Any

from orchestrator.api.apiservice_availability import (
    PROBE,
    check,
    is_available,
    probe_result,
    with_condition,
)
from orchestrator.server.aggregator import identity_headers, v2_resources
from orchestrator.api.rbac import UserInfo

REMOTE = {"metadata": {"name": "v1.example.test"},
          "spec": {"group": "example.test", "version": "v1",
                   "service": {"namespace": "ns", "name": "svc", "port": 443}}}
SERVICE = {"spec": {"type": "ClusterIP", "ports": [{"name": "https", "port": 443}]}}


def slice_(ready: bool, port_name: str = "https") -> dict[str, Any]:
    return {"endpoints": [{"addresses": ["127.244.0.9"], "conditions": {"ready": ready}}],
            "ports": [{"name": port_name, "port": 8443}]}


def test_local_and_the_checks_before_the_probe() -> None:
    local = check({"spec": {"group": "g", "version": "v1"}}, None, [])
    assert local == {"type": "Available", "status": "True", "reason": "Local",
                     "message": "Local APIServices are always available"}
    assert check(REMOTE, None, [])["reason"] == "ServiceNotFound"  # type: ignore[index]
    wrong_port = {"spec": {"ports": [{"port": 80}]}}
    assert check(REMOTE, wrong_port, [])["message"] == (  # type: ignore[index]
        'service/svc in "ns" is not listening on port 443')
    assert check(REMOTE, SERVICE, [])["reason"] == "EndpointsNotFound"  # type: ignore[index]
    assert check(REMOTE, SERVICE, [slice_(False)])["message"] == (  # type: ignore[index]
        'endpointslices for service/svc in "ns" have no addresses with port name "https"')
    assert check(REMOTE, SERVICE, [slice_(True, "other")])["reason"] == (  # type: ignore[index]
        "MissingEndpoints")
    assert check(REMOTE, SERVICE, [slice_(True)]) == PROBE


def test_probe_results_and_transition_times() -> None:
    assert probe_result("")["reason"] == "Passed"
    failed = probe_result("failing or missing response from x: boom")
    status = with_condition(None, failed, "2030-01-01T00:00:00Z")
    assert status["conditions"] == [{"type": "Available", "status": "False",
                                     "lastTransitionTime": "2030-01-01T00:00:00Z",
                                     "reason": "FailedDiscoveryCheck",
                                     "message": "failing or missing response from x: boom"}]
    same = with_condition(status, failed, "2030-01-01T00:05:00Z")
    assert same == status  # no change: nothing to write
    up = with_condition(status, probe_result(""), "2030-01-01T00:06:00Z")
    assert up["conditions"][0]["lastTransitionTime"] == "2030-01-01T00:06:00Z"
    assert is_available({"status": up}) and not is_available({"status": status})


def test_v2_resources_fold_subresources() -> None:
    legacy = {"resources": [
        {"name": "widgets", "singularName": "widget", "namespaced": True, "kind": "Widget",
         "verbs": ["get", "list"], "shortNames": ["wd"]},
        {"name": "widgets/status", "singularName": "", "namespaced": True, "kind": "Widget",
         "verbs": ["get", "patch"]}]}
    assert v2_resources(legacy, "example.test", "v1") == [{
        "resource": "widgets",
        "responseKind": {"group": "example.test", "version": "v1", "kind": "Widget"},
        "scope": "Namespaced", "singularResource": "widget", "verbs": ["get", "list"],
        "shortNames": ["wd"],
        "subresources": [{"subresource": "status", "responseKind": {
            "group": "example.test", "version": "v1", "kind": "Widget"},
            "verbs": ["get", "patch"]}]}]


def test_identity_headers() -> None:
    user = UserInfo("alice", ("devs", "system:authenticated"), "u-1",
                    {"example.org/team name": ("a", "b")})
    assert identity_headers(user) == [
        ("X-Remote-User", "alice"), ("X-Remote-Uid", "u-1"), ("X-Remote-Group", "devs"),
        ("X-Remote-Group", "system:authenticated"),
        ("X-Remote-Extra-example.org%2Fteam%20name", "a"),
        ("X-Remote-Extra-example.org%2Fteam%20name", "b")]
