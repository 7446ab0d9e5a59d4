"""Deployments, ReplicaSets and cascading deletion, live, through the real kubectl.

Pods run on the control plane's own process node: each container is `python -m http.server`
on its own pod IP (all on port 8000), Ready through an httpGet probe. One control plane for
the module; the tests build on each other's Deployment `web`.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from orchestrator import ControlPlane
from orchestrator.api.workloads import pod_is_ready
from tests.conftest import Kubectl, wait_for
from tests.e2e.runtime_harness import control_plane as runtime_control_plane


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with runtime_control_plane(tmp_path_factory.mktemp("deploy-cp")) as cp:
        yield cp


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
      terminationGracePeriodSeconds: 2
      containers:
      - name: main
        image: "{image}"
        command: [python, -m, http.server, "8000"]
        ports: [{{name: http, containerPort: 8000}}]
        readinessProbe:
          httpGet: {{path: /, port: http}}
          periodSeconds: 1
"""


def pods_of(kubectl: Kubectl, app: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kubectl.json("get", "pods", "-l", f"app={app}")["items"]
    return items


def live_pods(kubectl: Kubectl, app: str) -> list[dict[str, Any]]:
    return [p for p in pods_of(kubectl, app) if not p["metadata"].get("deletionTimestamp")]


def ready_pods(kubectl: Kubectl, app: str) -> int:
    return sum(1 for p in live_pods(kubectl, app) if pod_is_ready(p))


def rollout_status(kubectl: Kubectl, name: str) -> str:
    return kubectl.run("rollout", "status", f"deployment/{name}", "--timeout=90s",
                       timeout=100).stdout


def http_get(ip: str, path: str = "/") -> int:
    with urllib.request.urlopen(f"http://{ip}:8000{path}", timeout=5) as resp:
        return int(resp.status)


def container_pid(pod: dict[str, Any]) -> int:
    """The container's command: the child of the shim that `containerID` names."""
    shim = int(pod["status"]["containerStatuses"][0]["containerID"].split("://")[1])
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if entry.name.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == shim:
            return int(entry.name)
    raise AssertionError(f"no process under shim {shim}")


def test_deployment_becomes_available(kubectl: Kubectl) -> None:
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
    # Three servers on the same port, each on its own pod IP.
    ips = {p["status"]["podIP"] for p in live_pods(kubectl, "web")}
    assert len(ips) == 3
    assert all(http_get(ip) == 200 for ip in ips)


def test_rolling_update_keeps_availability(kubectl: Kubectl) -> None:
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
    assert len(samples) > 5
    assert min(samples) >= 3, samples  # maxUnavailable 0: never below 3 ready pods
    images = {p["spec"]["containers"][0]["image"] for p in live_pods(kubectl, "web")}
    assert images == {"v2"}
    wait_for(lambda: len(pods_of(kubectl, "web")) == 3, timeout=30)


def test_history_and_undo(kubectl: Kubectl) -> None:
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


def test_restart(kubectl: Kubectl) -> None:
    before = {p["metadata"]["name"] for p in pods_of(kubectl, "web")}
    kubectl.run("rollout", "restart", "deployment/web")
    rollout_status(kubectl, "web")
    d = kubectl.json("get", "deployment", "web")
    assert "kubectl.kubernetes.io/restartedAt" in d["spec"]["template"]["metadata"][
        "annotations"]
    wait_for(lambda: len(pods_of(kubectl, "web")) == 3, timeout=30)
    after = {p["metadata"]["name"] for p in pods_of(kubectl, "web")}
    assert not before & after


def test_pause_and_resume(kubectl: Kubectl) -> None:
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
    images = {p["spec"]["containers"][0]["image"] for p in live_pods(kubectl, "web")}
    assert images == {"v4"}


def test_killed_process_is_restarted(kubectl: Kubectl) -> None:
    wait_for(lambda: ready_pods(kubectl, "web") == 3 and len(pods_of(kubectl, "web")) == 3,
             timeout=30)
    victim = live_pods(kubectl, "web")[0]
    name = victim["metadata"]["name"]
    pid = container_pid(victim)
    os.kill(pid, signal.SIGKILL)

    def restarted() -> dict[str, Any] | None:
        p: dict[str, Any] = kubectl.json("get", "pod", name)
        status = p["status"]["containerStatuses"][0]
        return p if status["restartCount"] == 1 and pod_is_ready(p) else None

    pod = wait_for(restarted, timeout=30, interval=0.3)
    status = pod["status"]["containerStatuses"][0]
    assert status["lastState"]["terminated"]["exitCode"] == 137
    assert container_pid(pod) != pid
    assert http_get(pod["status"]["podIP"]) == 200
    rollout_status(kubectl, "web")


def test_deleted_pod_is_replaced(kubectl: Kubectl) -> None:
    wait_for(lambda: ready_pods(kubectl, "web") == 3, timeout=30)
    victim = pods_of(kubectl, "web")[0]["metadata"]["name"]
    kubectl.run("delete", "pod", victim, "--wait=false")
    wait_for(lambda: ready_pods(kubectl, "web") == 3 and victim not in
             {p["metadata"]["name"] for p in pods_of(kubectl, "web")}, timeout=30)


def test_logs_follow_streams(kubectl: Kubectl) -> None:
    pod = live_pods(kubectl, "web")[0]
    follower = kubectl.popen("logs", "-f", pod["metadata"]["name"])
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in follower.stdout or []:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        for n in range(3):  # each request is logged after `-f` started: streamed, not replayed
            marker = f"/followed-{n}-{time.monotonic_ns()}"
            try:
                http_get(pod["status"]["podIP"], marker)
            except urllib.error.HTTPError as exc:
                assert exc.code == 404
            deadline = time.monotonic() + 10
            while True:
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
                if marker in line:
                    assert '"GET ' + marker + ' HTTP/1.1" 404' in line
                    break
        assert follower.poll() is None  # still following
    finally:
        follower.kill()
        follower.wait()


def test_exec_runs_a_command(kubectl: Kubectl) -> None:
    pod = live_pods(kubectl, "web")[0]
    name = pod["metadata"]["name"]
    out = kubectl.run("exec", name, "--", "python", "-c",
                      "import os; print(os.environ['HOSTNAME'], os.getcwd() != '')").stdout
    assert out == f"{name} True\n"
    failed = kubectl.run("exec", name, "-c", "main", "--", "python", "-c",
                         "import sys; print('oops', file=sys.stderr); sys.exit(3)", check=False)
    assert failed.returncode == 3 and "oops" in failed.stderr


def test_scale_to_zero_and_back(kubectl: Kubectl) -> None:
    kubectl.run("scale", "deployment/web", "--replicas=0")
    wait_for(lambda: not pods_of(kubectl, "web"), timeout=30)
    rollout_status(kubectl, "web")
    kubectl.run("scale", "deployment/web", "--replicas=4")
    rollout_status(kubectl, "web")
    assert ready_pods(kubectl, "web") == 4
    events = kubectl.run("get", "events").stdout
    assert "Scaled down replica set" in events


def test_recreate(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", input=manifest("batch", 2, strategy="Recreate"))
    rollout_status(kubectl, "batch")
    kubectl.run("set", "image", "deployment/batch", "main=v2")
    rollout_status(kubectl, "batch")
    assert {p["spec"]["containers"][0]["image"] for p in pods_of(kubectl, "batch")} == {"v2"}


def test_delete_foreground(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", input=manifest("fg", 2))
    rollout_status(kubectl, "fg")
    kubectl.run("delete", "deployment", "fg", "--cascade=foreground", "--timeout=60s",
                timeout=70)
    # `kubectl delete` waited for the Deployment; foreground means its dependents went first.
    assert not kubectl.json("get", "rs", "-l", "app=fg")["items"]
    wait_for(lambda: not pods_of(kubectl, "fg"), timeout=30)


def test_delete_orphan(kubectl: Kubectl) -> None:
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


def test_background_delete_collects_everything(kubectl: Kubectl) -> None:
    kubectl.run("delete", "deployment", "web")
    wait_for(lambda: not kubectl.json("get", "rs", "-l", "app=web")["items"], timeout=30)
    wait_for(lambda: not pods_of(kubectl, "web"), timeout=30)


def test_default_service_account(kubectl: Kubectl) -> None:
    kubectl.run("create", "namespace", "team-a")
    wait_for(lambda: kubectl.run("get", "sa", "default", "-n", "team-a", check=False)
             .returncode == 0, timeout=10)
