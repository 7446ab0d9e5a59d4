"""Server-side defaults of the built-in kinds."""

from __future__ import annotations

from typing import Any

from orchestrator.api.defaults import apply_defaults, image_pull_policy
from orchestrator.api.kinds import ResourceType


def _rt(group: str, kind: str, *, custom: bool = False) -> ResourceType:
    return ResourceType(group=group, version="v1", kind=kind, plural=kind.lower() + "s",
                        singular=kind.lower(), namespaced=True, custom=custom)


def _pod_spec() -> dict[str, Any]:
    return {"containers": [{"name": "c", "image": "python:3.11", "ports": [{"containerPort": 8786}]}]}


def test_pod_defaults() -> None:
    pod: dict[str, Any] = {"metadata": {"name": "p"}, "spec": _pod_spec()}
    apply_defaults(pod, _rt("", "Pod"))
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["securityContext"] == {}
    assert spec["enableServiceLinks"] is True
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "default"
    assert spec["priority"] == 0
    container = spec["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["terminationMessagePolicy"] == "File"
    assert container["ports"] == [{"containerPort": 8786, "protocol": "TCP"}]
    assert container["resources"] == {}


def test_defaults_never_overwrite() -> None:
    pod: dict[str, Any] = {"spec": dict(_pod_spec(), restartPolicy="Never",
                                        serviceAccountName="runner")}
    apply_defaults(pod, _rt("", "Pod"))
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["serviceAccount"] == "runner"


def test_image_pull_policy() -> None:
    assert image_pull_policy("nginx") == "Always"
    assert image_pull_policy("nginx:latest") == "Always"
    assert image_pull_policy("localhost:5000/nginx") == "Always"
    assert image_pull_policy("localhost:5000/nginx:1.2") == "IfNotPresent"
    assert image_pull_policy("nginx@sha256:abc") == "IfNotPresent"


def test_deployment_defaults_and_template() -> None:
    obj: dict[str, Any] = {"spec": {"template": {"spec": _pod_spec()}}}
    apply_defaults(obj, _rt("apps", "Deployment"))
    spec = obj["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    template_spec = spec["template"]["spec"]
    assert template_spec["restartPolicy"] == "Always"
    assert "serviceAccountName" not in template_spec  # admission sets it on Pods only
    assert template_spec["containers"][0]["terminationMessagePolicy"] == "File"


def test_recreate_strategy_gets_no_rolling_update() -> None:
    obj: dict[str, Any] = {"spec": {"strategy": {"type": "Recreate"}, "template": {}}}
    apply_defaults(obj, _rt("apps", "Deployment"))
    assert obj["spec"]["strategy"] == {"type": "Recreate"}


def test_statefulset_and_daemonset_defaults() -> None:
    sts: dict[str, Any] = {"spec": {"template": {"spec": _pod_spec()},
                                    "volumeClaimTemplates": [{"spec": {}}]}}
    apply_defaults(sts, _rt("apps", "StatefulSet"))
    assert sts["spec"]["podManagementPolicy"] == "OrderedReady"
    assert sts["spec"]["updateStrategy"] == {"type": "RollingUpdate",
                                             "rollingUpdate": {"partition": 0}}
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain", "whenScaled": "Retain"}
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["volumeMode"] == "Filesystem"
    ds: dict[str, Any] = {"spec": {"template": {"spec": _pod_spec()}}}
    apply_defaults(ds, _rt("apps", "DaemonSet"))
    assert ds["spec"]["updateStrategy"] == {"type": "RollingUpdate",
                                            "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert ds["spec"]["revisionHistoryLimit"] == 10


def test_job_defaults_and_generated_selector() -> None:
    job: dict[str, Any] = {"metadata": {"name": "train", "uid": "u-1"},
                           "spec": {"template": {"spec": dict(_pod_spec(), restartPolicy="Never")}}}
    apply_defaults(job, _rt("batch", "Job"))
    spec = job["spec"]
    assert (spec["parallelism"], spec["completions"], spec["backoffLimit"]) == (1, 1, 6)
    assert spec["completionMode"] == "NonIndexed"
    assert spec["suspend"] is False
    assert "manualSelector" not in spec
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}}
    assert spec["template"]["metadata"]["labels"] == {
        "batch.kubernetes.io/controller-uid": "u-1", "batch.kubernetes.io/job-name": "train",
        "controller-uid": "u-1", "job-name": "train"}


def test_job_parallelism_alone_leaves_completions_unset() -> None:
    job: dict[str, Any] = {"spec": {"parallelism": 4, "template": {}}}
    apply_defaults(job, _rt("batch", "Job"))
    assert job["spec"]["parallelism"] == 4
    assert "completions" not in job["spec"]
    assert "selector" not in job["spec"]  # no uid yet, nothing to select on


def test_cronjob_defaults() -> None:
    cj: dict[str, Any] = {"spec": {"schedule": "* * * * *", "jobTemplate": {
        "spec": {"template": {"spec": _pod_spec()}}}}}
    apply_defaults(cj, _rt("batch", "CronJob"))
    spec = cj["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"]) == ("Allow", False)
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 1)
    assert spec["jobTemplate"]["spec"]["template"]["spec"]["dnsPolicy"] == "ClusterFirst"


def test_service_defaults() -> None:
    svc: dict[str, Any] = {"spec": {"ports": [{"port": 80}, {"port": 443, "targetPort": "https"}]}}
    apply_defaults(svc, _rt("", "Service"))
    spec = svc["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["sessionAffinity"] == "None"
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80},
                             {"port": 443, "targetPort": "https", "protocol": "TCP"}]
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert spec["ipFamilyPolicy"] == "SingleStack"
    assert spec["ipFamilies"] == ["IPv4"]
    external: dict[str, Any] = {"spec": {"type": "ExternalName", "externalName": "x.org"}}
    apply_defaults(external, _rt("", "Service"))
    assert "ipFamilies" not in external["spec"]


def test_namespace_secret_pvc_defaults() -> None:
    ns: dict[str, Any] = {"metadata": {"name": "team"}}
    apply_defaults(ns, _rt("", "Namespace"))
    assert ns["spec"] == {"finalizers": ["kubernetes"]}
    assert ns["status"] == {"phase": "Active"}
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team"}
    secret: dict[str, Any] = {}
    apply_defaults(secret, _rt("", "Secret"))
    assert secret["type"] == "Opaque"
    pvc: dict[str, Any] = {"spec": {}}
    apply_defaults(pvc, _rt("", "PersistentVolumeClaim"))
    assert pvc["spec"]["volumeMode"] == "Filesystem"


def test_ingress_and_custom_resources_are_untouched() -> None:
    ingress: dict[str, Any] = {"spec": {"rules": [{"http": {"paths": [{"path": "/"}]}}]}}
    apply_defaults(ingress, ResourceType(group="networking.k8s.io", version="v1",
                                         kind="Ingress", plural="ingresses",
                                         singular="ingress", namespaced=True))
    assert ingress == {"spec": {"rules": [{"http": {"paths": [{"path": "/"}]}}]}}
    custom: dict[str, Any] = {"spec": {}}
    apply_defaults(custom, _rt("apps", "Deployment", custom=True))
    assert custom == {"spec": {}}


def test_garbage_does_not_raise() -> None:
    for junk in ({"spec": 5}, {"spec": {"containers": "x"}}, {"spec": {"template": []}},
                 {"metadata": "x", "spec": {"ports": [1, None]}}):
        for kind in ("Pod", "Service"):
            apply_defaults(dict(junk), _rt("", kind))
        apply_defaults(dict(junk), _rt("apps", "Deployment"))
        apply_defaults(dict(junk), _rt("batch", "Job"))


def test_custom_resources_get_their_schema_defaults() -> None:
    from orchestrator.api.kinds import resource_types_from_crd

    crd = {"spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "things", "kind": "Thing"},
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                        "openAPIV3Schema": {"type": "object", "properties": {"spec": {
                            "type": "object", "properties": {
                                "size": {"type": "integer", "default": 3},
                                "ports": {"type": "array", "items": {
                                    "type": "object", "properties": {
                                        "protocol": {"type": "string", "default": "TCP"},
                                        "port": {"type": "integer"}}}},
                            }}}}}}]}}
    (rt,) = resource_types_from_crd(crd)
    obj = {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"},
           "spec": {"ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]}}
    apply_defaults(obj, rt)
    assert obj["spec"]["size"] == 3
    assert obj["spec"]["ports"] == [{"port": 80, "protocol": "TCP"},
                                    {"port": 53, "protocol": "UDP"}]
