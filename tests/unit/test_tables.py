"""Server-side printing: the Tables `kubectl get` renders, compared with a real cluster's."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from orchestrator.api.durations import human_duration, parse_timestamp
from orchestrator.api.errors import BadRequest
from orchestrator.api.tables import has_builtin_printer, to_table

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def headers(table: dict[str, Any], wide: bool = False) -> list[str]:
    return [c["name"].upper() for c in table["columnDefinitions"] if wide or c["priority"] == 0]


def cells(kind: str, group: str, obj: dict[str, Any], **options: Any) -> list[Any]:
    table = to_table(kind, group, [obj], now=NOW, **options)
    return list(table["rows"][0]["cells"])


# --- durations -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(-5, "<invalid>"), (-1, "0s"), (0, "0s"), (5, "5s"), (119, "119s"), (123, "2m3s"), (120, "2m"),
     (600, "10m"), (179 * 60, "179m"), (3 * 3600 + 20 * 60, "3h20m"), (5 * 3600, "5h"),
     (10 * 3600, "10h"), (2 * 86400, "2d"), (2 * 86400 + 3 * 3600, "2d3h"), (30 * 86400, "30d"),
     (2 * 365 * 86400, "2y"), (3 * 365 * 86400 + 5 * 86400, "3y5d"), (9 * 365 * 86400, "9y")],
)
def test_human_duration(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_parse_timestamp() -> None:
    assert parse_timestamp("2024-05-01T12:00:00Z") == NOW
    assert parse_timestamp("2024-05-01T14:00:00.123456+02:00") == NOW + timedelta(microseconds=123456)
    assert parse_timestamp("yesterday") is None
    assert parse_timestamp(None) is None


# --- pods ------------------------------------------------------------------------------------------


def pod(status: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web-1", "namespace": "default", "creationTimestamp": ago(minutes=5)},
        "spec": {"containers": [{"name": "app", "image": "python:3.11"}], **spec},
        "status": status,
    }


def running(name: str = "app", restarts: int = 0, **extra: Any) -> dict[str, Any]:
    return {"name": name, "ready": True, "restartCount": restarts, "state": {"running": {}}, **extra}


def test_pod_columns_match_kubectl() -> None:
    table = to_table("Pod", "", [pod({"phase": "Pending"})], now=NOW)
    assert headers(table) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert headers(table, wide=True)[5:] == ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    assert table["apiVersion"] == "meta.k8s.io/v1" and table["kind"] == "Table"


def test_running_pod_row() -> None:
    obj = pod({"phase": "Running", "podIPs": [{"ip": "127.0.1.5"}], "containerStatuses": [running()],
               "conditions": [{"type": "Ready", "status": "True"}]}, nodeName="laptop")
    assert cells("Pod", "", obj) == ["web-1", "1/1", "Running", "0", "5m", "127.0.1.5", "laptop", "<none>", "<none>"]


def test_restarts_show_when_last_restart_happened() -> None:
    status = running(restarts=5, lastState={"terminated": {"finishedAt": ago(minutes=3), "exitCode": 1}})
    row = cells("Pod", "", pod({"phase": "Running", "containerStatuses": [status]}))
    assert row[3] == "5 (3m ago)"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"phase": "Pending", "containerStatuses": [
            {"name": "app", "state": {"waiting": {"reason": "ContainerCreating"}}}]}, "ContainerCreating"),
        ({"phase": "Running", "containerStatuses": [
            {"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "restartCount": 4}]},
         "CrashLoopBackOff"),
        ({"phase": "Succeeded", "containerStatuses": [
            {"name": "app", "state": {"terminated": {"reason": "Completed", "exitCode": 0}}}]}, "Completed"),
        ({"phase": "Failed", "containerStatuses": [
            {"name": "app", "state": {"terminated": {"exitCode": 3}}}]}, "ExitCode:3"),
        ({"phase": "Failed", "containerStatuses": [
            {"name": "app", "state": {"terminated": {"exitCode": 137, "signal": 9}}}]}, "Signal:9"),
        ({"phase": "Failed", "reason": "Evicted"}, "Evicted"),
        ({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}, "SchedulingGated"),
    ],
)
def test_pod_status_column(status: dict[str, Any], expected: str) -> None:
    assert cells("Pod", "", pod(status))[2] == expected


def test_init_container_progress() -> None:
    spec_init = [{"name": "one"}, {"name": "two"}]
    done = {"name": "one", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    waiting = {"name": "two", "state": {"waiting": {"reason": "PodInitializing"}}}
    assert cells("Pod", "", pod({"phase": "Pending", "initContainerStatuses": [done, waiting]},
                                initContainers=spec_init))[2] == "Init:1/2"
    crashing = {"name": "two", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
    assert cells("Pod", "", pod({"phase": "Pending", "initContainerStatuses": [done, crashing]},
                                initContainers=spec_init))[2] == "Init:CrashLoopBackOff"
    failed = {"name": "one", "state": {"terminated": {"exitCode": 2}}}
    assert cells("Pod", "", pod({"phase": "Pending", "initContainerStatuses": [failed]},
                                initContainers=spec_init))[2] == "Init:ExitCode:2"


def test_sidecar_counts_as_container() -> None:
    sidecar = {"name": "proxy", "restartPolicy": "Always"}
    status = {"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
              "initContainerStatuses": [running("proxy", started=True)], "containerStatuses": [running()]}
    assert cells("Pod", "", pod(status, initContainers=[sidecar]))[1:3] == ["2/2", "Running"]


def test_terminating_pod_and_row_conditions() -> None:
    deleting = pod({"phase": "Running", "containerStatuses": [running()]})
    deleting["metadata"]["deletionTimestamp"] = ago(seconds=2)
    assert cells("Pod", "", deleting)[2] == "Terminating"
    completed = to_table("Pod", "", [pod({"phase": "Succeeded"})], now=NOW)["rows"][0]
    assert completed["conditions"] == [{"type": "Completed", "status": "True", "reason": "Succeeded",
                                        "message": "The pod has completed successfully."}]


def test_readiness_gates() -> None:
    obj = pod({"phase": "Running", "conditions": [{"type": "example.com/ready", "status": "True"}]},
              readinessGates=[{"conditionType": "example.com/ready"}, {"conditionType": "other"}])
    assert cells("Pod", "", obj)[8] == "1/2"


# --- workloads -------------------------------------------------------------------------------------


def test_deployment() -> None:
    deployment = {
        "metadata": {"name": "web", "creationTimestamp": ago(hours=3, minutes=20)},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"spec": {"containers": [{"name": "a", "image": "i:1"}, {"name": "b", "image": "i:2"}]}}},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    }
    table = to_table("Deployment", "apps", [deployment], now=NOW)
    assert headers(table) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert headers(table, wide=True)[5:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert table["rows"][0]["cells"] == ["web", "2/3", 3, 2, "3h20m", "a,b", "i:1,i:2", "app=web"]


def test_replica_set_and_stateful_set() -> None:
    rs = {"metadata": {"name": "web-abc"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}}},
          "status": {"replicas": 2, "readyReplicas": 1}}
    assert cells("ReplicaSet", "apps", rs)[:5] == ["web-abc", 2, 2, 1, "<unknown>"]
    sts = {"metadata": {"name": "db", "creationTimestamp": ago(days=5)}, "spec": {"replicas": 3},
           "status": {"readyReplicas": 3}}
    assert cells("StatefulSet", "apps", sts)[:3] == ["db", "3/3", "5d"]


def test_job_columns() -> None:
    job = {"metadata": {"name": "train", "creationTimestamp": ago(minutes=10)},
           "spec": {"completions": 1, "template": {"spec": {"containers": [{"name": "t", "image": "py"}]}}},
           "status": {"succeeded": 1, "startTime": ago(minutes=10), "completionTime": ago(minutes=8),
                      "conditions": [{"type": "Complete", "status": "True"}]}}
    table = to_table("Job", "batch", [job], now=NOW)
    assert headers(table) == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert table["rows"][0]["cells"][:5] == ["train", "Complete", "1/1", "2m", "10m"]
    running_job = {"metadata": {"name": "p"}, "spec": {"parallelism": 4},
                   "status": {"startTime": ago(seconds=30)}}
    assert cells("Job", "batch", running_job)[1:4] == ["Running", "0/1 of 4", "30s"]


def test_cron_job() -> None:
    cron = {"metadata": {"name": "nightly"}, "spec": {"schedule": "0 3 * * *", "suspend": False},
            "status": {"active": [{"name": "x"}], "lastScheduleTime": ago(hours=9)}}
    assert cells("CronJob", "batch", cron)[:6] == ["nightly", "0 3 * * *", "<none>", "False", 1, "9h"]


# --- networking and configuration -------------------------------------------------------------------


def test_service_rows() -> None:
    service = {"metadata": {"name": "web"}, "spec": {"type": "ClusterIP", "clusterIPs": ["10.96.0.10"],
               "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
               "selector": {"app": "web"}}}
    table = to_table("Service", "", [service], now=NOW)
    assert headers(table) == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert table["rows"][0]["cells"] == ["web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP,53/UDP",
                                         "<unknown>", "app=web"]
    balancer = {"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.11",
                "ports": [{"port": 443, "nodePort": 30443, "protocol": "TCP"}]}}
    assert cells("Service", "", balancer)[2:5] == ["10.96.0.11", "<pending>", "443:30443/TCP"]
    balancer["status"] = {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}
    assert cells("Service", "", balancer)[3] == "1.2.3.4"
    external = {"metadata": {"name": "ext"}, "spec": {"type": "ExternalName", "externalName": "example.com"}}
    assert cells("Service", "", external)[2:5] == ["<none>", "example.com", "<none>"]


def test_endpoints_list_is_truncated() -> None:
    endpoints = {"metadata": {"name": "web"}, "subsets": [
        {"addresses": [{"ip": f"10.0.0.{i}"} for i in range(5)], "ports": [{"port": 8080}]}]}
    assert cells("Endpoints", "", endpoints)[1] == "10.0.0.0:8080,10.0.0.1:8080,10.0.0.2:8080 + 2 more..."
    assert cells("Endpoints", "", {"metadata": {"name": "none"}})[1] == "<none>"
    slice_ = {"metadata": {"name": "web-x"}, "addressType": "IPv4", "ports": [{"port": 80}],
              "endpoints": [{"addresses": ["10.0.0.1"]}]}
    assert cells("EndpointSlice", "discovery.k8s.io", slice_)[1:4] == ["IPv4", "80", "10.0.0.1"]


def test_config_secret_namespace_node() -> None:
    assert cells("ConfigMap", "", {"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}})[1] == 2
    assert cells("Secret", "", {"metadata": {"name": "s"}, "type": "kubernetes.io/tls",
                                "data": {"tls.crt": "", "tls.key": ""}})[1:3] == ["kubernetes.io/tls", 2]
    assert cells("Namespace", "", {"metadata": {"name": "default"}, "status": {"phase": "Active"}})[1] == "Active"
    node = {"metadata": {"name": "laptop", "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "spec": {"unschedulable": True},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "nodeInfo": {"kubeletVersion": "v1.31.0"},
                       "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]}}
    table = to_table("Node", "", [node], now=NOW)
    assert headers(table) == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert table["rows"][0]["cells"] == ["laptop", "Ready,SchedulingDisabled", "control-plane", "<unknown>",
                                         "v1.31.0", "127.0.0.1", "<none>", "<unknown>", "<unknown>", "<unknown>"]


def test_events_core_and_events_v1() -> None:
    core = {"metadata": {"name": "web-1.17a"}, "type": "Warning", "reason": "BackOff",
            "involvedObject": {"kind": "Pod", "name": "web-1"}, "message": " Back-off restarting \n",
            "firstTimestamp": ago(minutes=10), "lastTimestamp": ago(seconds=30), "count": 7,
            "source": {"component": "kubelet", "host": "laptop"}}
    table = to_table("Event", "", [core], now=NOW)
    assert headers(table) == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert table["rows"][0]["cells"] == ["30s", "Warning", "BackOff", "pod/web-1", "", "kubelet, laptop",
                                         "Back-off restarting", "10m", 7, "web-1.17a"]
    v1 = {"metadata": {"name": "e"}, "type": "Normal", "reason": "Scheduled", "eventTime": ago(seconds=5),
          "regarding": {"kind": "Pod", "name": "web-2"}, "note": "assigned", "reportingController": "scheduler"}
    assert cells("Event", "events.k8s.io", v1) == ["5s", "Normal", "Scheduled", "pod/web-2", "", "scheduler",
                                                   "assigned", "5s", 1, "e"]


def test_more_builtin_printers() -> None:
    claim = {"metadata": {"name": "data"}, "spec": {"volumeName": "pv-1", "storageClassName": "local"},
             "status": {"phase": "Bound", "capacity": {"storage": "1024Mi"}, "accessModes": ["ReadWriteOnce"]}}
    assert cells("PersistentVolumeClaim", "", claim)[:6] == ["data", "Bound", "pv-1", "1Gi", "RWO", "local"]
    binding = {"metadata": {"name": "b"}, "roleRef": {"kind": "ClusterRole", "name": "view"},
               "subjects": [{"kind": "ServiceAccount", "namespace": "ns", "name": "sa"}, {"kind": "User", "name": "u"}]}
    assert cells("RoleBinding", "rbac.authorization.k8s.io", binding) == [
        "b", "ClusterRole/view", "<unknown>", "u", "", "ns/sa"]
    quota = {"metadata": {"name": "q"}, "status": {"hard": {"requests.cpu": "2", "limits.memory": "2Gi"},
                                                     "used": {"requests.cpu": "500m"}}}
    assert cells("ResourceQuota", "", quota)[1:3] == ["requests.cpu: 500m/2", "limits.memory: 0/2Gi"]
    lease = {"metadata": {"name": "l"}, "spec": {"holderIdentity": "me"}}
    assert cells("Lease", "coordination.k8s.io", lease)[1] == "me"
    budget = {"metadata": {"name": "pdb"}, "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}}
    assert cells("PodDisruptionBudget", "policy", budget)[1:4] == ["50%", "N/A", 1]


# --- kinds without printers and custom resources ------------------------------------------------------


def test_builtin_without_printer_gets_created_at() -> None:
    role = {"metadata": {"name": "reader", "creationTimestamp": "2024-04-01T08:00:00Z"}}
    table = to_table("ClusterRole", "rbac.authorization.k8s.io", [role], now=NOW)
    assert headers(table) == ["NAME", "CREATED AT"]
    assert table["columnDefinitions"][1]["type"] == "date"
    assert table["rows"][0]["cells"] == ["reader", "2024-04-01T08:00:00Z"]
    assert not has_builtin_printer("CustomResourceDefinition", "apiextensions.k8s.io")
    assert has_builtin_printer("Pod", "")


def test_custom_resource_printer_columns() -> None:
    columns: list[dict[str, Any]] = [
        {"name": "Workers", "type": "integer", "jsonPath": ".spec.worker.replicas"},
        {"name": "Status", "type": "string", "jsonPath": ".status.conditions[?(@.type=='Ready')].status"},
        {"name": "Started", "type": "date", "jsonPath": ".status.startTime"},
        {"name": "Image", "type": "string", "jsonPath": ".spec.image", "priority": 1},
        {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    cluster = {"metadata": {"name": "dask", "creationTimestamp": ago(hours=2)},
               "spec": {"worker": {"replicas": 3.0}, "ratio": 1},
               "status": {"conditions": [{"type": "Ready", "status": "True"}], "startTime": ago(minutes=90)}}
    table = to_table("DaskCluster", "kubernetes.dask.org", [cluster], now=NOW, printer_columns=columns)
    assert headers(table) == ["NAME", "WORKERS", "STATUS", "STARTED", "RATIO", "AGE"]
    assert table["columnDefinitions"][4]["priority"] == 1
    assert table["rows"][0]["cells"] == ["dask", 3, "True", "90m", None, 1.0, "120m"]


def test_custom_resource_without_columns_gets_age() -> None:
    table = to_table("Widget", "example.com", [{"metadata": {"name": "w", "creationTimestamp": ago(seconds=9)}}],
                     now=NOW, printer_columns=[])
    assert headers(table) == ["NAME", "AGE"]
    assert table["rows"][0]["cells"] == ["w", "9s"]


def test_bad_date_and_wrong_types_in_custom_columns() -> None:
    columns: list[dict[str, Any]] = [{"name": "When", "type": "date", "jsonPath": ".spec.when"},
               {"name": "N", "type": "integer", "jsonPath": ".spec.n"},
               {"name": "Broken", "type": "string", "jsonPath": ".spec["}]
    row = cells("Widget", "example.com", {"metadata": {"name": "w"}, "spec": {"when": "soon", "n": "3"}},
                printer_columns=columns)
    assert row == ["w", "<invalid>", None, None]


# --- row objects and table metadata ---------------------------------------------------------------------


def test_include_object_modes() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "resourceVersion": "7"}, "data": {}}
    metadata_row = to_table("ConfigMap", "", [obj], now=NOW)["rows"][0]
    assert metadata_row["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                      "metadata": {"name": "c", "resourceVersion": "7"}}
    assert to_table("ConfigMap", "", [obj], now=NOW, include_object="Object")["rows"][0]["object"] == obj
    assert "object" not in to_table("ConfigMap", "", [obj], now=NOW, include_object="None")["rows"][0]
    with pytest.raises(BadRequest) as caught:
        to_table("ConfigMap", "", [obj], now=NOW, include_object="Everything")
    assert caught.value.message == 'unrecognized includeObject value: "Everything"'
    table = to_table("ConfigMap", "", [], now=NOW, list_metadata={"resourceVersion": "42"})
    assert table["metadata"] == {"resourceVersion": "42"} and table["rows"] == []


def test_malformed_objects_print_without_crashing() -> None:
    weird: dict[str, Any] = {"metadata": {"name": "x"}, "spec": ["not", "a", "map"], "status": "broken"}
    for kind, group in [("Pod", ""), ("Deployment", "apps"), ("Service", ""), ("Event", ""), ("Job", "batch"),
                        ("Node", ""), ("CronJob", "batch"), ("ResourceQuota", ""), ("Endpoints", "")]:
        assert cells(kind, group, weird)[0] in ("x", "<unknown>", "")
