"""Webhook configuration, admission policy and APIService rules (pure functions)."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.api import admissionregistration as ar
from orchestrator.api import apiservices


@pytest.mark.parametrize("url, problem", [
    ("https://hooks.example.com/validate", None),
    ("http://hooks.example.com", "'https' is the only allowed URL scheme"),
    ("https:///path", "host must be specified"),
    ("https://user@hooks.example.com", "user information is not permitted in the URL"),
    ("https://hooks.example.com/#top", "fragments are not permitted in the URL"),
    ("https://hooks.example.com/?a=b", "query parameters are not permitted in the URL"),
])
def test_webhook_urls(url: str, problem: str | None) -> None:
    messages = [c.message for c in ar.webhook_url_causes("u", url)]
    assert (problem is None and not messages) or any(problem in m for m in messages)


@pytest.mark.parametrize("service, problem", [
    ({"name": "s", "namespace": "n", "path": "/ok/path"}, None),
    ({"namespace": "n"}, "Required value: service name is required"),
    ({"name": "s", "namespace": "n", "port": 0}, "port is not valid"),
    ({"name": "s", "namespace": "n", "path": "relative"}, "must start with a '/'"),
    ({"name": "s", "namespace": "n", "path": "/a//b"}, "segment[1] may not be empty"),
    ({"name": "s", "namespace": "n", "path": "/UPPER"}, "segment[0]: a lowercase RFC 1123"),
])
def test_webhook_services(service: dict[str, Any], problem: str | None) -> None:
    messages = [c.message for c in ar.webhook_service_causes("s", service)]
    assert (problem is None and not messages) or any(problem in m for m in messages), messages


def test_fully_qualified_names() -> None:
    assert ar.fully_qualified_name_causes("n", "a.b.c") == []
    assert ar.fully_qualified_name_causes("n", "")[0].message == "Required value"
    assert "at least three segments" in ar.fully_qualified_name_causes("n", "a.b")[0].message


def test_webhook_defaults() -> None:
    config: dict[str, Any] = {"webhooks": [{"rules": [{}], "clientConfig": {"service": {}}}]}
    ar.DEFAULTERS[(ar.GROUP, "MutatingWebhookConfiguration")](config)
    hook = config["webhooks"][0]
    assert (hook["failurePolicy"], hook["matchPolicy"], hook["timeoutSeconds"],
            hook["reinvocationPolicy"], hook["rules"][0]["scope"],
            hook["clientConfig"]["service"]["port"]) == ("Fail", "Equivalent", 10, "Never",
                                                          "*", 443)


def test_review_versions_need_a_known_one() -> None:
    rule = ar.CAUSES[(ar.GROUP, "ValidatingWebhookConfiguration")]
    hook = {"name": "a.b.c", "sideEffects": "None", "clientConfig": {"url": "https://x"},
            "admissionReviewVersions": ["v9", "v9"]}
    messages = [(c.field, c.message) for c in rule({"webhooks": [hook]})]
    assert ("webhooks[0].admissionReviewVersions[1]", 'Invalid value: "v9": duplicate version') \
        in messages
    assert any(m.endswith("must include at least one of v1, v1beta1, v1alpha1")
               for _, m in messages)


def test_api_service_rules() -> None:
    rule = apiservices.CAUSES[(apiservices.GROUP, apiservices.KIND)]
    ok = {"metadata": {"name": "v1.x.example.com"}, "spec": {
        "group": "x.example.com", "version": "v1", "groupPriorityMinimum": 1,
        "versionPriority": 1}}
    assert rule(ok) == []
    bad = {"metadata": {"name": "v1."}, "spec": {"version": "v2", "caBundle": "YWJj"}}
    messages = [(c.field, c.message) for c in rule(bad)]
    assert ("spec.group", "Required value: only v1 may have an empty group and it better be "
                          "legacy kube") in messages
    assert ("spec.groupPriorityMinimum", "Invalid value: 0: must be positive and less than "
                                         "20000") in messages
    assert ("spec.caBundle", 'Invalid value: "3 bytes": local APIServices may not have a '
                             "caBundle") in messages
