"""Which webhooks a request calls (orchestrator.api.webhook_rules) and how an
AdmissionReview answer is read (orchestrator.api.admission_review)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from orchestrator.api import admission_review as ar
from orchestrator.api.webhook_rules import (
    Request,
    compile_configurations,
    is_exempt,
    matched_version,
    namespace_matches,
    object_matches,
    review_version,
    rule_matches,
)
from orchestrator.network.hook import daskhub_netpatch
from orchestrator.server import service_dial

PODS = Request("", "v1", "pods", "", "Pod", "default", "CREATE", True)


def rule(**over: Any) -> dict[str, Any]:
    out = {"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
           "resources": ["pods"], "scope": "*"}
    out.update(over)
    return out


@pytest.mark.parametrize("resources,subresource,matches", [
    (["pods"], "", True), (["pods"], "status", False), (["pods/status"], "status", True),
    (["pods/*"], "status", True), (["pods/*"], "", True), (["*"], "", True),
    (["*"], "status", False), (["*/*"], "status", True), (["*/status"], "status", True),
    (["*/status"], "log", False), (["deployments"], "", False),
])
def test_resources_and_subresources(resources: list[str], subresource: str,
                                    matches: bool) -> None:
    request = Request("", "v1", "pods", subresource, "Pod", "default", "UPDATE", True)
    assert rule_matches(rule(resources=resources, operations=["*"]), request) is matches


def test_operations_groups_versions_and_scope() -> None:
    assert not rule_matches(rule(operations=["UPDATE"]), PODS)
    assert not rule_matches(rule(apiGroups=["apps"]), PODS)
    assert rule_matches(rule(apiGroups=["*"], apiVersions=["*"]), PODS)
    assert not rule_matches(rule(scope="Cluster"), PODS)
    namespace = Request("", "v1", "namespaces", "", "Namespace", "team", "CREATE", False)
    assert rule_matches(rule(resources=["namespaces"], scope="Cluster"), namespace)
    assert not rule_matches(rule(resources=["namespaces"], scope="Namespaced"), namespace)


def _hook(**over: Any) -> Any:
    hook = {"name": "h.example.com", "clientConfig": {"url": "https://x"},
            "rules": [rule()], "sideEffects": "None", "admissionReviewVersions": ["v1"]}
    hook.update(over)
    config = {"metadata": {"name": "c", "resourceVersion": "7"}, "webhooks": [hook]}
    return compile_configurations([config], mutating=True)[0]


def test_configurations_are_taken_by_name() -> None:
    configs = [{"metadata": {"name": n}, "webhooks": [{"name": f"{n}.x"}, {"name": f"{n}.y"}]}
               for n in ("b", "a")]
    hooks = compile_configurations(configs, mutating=False)
    assert [h.uid for h in hooks] == ["a/a.x/0", "a/a.y/1", "b/b.x/0", "b/b.y/1"]
    assert hooks[0].timeout_seconds == 10 and hooks[0].failure_policy == "Fail"


def test_equivalent_versions() -> None:
    hook = _hook(rules=[rule(apiGroups=["example.com"], apiVersions=["v1"],
                             resources=["widgets"])])
    v2 = Request("example.com", "v2", "widgets", "", "Widget", "default", "CREATE", True)
    assert matched_version(hook, v2, ["v1", "v2"]) == "v1"
    exact = _hook(matchPolicy="Exact", rules=hook.rules)
    assert matched_version(exact, v2, ["v1", "v2"]) is None


def test_namespace_and_object_selectors() -> None:
    hook = _hook(namespaceSelector={"matchLabels": {"team": "a"}},
                 objectSelector={"matchExpressions": [{"key": "app", "operator": "Exists"}]})
    assert namespace_matches(hook, PODS, {"team": "a"})
    assert not namespace_matches(hook, PODS, {"team": "b"})
    cluster = Request("", "v1", "nodes", "", "Node", "", "CREATE", False)
    assert namespace_matches(hook, cluster, None)  # cluster-scoped: always
    labelled = {"metadata": {"labels": {"app": "x"}}}
    assert object_matches(hook, labelled, None) and object_matches(hook, None, labelled)
    assert not object_matches(hook, {"metadata": {}}, None)


def test_exempt_kinds_and_review_versions() -> None:
    assert is_exempt("admissionregistration.k8s.io", "MutatingWebhookConfiguration")
    assert not is_exempt("", "ConfigMap")
    assert review_version(_hook(admissionReviewVersions=["v2", "v1beta1", "v1"])) == "v1beta1"
    assert review_version(_hook(admissionReviewVersions=["v2"])) is None


def test_privileged_port_offset_agrees_with_the_service_proxy() -> None:
    assert service_dial.PRIVILEGED_PORT_OFFSET == daskhub_netpatch.PRIVILEGED_PORT_OFFSET


# -- answers -------------------------------------------------------------------------------

def answer(response: dict[str, Any], api_version: str = "admission.k8s.io/v1") -> Any:
    return {"apiVersion": api_version, "kind": "AdmissionReview", "response": response}


def test_verify_checks_what_kube_checks() -> None:
    patch = base64.b64encode(json.dumps([{"op": "add", "path": "/x", "value": 1}]).encode())
    ok = ar.verify(answer({"uid": "u", "allowed": True, "patch": patch.decode(),
                           "patchType": "JSONPatch", "warnings": ["w"]}), "u", "v1", True)
    assert ok.allowed and ok.patch == [{"op": "add", "path": "/x", "value": 1}]
    assert ok.warnings == ("w",)
    cases = [
        ({"kind": "AdmissionReview"}, "webhook response was absent"),
        (answer({"uid": "other", "allowed": True}), 'expected response.uid="u", got "other"'),
        (answer({"uid": "u"}, "admission.k8s.io/v2"),
         "expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got "
         "admission.k8s.io/v2, Kind=AdmissionReview"),
        (answer({"uid": "u", "allowed": True, "patch": patch.decode()}),
         "webhook returned response.patch but not response.patchType"),
        (answer({"uid": "u", "allowed": True, "patchType": "JSONPatch"}),
         "webhook returned response.patchType but not response.patch"),
    ]
    for body, message in cases:
        with pytest.raises(ar.InvalidResponse) as caught:
            ar.verify(body, "u", "v1", True)
        assert str(caught.value) == f"received invalid webhook response: {message}"
    with pytest.raises(ar.InvalidResponse, match="validating webhook may not return"):
        ar.verify(answer({"uid": "u", "allowed": True, "patch": patch.decode(),
                          "patchType": "JSONPatch"}), "u", "v1", False)
    # v1beta1 never checked the uid or the kind.
    assert ar.verify({"response": {"uid": "x", "allowed": True}}, "u", "v1beta1", True).allowed


def test_denial_status() -> None:
    err = ar.denial("h.example.com", {"code": 403, "reason": "Forbidden", "message": "no"})
    assert err.code == 403 and err.status() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'admission webhook "h.example.com" denied the request: no',
        "reason": "Forbidden", "code": 403}
    bare = ar.denial("h.example.com", {"code": 200})
    assert bare.code == 400
    assert bare.status()["message"] == ('admission webhook "h.example.com" denied the request '
                                        'without explanation')
    assert ar.denial("h", {"reason": "Nope"}).status()["message"].endswith("request: Nope")
