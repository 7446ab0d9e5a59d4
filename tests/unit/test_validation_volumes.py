"""Volumes, mounts and ConfigMap/Secret data as kube-apiserver validates them: the rules that
keep volume names, item paths, sub-paths and claim names inside a pod's folder, with its
messages and field paths."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from orchestrator.api.errors import Invalid
from orchestrator.api.kinds import ResourceType
from orchestrator.api.names import DNS1123_LABEL_MSG, DNS1123_SUBDOMAIN_MSG
from orchestrator.api.schemas import schema_for
from orchestrator.api.validation import validate_object
from orchestrator.api.validation_volumes import (
    FILE_MODE_MSG,
    descending_path_causes,
    non_reserved_path_causes,
    pod_volume_causes,
)


def _rt(group: str, kind: str, plural: str) -> ResourceType:
    return ResourceType(group=group, version="v1", kind=kind, plural=plural,
                        singular=kind.lower(), namespaced=True)


POD = _rt("", "Pod", "pods")
CONFIGMAP = _rt("", "ConfigMap", "configmaps")
SECRET = _rt("", "Secret", "secrets")
DEPLOYMENT = _rt("apps", "Deployment", "deployments")
CRONJOB = _rt("batch", "CronJob", "cronjobs")


def spec(volumes: list[dict[str, Any]], mounts: list[dict[str, Any]] | None = None
         ) -> dict[str, Any]:
    return {"volumes": volumes,
            "containers": [{"name": "main", "image": "busybox", "volumeMounts": mounts or []}]}


def causes(volumes: list[dict[str, Any]], mounts: list[dict[str, Any]] | None = None
           ) -> list[tuple[str, str]]:
    return [(c.field, c.message) for c in pod_volume_causes(spec(volumes, mounts), "spec")]


def rejected(obj: dict[str, Any], rt: ResourceType) -> Invalid:
    with pytest.raises(Invalid) as caught:
        validate_object(obj, rt, schema_for(rt.group, rt.version, rt.kind),
                        field_validation="Strict")
    return caught.value


def accepted(obj: dict[str, Any], rt: ResourceType) -> None:
    validate_object(obj, rt, schema_for(rt.group, rt.version, rt.kind), field_validation="Strict")


# --- path rules -------------------------------------------------------------------------
@pytest.mark.parametrize("value,messages", [
    ("data/file", []),
    ("a..b/..c", []),  # `..` only as a whole element
    ("../../..", ["must not contain '..'"]),  # one cause, however many backsteps
    ("a/../../b", ["must not contain '..'"]),
    ("/etc/x", ["must be a relative path"]),
    ("/a/../b", ["must be a relative path", "must not contain '..'"]),
])
def test_local_descending_path(value: str, messages: list[str]) -> None:
    found = descending_path_causes(value, "p")
    assert [c.message for c in found] == [f'Invalid value: "{value}": {m}' for m in messages]


@pytest.mark.parametrize("value,messages", [
    ("..data", ["must not start with '..'"]),  # the atomic writer's own folder
    ("...", ["must not start with '..'"]),
    ("../x", ["must not contain '..'"]),  # not reported twice
    ("..", ["must not contain '..'", "must not start with '..'"]),  # both, as Kubernetes says
    (".hidden", []),
])
def test_local_non_reserved_path(value: str, messages: list[str]) -> None:
    found = non_reserved_path_causes(value, "p")
    assert [c.message for c in found] == [f'Invalid value: "{value}": {m}' for m in messages]


# --- volume names -----------------------------------------------------------------------
def test_the_climbing_configmap_volume_gets_kubernetes_exact_message() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
           "spec": spec([{"name": "../..", "configMap": {"name": "evil"}}])}
    error = rejected(pod, POD)
    assert str(error.message) == (
        f'Pod "x" is invalid: spec.volumes[0].name: Invalid value: "../..": {DNS1123_LABEL_MSG}')
    assert [c.reason for c in error.causes] == ["FieldValueInvalid"]


@pytest.mark.parametrize("name,expected", [
    ("Data", [f'Invalid value: "Data": {DNS1123_LABEL_MSG}']),
    ("a" * 64, ["Invalid value: \"" + "a" * 64 + "\": must be no more than 63 characters"]),
    ("a/b", [f'Invalid value: "a/b": {DNS1123_LABEL_MSG}']),
    ("", ["Required value"]),
])
def test_volume_names_are_dns_labels(name: str, expected: list[str]) -> None:
    assert causes([{"name": name, "emptyDir": {}}]) == [("spec.volumes[0].name", m)
                                                        for m in expected]


def test_volume_names_are_unique_and_mounts_must_name_a_valid_volume() -> None:
    found = causes([{"name": "data", "emptyDir": {}}, {"name": "data", "emptyDir": {}},
                    {"name": "../x", "emptyDir": {}}],
                   [{"name": "data", "mountPath": "/a"}, {"name": "../x", "mountPath": "/b"},
                    {"name": "nope", "mountPath": "/a"}, {"name": "", "mountPath": ""}])
    assert found == [
        ("spec.volumes[1].name", 'Duplicate value: "data"'),
        ("spec.volumes[2].name", f'Invalid value: "../x": {DNS1123_LABEL_MSG}'),
        ("spec.containers[0].volumeMounts[1].name", 'Not found: "../x"'),
        ("spec.containers[0].volumeMounts[2].name", 'Not found: "nope"'),
        ("spec.containers[0].volumeMounts[2].mountPath", 'Invalid value: "/a": must be unique'),
        ("spec.containers[0].volumeMounts[3].name", "Required value"),
        ("spec.containers[0].volumeMounts[3].name", 'Not found: ""'),
        ("spec.containers[0].volumeMounts[3].mountPath", "Required value"),
    ]


def test_more_than_one_volume_type_is_forbidden_with_kubernetes_field_names() -> None:
    assert causes([{"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"},
                    "downwardAPI": {"items": []}}]) == [
        ("spec.volumes[0].hostPath", "Forbidden: may not specify more than 1 volume type"),
        ("spec.volumes[0].downwarAPI", "Forbidden: may not specify more than 1 volume type"),
    ]


# --- sub-paths --------------------------------------------------------------------------
def test_sub_paths_are_relative_and_never_climb() -> None:
    found = causes([{"name": "v", "emptyDir": {}}],
                   [{"name": "v", "mountPath": "/a", "subPath": "../../../../tmp"},
                    {"name": "v", "mountPath": "/b", "subPath": "/etc"},
                    {"name": "v", "mountPath": "/c", "subPath": "ok/nested"},
                    {"name": "v", "mountPath": "/d", "subPath": "x", "subPathExpr": "$(A)/.."}])
    path = "spec.containers[0].volumeMounts"
    assert found == [
        (f"{path}.subPath", "Invalid value: \"../../../../tmp\": must not contain '..'"),
        (f"{path}.subPath", 'Invalid value: "/etc": must be a relative path'),
        (f"{path}[3].subPathExpr",
         'Invalid value: "$(A)/..": subPathExpr and subPath are mutually exclusive'),
        (f"{path}.subPathExpr", "Invalid value: \"$(A)/..\": must not contain '..'"),
    ]


def test_init_container_mounts_are_checked_too() -> None:
    pod_spec = spec([{"name": "v", "emptyDir": {}}])
    pod_spec["initContainers"] = [{"name": "init", "image": "busybox", "volumeMounts": [
        {"name": "v", "mountPath": "/v", "subPath": ".."}]}]
    assert [c.field for c in pod_volume_causes(pod_spec, "spec")] == [
        "spec.initContainers[0].volumeMounts.subPath"]


# --- claims, items, modes ---------------------------------------------------------------
@pytest.mark.parametrize("claim,expected", [
    ("../daskhub-bob/bobdata", [f'Invalid value: "../daskhub-bob/bobdata": '
                                f"{DNS1123_SUBDOMAIN_MSG}"]),
    ("bob/data", [f'Invalid value: "bob/data": {DNS1123_SUBDOMAIN_MSG}']),
    ("", ["Required value"]),
    ("claim-1.data", []),
])
def test_claim_names_are_object_names(claim: str, expected: list[str]) -> None:
    found = causes([{"name": "v", "persistentVolumeClaim": {"claimName": claim}}])
    assert found == [("spec.volumes[0].persistentVolumeClaim.claimName", m) for m in expected]


def test_configmap_and_secret_items() -> None:
    found = causes([
        {"name": "c", "configMap": {"name": "cm", "defaultMode": 0o1777, "items": [
            {"key": "k", "path": "../../token"}, {"key": "", "path": ""},
            {"key": "k", "path": "..data", "mode": -1}]}},
        {"name": "s", "secret": {"items": [{"key": "k", "path": "/abs"}]}},
    ])
    assert found == [
        ("spec.volumes[0].configMap.defaultMode", f"Invalid value: 1023: {FILE_MODE_MSG}"),
        ("spec.volumes[0].configMap.items[0].path",
         "Invalid value: \"../../token\": must not contain '..'"),
        ("spec.volumes[0].configMap.items[1].key", "Required value"),
        ("spec.volumes[0].configMap.items[1].path", "Required value"),
        ("spec.volumes[0].configMap.items[2].path",
         "Invalid value: \"..data\": must not start with '..'"),
        ("spec.volumes[0].configMap.items[2].mode", f"Invalid value: -1: {FILE_MODE_MSG}"),
        ("spec.volumes[1].secret.secretName", "Required value"),
        ("spec.volumes[1].secret.items[0].path", 'Invalid value: "/abs": must be a relative path'),
    ]


def test_downward_api_paths_are_reported_on_the_source_as_kubernetes_does() -> None:
    found = causes([{"name": "d", "downwardAPI": {"items": [
        {"path": "../x", "fieldRef": {"fieldPath": "metadata.name"}}, {"path": "ok"}]}}])
    assert found == [
        ("spec.volumes[0].downwardAPI.path", "Invalid value: \"../x\": must not contain '..'"),
        ("spec.volumes[0].downwardAPI",
         "Required value: one of fieldRef and resourceFieldRef is required"),
    ]


def test_projected_sources() -> None:
    found = causes([{"name": "p", "projected": {"sources": [
        {"serviceAccountToken": {"path": "../../token", "expirationSeconds": 60}},
        {"configMap": {"name": "a", "items": [{"key": "k", "path": "same"}]}},
        {"secret": {"name": "b", "items": [{"key": "k", "path": "same"}]},
         "configMap": {"name": "c"}},
        {"downwardAPI": {"items": [{"path": "/abs",
                                    "fieldRef": {"fieldPath": "metadata.name"}}]}},
    ]}}])
    assert found == [
        ("spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds",
         "Invalid value: 60: may not specify a duration less than 10 minutes"),
        ("spec.volumes[0].projected.path",
         "Invalid value: \"../../token\": must not contain '..'"),
        ("spec.volumes[0].projected", 'Invalid value: "b": conflicting duplicate paths'),
        ("spec.volumes[0].projected.sources[2]",
         "Forbidden: may not specify more than 1 volume type per source"),
        ("spec.volumes[0].projected.sources[3].downwardAPI.path",
         'Invalid value: "/abs": must be a relative path'),
    ]


def test_host_path_may_be_absolute_but_never_climbs() -> None:
    assert causes([{"name": "h", "hostPath": {"path": "/srv/../etc", "type": "Bogus"}}]) == [
        ("spec.volumes[0].hostPath.path", "Invalid value: \"/srv/../etc\": must not contain '..'"),
        ("spec.volumes[0].hostPath.type", 'Unsupported value: "Bogus": supported values: "", '
         '"BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", '
         '"FileOrCreate", "Socket"'),
    ]


def test_well_formed_volumes_pass() -> None:
    assert causes([
        {"name": "conf", "configMap": {"name": "cm", "items": [{"key": "a", "path": "x/a.txt"}]}},
        {"name": "token", "projected": {"sources": [
            {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}]}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-0"}},
        {"name": "scratch", "emptyDir": {}},
    ], [{"name": "conf", "mountPath": "/conf"},
        {"name": "scratch", "mountPath": "/s", "subPath": "nested/dir"},
        {"name": "scratch", "mountPath": "/e", "subPathExpr": "$(POD_NAME)"}]) == []


# --- templates --------------------------------------------------------------------------
def test_templates_are_validated_like_pods() -> None:
    template = {"metadata": {"labels": {"app": "a"}},
                "spec": {**spec([{"name": "../x", "emptyDir": {}}]), "restartPolicy": "Never"}}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                  "spec": {"selector": {"matchLabels": {"app": "a"}},
                           "template": {**template, "spec": {**template["spec"],
                                                             "restartPolicy": "Always"}}}}
    assert [c.field for c in rejected(deployment, DEPLOYMENT).causes] == [
        "spec.template.spec.volumes[0].name"]
    cronjob = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
               "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}}
    assert [c.field for c in rejected(cronjob, CRONJOB).causes] == [
        "spec.jobTemplate.spec.template.spec.volumes[0].name"]


# --- ConfigMap and Secret data ----------------------------------------------------------
def configmap(**sections: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, **sections}


def secret(**sections: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "big"}, **sections}


MIB = 1024 * 1024
TOO_LONG = "Too long: must have at most 1048576 bytes"


def test_configmap_of_exactly_one_mib_is_accepted_one_byte_more_is_not() -> None:
    accepted(configmap(data={"a": "x" * (MIB - 1), "b": "y"}), CONFIGMAP)
    error = rejected(configmap(data={"a": "x" * MIB, "b": "y"}), CONFIGMAP)
    assert error.message == f'ConfigMap "big" is invalid: []: {TOO_LONG}'


def test_configmap_counts_utf8_bytes_and_decoded_binary_data() -> None:
    accepted(configmap(binaryData={"b": base64.b64encode(b"\0" * MIB).decode()}), CONFIGMAP)
    rejected(configmap(data={"a": "é" * (MIB // 2 + 1)}), CONFIGMAP)  # 2 bytes each
    rejected(configmap(data={"a": "x" * (MIB // 2)},
                       binaryData={"b": base64.b64encode(b"\0" * (MIB // 2 + 1)).decode()}),
             CONFIGMAP)


def test_secret_counts_decoded_data_and_string_data_on_data() -> None:
    accepted(secret(data={"a": base64.b64encode(b"\0" * MIB).decode()}), SECRET)
    error = rejected(secret(data={"a": base64.b64encode(b"\0" * MIB).decode()},
                            stringData={"b": "1"}), SECRET)
    assert [(c.field, c.message) for c in error.causes] == [("data", TOO_LONG)]
    # stringData replaces a data key of the same name: counted once
    accepted(secret(data={"a": base64.b64encode(b"\0" * MIB).decode()},
                    stringData={"a": "small"}), SECRET)


def test_secret_string_data_keys_are_checked_as_data_keys() -> None:
    error = rejected(secret(stringData={"../token": "x", "ok.key": "y"}), SECRET)
    assert [c.field for c in error.causes] == ["data[../token]", "data[../token]"]
    assert "a valid config key must consist of" in error.causes[0].message
    assert error.causes[1].message == "Invalid value: \"../token\": must not start with '..'"
