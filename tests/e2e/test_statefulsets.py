"""StatefulSets end to end with real kubectl; pods run as processes on the local node."""

from __future__ import annotations

import json
import sys
from typing import Any

from tests.conftest import Kubectl, wait_for


def manifest(name: str, replicas: int, image: str = "v1", **spec: Any) -> str:
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
        "spec": {"replicas": replicas, "serviceName": name,
                 "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{
                     "name": "main", "image": image,
                     "command": [sys.executable, "-c", "import time; time.sleep(600)"]}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                     "accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "1Gi"}}}}], **spec}})


def pods(kubectl: Kubectl, app: str) -> list[dict[str, Any]]:
    return list(kubectl.json("get", "pods", "-l", f"app={app}")["items"])


def test_statefulset_comes_up_in_order_with_pvcs(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", input=manifest("web", 3))
    kubectl.run("rollout", "status", "statefulset/web", "--timeout=60s", timeout=70)
    items = sorted(pods(kubectl, "web"), key=lambda p: p["metadata"]["name"])
    assert [p["metadata"]["name"] for p in items] == ["web-0", "web-1", "web-2"]
    # Ordered: each pod was created after the one before it was Ready.
    created = [p["metadata"]["creationTimestamp"] for p in items]
    ready = [next(c["lastTransitionTime"] for c in p["status"]["conditions"]
                  if c["type"] == "Ready") for p in items]
    assert ready[0] <= created[1] and ready[1] <= created[2]
    for p in items:
        assert p["spec"]["hostname"] == p["metadata"]["name"]
        assert p["spec"]["subdomain"] == "web"
        claim = next(v for v in p["spec"]["volumes"] if v["name"] == "data")
        assert claim["persistentVolumeClaim"]["claimName"] == f"data-{p['metadata']['name']}"
    pvcs = kubectl.json("get", "pvc")["items"]
    assert {(c["metadata"]["name"], c["status"]["phase"]) for c in pvcs} >= {
        ("data-web-0", "Bound"), ("data-web-1", "Bound"), ("data-web-2", "Bound")}
    status = kubectl.json("get", "sts", "web")["status"]
    assert status["readyReplicas"] == 3 and status["currentRevision"] == status["updateRevision"]
    assert kubectl.json("get", "controllerrevisions")["items"]


def test_scale_down_removes_highest_ordinal_and_keeps_pvc(kubectl: Kubectl) -> None:
    kubectl.run("scale", "statefulset/web", "--replicas=1")
    wait_for(lambda: [p["metadata"]["name"] for p in pods(kubectl, "web")] == ["web-0"],
             timeout=30)
    names = {c["metadata"]["name"] for c in kubectl.json("get", "pvc")["items"]}
    assert "data-web-2" in names  # whenScaled: Retain


def test_rolling_update_replaces_pods_highest_first(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", input=manifest("roll", 3))
    kubectl.run("rollout", "status", "statefulset/roll", "--timeout=60s", timeout=70)
    before = {p["metadata"]["name"]: p["metadata"]["uid"] for p in pods(kubectl, "roll")}
    kubectl.run("apply", "-f", "-", input=manifest("roll", 3, image="v2", updateStrategy={
        "type": "RollingUpdate", "rollingUpdate": {"partition": 1}}))
    wait_for(lambda: kubectl.json("get", "sts", "roll")["status"].get("updatedReplicas") == 2
             and kubectl.json("get", "sts", "roll")["status"].get("readyReplicas") == 3,
             timeout=30)
    after = {p["metadata"]["name"]: p for p in pods(kubectl, "roll")}
    assert after["roll-0"]["metadata"]["uid"] == before["roll-0"]  # below the partition
    assert after["roll-2"]["spec"]["containers"][0]["image"] == "v2"
    assert after["roll-1"]["spec"]["containers"][0]["image"] == "v2"
    status = kubectl.json("get", "sts", "roll")["status"]
    assert status["currentRevision"] != status["updateRevision"]
    assert status["currentReplicas"] == 1
