"""Deployments, ReplicaSets and cascading deletion, live, through the real kubectl.

Pods run on the real node runtime when the control plane has one. Otherwise
`ReadyNode` below stands in: a tiny test-only kubelet (an ordinary API
client, nothing inside our server is faked) that registers a Node, binds pods the
scheduler has not bound, and marks pods on its node Running and Ready after
`ready_delay` seconds; pods being deleted are finished at once, as a kubelet would once
their processes exit.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Iterator

import pytest

from orchestrator import ControlPlane
from orchestrator.api import errors
from orchestrator.api.meta import now_rfc3339
from orchestrator.api.workloads import pod_is_ready
from orchestrator.client import Client
from tests.conftest import Kubectl, wait_for

NODE = "deploy-node"
_CAPACITY = {"cpu": "64", "memory": "256Gi", "pods": "250"}


class ReadyNode:
    def __init__(self, kubeconfig: str, ready_delay: float = 0.3) -> None:
        self.kubeconfig = kubeconfig
        self.ready_delay = ready_delay
        self._first_seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._loop()), daemon=True)

    def __enter__(self) -> "ReadyNode":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    async def _loop(self) -> None:
        async with Client.from_kubeconfig(self.kubeconfig) as client:
            nodes, _ = await client.list(client.resource("v1", "Node"))
            if any(n["metadata"]["name"] != NODE for n in nodes):
                return  # the real node runtime is there: let it run the pods
            try:
                await client.create(client.resource("v1", "Node"), {
                    "apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": NODE, "labels": {"kubernetes.io/hostname": NODE}},
                    "status": {"capacity": _CAPACITY, "allocatable": _CAPACITY,
                               "conditions": [{"type": "Ready", "status": "True"}]}})
            except errors.AlreadyExists:
                pass
            pods = client.resource("v1", "Pod")
            while not self._stop.is_set():
                items, _ = await client.list(pods)
                for pod in items:
                    try:
                        await self._step(client, pods, pod)
                    except errors.APIError:
                        pass  # races with controllers: the next round sees fresh state
                await asyncio.sleep(0.05)

    async def _step(self, client: Client, rt: Any, pod: dict[str, Any]) -> None:
        md, spec = pod["metadata"], pod["spec"]
        first = self._first_seen.setdefault(md["uid"], time.monotonic())
        if not spec.get("nodeName"):
            if not md.get("deletionTimestamp") and time.monotonic() - first > 1.0:
                await client.bind(md["namespace"], md["name"], NODE)
            return
        if spec["nodeName"] != NODE:
            return
        if md.get("deletionTimestamp"):
            await client.delete(rt, md["name"], md["namespace"], grace_period=0)
            return
        if pod_is_ready(pod) or time.monotonic() - first < self.ready_delay:
            return
        now = now_rfc3339()
        status = {**(pod.get("status") or {}), "phase": "Running", "podIP": "127.0.0.1",
                  "startTime": now,
                  "conditions": [{"type": t, "status": "True", "lastTransitionTime": now}
                                 for t in ("PodScheduled", "Initialized", "ContainersReady",
                                           "Ready")],
                  "containerStatuses": [{"name": c["name"], "ready": True, "restartCount": 0,
                                         "image": c.get("image", ""), "imageID": "fake://",
                                         "started": True,
                                         "state": {"running": {"startedAt": now}}}
                                        for c in spec["containers"]]}
        await client.replace(rt, {**pod, "status": status}, "status")


@pytest.fixture(scope="module")
def node(control_plane: ControlPlane) -> Iterator[ReadyNode]:
    with ReadyNode(control_plane.kubeconfig) as n:
        yield n


def manifest(name: str, replicas: int = 3, image: str = "v1", surge: Any = 1,
             unavailable: Any = 0, strategy: str = "RollingUpdate") -> str:
    rolling = (f"    rollingUpdate: {{maxSurge: {surge}, maxUnavailable: {unavailable}}}\n"
               if strategy == "RollingUpdate" else "")
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  revisionHistoryLimit: 5
  strategy:
    type: {strategy}
{rolling}  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: main
        image: "{image}"
        command: [python, -c, "import time; time.sleep(3600)"]
        readinessProbe:
          exec: {{command: [python, -c, "pass"]}}
          initialDelaySeconds: 1
          periodSeconds: 1
"""


def pods_of(kubectl: Kubectl, app: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kubectl.json("get", "pods", "-l", f"app={app}")["items"]
    return items


def ready_pods(kubectl: Kubectl, app: str) -> int:
    return sum(1 for p in pods_of(kubectl, app)
               if pod_is_ready(p) and not p["metadata"].get("deletionTimestamp"))


def rollout_status(kubectl: Kubectl, name: str) -> str:
    return kubectl.run("rollout", "status", f"deployment/{name}", "--timeout=90s",
                       timeout=100).stdout


def test_deployment_becomes_available(kubectl: Kubectl, node: ReadyNode) -> None:
    kubectl.run("apply", "-f", "-", input=manifest("web"))
    assert 'deployment "web" successfully rolled out' in rollout_status(kubectl, "web")
    d = kubectl.json("get", "deployment", "web")
    conditions = {c["type"]: c for c in d["status"]["conditions"]}
    assert conditions["Available"]["status"] == "True"
    assert conditions["Available"]["reason"] == "MinimumReplicasAvailable"
    assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"
    assert d["status"]["availableReplicas"] == 3 and d["status"]["updatedReplicas"] == 3
    rs = kubectl.json("get", "rs", "-l", "app=web")["items"]
    assert len(rs) == 1
    rs_md = rs[0]["metadata"]
    pod_hash = rs_md["labels"]["pod-template-hash"]
    assert rs_md["name"] == f"web-{pod_hash}"
    assert rs_md["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert rs_md["annotations"]["deployment.kubernetes.io/desired-replicas"] == "3"
    assert rs_md["annotations"]["deployment.kubernetes.io/max-replicas"] == "4"
    assert rs[0]["spec"]["selector"]["matchLabels"]["pod-template-hash"] == pod_hash
    events = kubectl.run("get", "events").stdout
    assert f"Scaled up replica set web-{pod_hash} from 0 to 3" in events
    assert "SuccessfulCreate" in events


def test_rolling_update_keeps_availability(kubectl: Kubectl, node: ReadyNode) -> None:
    node.ready_delay = 1.0
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(ready_pods(kubectl, "web"))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        kubectl.run("annotate", "deployment/web", "kubernetes.io/change-cause=image v2")
        kubectl.run("set", "image", "deployment/web", "main=v2")
        rollout_status(kubectl, "web")
        time.sleep(0.5)
    finally:
        stop.set()
        sampler.join()
        node.ready_delay = 0.3
    assert len(samples) > 5
    assert min(samples) >= 3, samples  # maxUnavailable 0: never below 3 ready pods
    images = {p["spec"]["containers"][0]["image"] for p in pods_of(kubectl, "web")
              if not p["metadata"].get("deletionTimestamp")}
    assert images == {"v2"}
    wait_for(lambda: len(pods_of(kubectl, "web")) == 3)


def test_history_and_undo(kubectl: Kubectl, node: ReadyNode) -> None:
    history = kubectl.run("rollout", "history", "deployment/web").stdout
    assert "1 " in history and "2         image v2" in history
    kubectl.run("rollout", "undo", "deployment/web")
    rollout_status(kubectl, "web")
    d = kubectl.json("get", "deployment", "web")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "v1"
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    sets = {r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: r
            for r in kubectl.json("get", "rs", "-l", "app=web")["items"]}
    assert set(sets) == {"2", "3"}
    assert sets["3"]["metadata"]["annotations"][
        "deployment.kubernetes.io/revision-history"] == "1"
    assert sets["3"]["spec"]["replicas"] == 3 and sets["2"]["spec"]["replicas"] == 0


def test_restart(kubectl: Kubectl, node: ReadyNode) -> None:
    before = {p["metadata"]["name"] for p in pods_of(kubectl, "web")}
    kubectl.run("rollout", "restart", "deployment/web")
    rollout_status(kubectl, "web")
    d = kubectl.json("get", "deployment", "web")
    assert "kubectl.kubernetes.io/restartedAt" in d["spec"]["template"]["metadata"][
        "annotations"]
    wait_for(lambda: len(pods_of(kubectl, "web")) == 3)
    after = {p["metadata"]["name"] for p in pods_of(kubectl, "web")}
    assert not before & after


def test_pause_and_resume(kubectl: Kubectl, node: ReadyNode) -> None:
    kubectl.run("rollout", "pause", "deployment/web")
    rs_before = len(kubectl.json("get", "rs", "-l", "app=web")["items"])
    kubectl.run("set", "image", "deployment/web", "main=v4")

    def paused() -> bool:
        d = kubectl.json("get", "deployment", "web")
        c = {c["type"]: c for c in d["status"]["conditions"]}["Progressing"]
        return c["reason"] == "DeploymentPaused" and d["status"]["observedGeneration"] == d[
            "metadata"]["generation"]

    wait_for(paused)
    time.sleep(1.0)
    assert len(kubectl.json("get", "rs", "-l", "app=web")["items"]) == rs_before
    kubectl.run("rollout", "resume", "deployment/web")
    rollout_status(kubectl, "web")
    images = {p["spec"]["containers"][0]["image"] for p in pods_of(kubectl, "web")
              if not p["metadata"].get("deletionTimestamp")}
    assert images == {"v4"}


def test_deleted_pod_is_replaced(kubectl: Kubectl, node: ReadyNode) -> None:
    wait_for(lambda: ready_pods(kubectl, "web") == 3, timeout=30)
    victim = pods_of(kubectl, "web")[0]["metadata"]["name"]
    kubectl.run("delete", "pod", victim, "--wait=false")
    wait_for(lambda: ready_pods(kubectl, "web") == 3 and victim not in
             {p["metadata"]["name"] for p in pods_of(kubectl, "web")}, timeout=30)


def test_scale_to_zero_and_back(kubectl: Kubectl, node: ReadyNode) -> None:
    kubectl.run("scale", "deployment/web", "--replicas=0")
    wait_for(lambda: not pods_of(kubectl, "web"), timeout=30)
    rollout_status(kubectl, "web")
    kubectl.run("scale", "deployment/web", "--replicas=4")
    rollout_status(kubectl, "web")
    assert ready_pods(kubectl, "web") == 4
    events = kubectl.run("get", "events").stdout
    assert "Scaled down replica set" in events


def test_recreate(kubectl: Kubectl, node: ReadyNode) -> None:
    kubectl.run("apply", "-f", "-", input=manifest("batch", 2, strategy="Recreate"))
    rollout_status(kubectl, "batch")
    kubectl.run("set", "image", "deployment/batch", "main=v2")
    rollout_status(kubectl, "batch")
    assert {p["spec"]["containers"][0]["image"] for p in pods_of(kubectl, "batch")} == {"v2"}


def test_delete_foreground(kubectl: Kubectl, node: ReadyNode) -> None:
    kubectl.run("apply", "-f", "-", input=manifest("fg", 2))
    rollout_status(kubectl, "fg")
    kubectl.run("delete", "deployment", "fg", "--cascade=foreground", "--timeout=60s",
                timeout=70)
    # `kubectl delete` waited for the Deployment; foreground means its dependents went first.
    assert not kubectl.json("get", "rs", "-l", "app=fg")["items"]
    wait_for(lambda: not pods_of(kubectl, "fg"), timeout=30)


def test_delete_orphan(kubectl: Kubectl, node: ReadyNode) -> None:
    kubectl.run("apply", "-f", "-", input=manifest("orph", 2))
    rollout_status(kubectl, "orph")
    kubectl.run("delete", "deployment", "orph", "--cascade=orphan", "--timeout=60s",
                timeout=70)
    rs = kubectl.json("get", "rs", "-l", "app=orph")["items"]
    assert len(rs) == 1 and not rs[0]["metadata"].get("ownerReferences")
    time.sleep(1.0)
    assert ready_pods(kubectl, "orph") == 2  # the pods stay, still owned by the ReplicaSet
    kubectl.run("delete", "rs", rs[0]["metadata"]["name"])  # background: pods follow
    wait_for(lambda: not pods_of(kubectl, "orph"), timeout=30)


def test_background_delete_collects_everything(kubectl: Kubectl, node: ReadyNode) -> None:
    kubectl.run("delete", "deployment", "web")
    wait_for(lambda: not kubectl.json("get", "rs", "-l", "app=web")["items"], timeout=30)
    wait_for(lambda: not pods_of(kubectl, "web"), timeout=30)


def test_default_service_account(kubectl: Kubectl) -> None:
    kubectl.run("create", "namespace", "team-a")
    wait_for(lambda: kubectl.run("get", "sa", "default", "-n", "team-a", check=False)
             .returncode == 0, timeout=10)
