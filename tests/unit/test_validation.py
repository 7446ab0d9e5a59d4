"""Validation with the API server's messages, and pruning."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from orchestrator.api.errors import BadRequest, Invalid
from orchestrator.api.kinds import ResourceType
from orchestrator.api.schemas import schema_for, schema_from_openapi_v3
from orchestrator.api.validation import (
    DNS1123_SUBDOMAIN_MSG,
    check_field_validation,
    prune,
    validate_name,
    validate_object,
)


def _rt(group: str, kind: str, plural: str, *, namespaced: bool = True,
        custom: bool = False, schema: dict[str, Any] | None = None) -> ResourceType:
    return ResourceType(group=group, version="v1", kind=kind, plural=plural,
                        singular=kind.lower(), namespaced=namespaced, custom=custom,
                        crd_schema=schema)


DEPLOYMENT = _rt("apps", "Deployment", "deployments")
POD = _rt("", "Pod", "pods")
JOB = _rt("batch", "Job", "jobs")
SERVICE = _rt("", "Service", "services")
CONFIGMAP = _rt("", "ConfigMap", "configmaps")
NAMESPACE = _rt("", "Namespace", "namespaces", namespaced=False)
ROLE = _rt("rbac.authorization.k8s.io", "Role", "roles")


def deployment(**spec_overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                                  "ports": [{"containerPort": 80}]}]}},
        },
    }
    obj["spec"].update(spec_overrides)
    return obj


def check(obj: dict[str, Any], rt: ResourceType, mode: str = "Strict") -> list[str]:
    schema = schema_for(rt.group, rt.version, rt.kind)
    return validate_object(obj, rt, schema, field_validation=mode)


def causes_of(obj: dict[str, Any], rt: ResourceType) -> list[tuple[str, str]]:
    with pytest.raises(Invalid) as caught:
        check(obj, rt)
    return [(c.field, c.message) for c in caught.value.causes]


def test_valid_deployment_passes_without_warnings() -> None:
    assert check(deployment(), DEPLOYMENT) == []


def test_negative_replicas_gives_exactly_one_cause() -> None:
    assert causes_of(deployment(replicas=-1), DEPLOYMENT) == [
        ("spec.replicas", "Invalid value: -1: must be greater than or equal to 0")
    ]


def test_invalid_message_names_the_object_like_the_server() -> None:
    with pytest.raises(Invalid) as caught:
        check(deployment(replicas=-1), DEPLOYMENT)
    assert caught.value.code == 422
    assert caught.value.message == (
        'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: '
        "must be greater than or equal to 0"
    )


def test_selector_must_match_template_labels() -> None:
    obj = deployment(selector={"matchLabels": {"app": "other"}})
    assert causes_of(obj, DEPLOYMENT) == [(
        "spec.template.metadata.labels",
        'Invalid value: map[string]string{"app":"web"}: `selector` does not match template '
        "`labels`",
    )]


def test_unknown_selector_operator_is_refused_not_matched() -> None:
    # The old matcher here skipped unknown operators, so such a selector "matched" the template.
    obj = deployment(selector={"matchLabels": {"app": "web"},
                               "matchExpressions": [{"key": "tier", "operator": "Bogus"}]})
    assert causes_of(obj, DEPLOYMENT) == [
        ("spec.selector.matchExpressions[0].operator",
         'Invalid value: "Bogus": not a valid selector operator'),
        ("spec.selector", 'Invalid value: {"matchLabels":{"app":"web"},"matchExpressions":'
                          '[{"key":"tier","operator":"Bogus"}]}: invalid label selector'),
    ]
    obj = deployment(selector={"matchExpressions": [{"key": "app", "operator": "NotIn",
                                                     "values": ["web"]}]})
    assert [field for field, _ in causes_of(obj, DEPLOYMENT)] == ["spec.template.metadata.labels"]


def test_missing_selector_is_required() -> None:
    obj = deployment()
    del obj["spec"]["selector"]
    assert ("spec.selector", "Required value") in causes_of(obj, DEPLOYMENT)


def test_all_causes_come_at_once() -> None:
    obj = deployment(replicas=-3)
    obj["spec"]["template"]["spec"]["containers"] = [
        {"name": "Web_1", "image": "x"}, {"name": "db", "image": "y"},
        {"name": "db", "image": "z", "ports": [{"containerPort": 70000}]},
    ]
    fields = [f for f, _ in causes_of(obj, DEPLOYMENT)]
    assert fields == [
        "spec.replicas",
        "spec.template.spec.containers[0].name",
        "spec.template.spec.containers[2].name",
        "spec.template.spec.containers[2].ports[0].containerPort",
    ]


def test_pod_needs_containers() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}
    assert causes_of(pod, POD) == [("spec.containers", "Required value")]
    pod["spec"] = {"containers": [{"name": "c"}]}
    assert causes_of(pod, POD) == [("spec.containers[0].image", "Required value")]


def test_unknown_field_strict_is_400_with_the_real_message() -> None:
    obj = deployment(foo=1)
    obj["spec"]["template"]["spec"]["containers"][0]["bar"] = True
    with pytest.raises(BadRequest) as caught:
        check(obj, DEPLOYMENT, "Strict")
    assert caught.value.code == 400
    assert caught.value.message == (
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
        'unknown field "spec.template.spec.containers[0].bar", unknown field "spec.foo"'
    )  # in the order the fields appear in the body, as Go's decoder meets them


def test_unknown_field_warn_and_ignore() -> None:
    assert check(deployment(foo=1), DEPLOYMENT, "Warn") == ['unknown field "spec.foo"']
    assert check(deployment(foo=1), DEPLOYMENT, "") == ['unknown field "spec.foo"']
    assert check(deployment(foo=1), DEPLOYMENT, "Ignore") == []


def test_bad_field_validation_value_is_rejected_like_the_server() -> None:
    with pytest.raises(Invalid) as caught:
        check(deployment(), DEPLOYMENT, "Loose")
    assert caught.value.message == (
        'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: '
        '"Loose": supported values: "", "Ignore", "Strict", "Warn"'
    )
    assert check_field_validation(None) == "Warn"


def test_wrong_json_type_is_a_decoding_error() -> None:
    with pytest.raises(BadRequest) as caught:
        check(deployment(replicas="3"), DEPLOYMENT)
    assert caught.value.message == (
        'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal '
        "string into Go struct field DeploymentSpec.spec.replicas of type int32"
    )


def test_bad_quantity_is_a_decoding_error() -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "lots"}}
    with pytest.raises(BadRequest) as caught:
        check(obj, DEPLOYMENT)
    assert "quantities must match the regular expression" in caught.value.message
    obj["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "limits": {"cpu": "500m", "memory": "1Gi", "nvidia.com/gpu": 1}}
    assert check(obj, DEPLOYMENT) == []


def test_job_restart_policy() -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "train"},
           "spec": {"backoffLimit": -1, "template": {"spec": {
               "containers": [{"name": "t", "image": "python"}]}}}}
    assert causes_of(job, JOB) == [
        ("spec.backoffLimit", "Invalid value: -1: must be greater than or equal to 0"),
        ("spec.template.spec.restartPolicy", 'Required value: valid values: "OnFailure", "Never"'),
    ]
    job["spec"]["backoffLimit"] = 2
    job["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    assert causes_of(job, JOB) == [(
        "spec.template.spec.restartPolicy",
        'Unsupported value: "Always": supported values: "OnFailure", "Never"',
    )]
    job["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    assert check(job, JOB) == []


def test_service_ports() -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"ports": [{"name": "http", "port": 80}, {"name": "http", "port": 0},
                              {"port": 443}]}}
    assert causes_of(svc, SERVICE) == [
        ("spec.ports[1].name", 'Duplicate value: "http"'),
        ("spec.ports[1].port", "Invalid value: 0: must be between 1 and 65535, inclusive"),
        ("spec.ports[2].name", "Required value"),
    ]


def test_configmap_keys() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
          "data": {"good.key": "1", "bad key": "2"}}
    causes = causes_of(cm, CONFIGMAP)
    assert [f for f, _ in causes] == ["data[bad key]"]
    assert "a valid config key must consist of alphanumeric characters" in causes[0][1]


def test_names_follow_the_kind_rule() -> None:
    assert validate_name("web.example", "Deployment", "apps") == []
    (cause,) = validate_name("Web", "Deployment", "apps")
    assert cause.field == "metadata.name"
    assert cause.message == f'Invalid value: "Web": {DNS1123_SUBDOMAIN_MSG}'
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a.b"}}
    assert [f for f, _ in causes_of(ns, NAMESPACE)] == ["metadata.name"]
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "system:Reader"}}
    assert check(role, ROLE) == []
    role["metadata"]["name"] = "a/b"
    assert causes_of(role, ROLE) == [("metadata.name", 'Invalid value: "a/b": may not contain \'/\'')]


def test_labels_and_missing_name() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "generateName": "x-", "labels": {"ok": "fine", "bad/key/x": "v", "k": "bad value"}}}
    fields = causes_of(cm, CONFIGMAP)
    assert [f for f, _ in fields] == ["metadata.labels", "metadata.labels"]
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}
    assert causes_of(cm, CONFIGMAP) == [
        ("metadata.name", "Required value: name or generateName is required")]


def test_garbage_input_never_raises_anything_but_api_errors() -> None:
    for junk in ({"spec": 5}, {"spec": {"template": []}}, {"metadata": "x"},
                 {"spec": {"selector": "x", "template": {"spec": {"containers": "no"}}}}):
        with pytest.raises((Invalid, BadRequest)):
            check(dict(junk, apiVersion="apps/v1", kind="Deployment"), DEPLOYMENT)


CRD_SCHEMA = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "spec": {"type": "object", "required": ["workers"], "properties": {
            "workers": {"type": "integer", "minimum": 0},
            "mode": {"type": "string", "enum": ["fast", "slow"]},
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        }},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}
DASK = _rt("kubernetes.dask.org", "DaskCluster", "daskclusters", custom=True, schema=CRD_SCHEMA)


def dask(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskCluster",
            "metadata": {"name": "dc"}, "spec": spec}


def crd_check(obj: dict[str, Any], mode: str = "Strict") -> list[str]:
    return validate_object(obj, DASK, schema_from_openapi_v3(CRD_SCHEMA), field_validation=mode)


def test_custom_resource_validation() -> None:
    assert crd_check(dask({"workers": 2, "extra": {"anything": [1]}})) == []
    with pytest.raises(Invalid) as caught:
        crd_check(dask({"workers": "two", "mode": "medium"}))
    assert [(c.field, c.message) for c in caught.value.causes] == [
        ("spec.workers", 'Invalid value: "string": spec.workers in body must be of type '
                         'integer: "string"'),
        ("spec.mode", 'Unsupported value: "medium": supported values: "fast", "slow"'),
    ]
    with pytest.raises(Invalid) as caught:
        crd_check(dask({"workers": -1}))
    assert caught.value.message == (
        'DaskCluster.kubernetes.dask.org "dc" is invalid: spec.workers: Invalid value: -1: '
        "spec.workers in body should be greater than or equal to 0"
    )
    with pytest.raises(BadRequest) as bad:
        crd_check(dask({"workers": 1, "colour": "red"}))
    assert bad.value.message.endswith('strict decoding error: unknown field "spec.colour"')


def test_prune_builtin_drops_unknown_fields_only() -> None:
    obj = deployment(foo=1)
    obj["metadata"]["bogus"] = "x"
    obj["spec"]["template"]["spec"]["containers"][0]["bar"] = True
    expected = deployment()
    assert prune(obj, schema_for("apps", "v1", "Deployment")) == expected
    managed = {"manager": "kubectl", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
    obj = deployment()
    obj["metadata"]["managedFields"] = [managed]
    assert prune(obj, schema_for("apps", "v1", "Deployment")) == obj


def test_prune_custom_resource() -> None:
    schema = schema_from_openapi_v3(CRD_SCHEMA)
    obj = dask({"workers": 1, "colour": "red", "extra": {"kept": {"deep": 1}}, "mode": None})
    obj["metadata"]["weird"] = 1
    obj["status"] = {"anything": True}
    pruned = prune(copy.deepcopy(obj), schema)
    assert pruned == {
        "apiVersion": "kubernetes.dask.org/v1", "kind": "DaskCluster",
        "metadata": {"name": "dc"},
        "spec": {"workers": 1, "extra": {"kept": {"deep": 1}}},
        "status": {"anything": True},
    }
    assert prune(obj, None) == obj
