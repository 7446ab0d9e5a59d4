"""The process runtime through real kubectl: logs, exec, env, volumes, init containers,
restart policies, bad input, probes, graceful deletion and GPU devices."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from orchestrator import ControlPlane
from tests.conftest import Kubectl, wait_for
from tests.e2e.runtime_harness import (
    apply,
    container_status,
    control_plane,
    event_reasons,
    events,
    get,
    node_name,
    pod,
    py,
    wait_phase,
)


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with control_plane(tmp_path_factory.mktemp("runtime")) as plane:
        yield plane


@pytest.fixture(scope="module")
def kubectl(cp: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(cp, tmp_path_factory.mktemp("kubectl-cache"))


@pytest.fixture(scope="module")
def node(kubectl: Kubectl) -> str:
    return node_name(kubectl)


def test_local_node_registers_with_capacity_and_lease(kubectl: Kubectl, node: str) -> None:
    n = kubectl.json("get", "node", node)
    status = n["status"]
    assert int(status["capacity"]["cpu"]) == os.cpu_count()
    assert status["capacity"]["pods"] == "110"
    assert {"memory", "ephemeral-storage"} <= set(status["allocatable"])
    assert {c["type"] for c in status["conditions"]} >= {
        "Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}
    assert status["addresses"][0] == {"type": "InternalIP", "address": "127.0.0.1"}
    assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] > 0
    assert status["nodeInfo"]["kubeletVersion"]
    lease = kubectl.json("get", "lease", node, "-n", "kube-node-lease")
    assert lease["spec"]["holderIdentity"] == node


def test_logs_exec_and_follow(kubectl: Kubectl, node: str) -> None:
    code = "import time\nfor i in range(3):\n    print('line', i)\nprint('err', file=__import__('sys').stderr)\ntime.sleep(2)\nprint('late')\ntime.sleep(60)"
    apply(kubectl, pod("hello", node, py("main", code), terminationGracePeriodSeconds=1))
    wait_phase(kubectl, "hello", "Running")
    wait_for(lambda: "line 2" in kubectl.run("logs", "hello").stdout, timeout=10)
    out = kubectl.run("logs", "hello").stdout
    # stdout keeps its order; stderr interleaves as the two pipes are read (as in Kubernetes)
    assert [line for line in out.splitlines() if line != "err"][:3] == [
        "line 0", "line 1", "line 2"] and "err" in out
    assert len(kubectl.run("logs", "hello", "--tail=1").stdout.splitlines()) == 1
    stamped = kubectl.run("logs", "hello", "--timestamps").stdout.splitlines()
    assert any(s.endswith("Z line 0") and s[:4].isdigit() for s in stamped), stamped
    follow = kubectl.popen("logs", "-f", "hello")
    try:
        wait_for(lambda: "late" in kubectl.run("logs", "hello").stdout, timeout=10)
        time.sleep(0.5)
    finally:
        follow.terminate()
        streamed, _ = follow.communicate(timeout=10)
    assert "line 0" in streamed and "late" in streamed

    assert kubectl.run("exec", "hello", "--", "python", "-c", "print(1+1)").stdout == "2\n"
    failing = kubectl.run("exec", "hello", "--", "python", "-c", "import sys; sys.exit(3)",
                          check=False)
    assert failing.returncode == 3
    assert "exit code 3" in failing.stderr
    env = kubectl.run("exec", "hello", "--", "env").stdout
    assert "KUBERNETES_SERVICE_PORT=" in env and "KUBECONFIG=" in env


def test_pod_reaches_the_api_with_its_kubeconfig(kubectl: Kubectl, node: str) -> None:
    # The pod holds a token for its own service account (`default`): discovery is open to
    # every authenticated user, listing pods is not, until RBAC grants it.
    code = ("import os, ssl, urllib.request, urllib.error, yaml\n"
            "d = os.environ['DASKHUB_LITE_SERVICEACCOUNT_DIR']\n"
            "tok = open(d + '/token').read()\n"
            "ctx = ssl.create_default_context(cafile=d + '/ca.crt')\n"
            "base = 'https://%s:%s' % (os.environ['KUBERNETES_SERVICE_HOST'],"
            " os.environ['KUBERNETES_SERVICE_PORT'])\n"
            "ns = open(d + '/namespace').read()\n"
            "def get(path):\n"
            "    req = urllib.request.Request(base + path, headers={'Authorization': 'Bearer ' + tok})\n"
            "    try:\n"
            "        return urllib.request.urlopen(req, context=ctx).status\n"
            "    except urllib.error.HTTPError as e:\n"
            "        return e.code\n"
            "print(get('/apis'), get('/api/v1/namespaces/%s/pods' % ns))\n"
            "print(yaml.safe_load(open(os.environ['KUBECONFIG']))['contexts'][0]['context']['namespace'])\n")
    apply(kubectl, pod("inpod", node, py("main", code), restartPolicy="Never"))
    wait_phase(kubectl, "inpod", "Succeeded")
    assert kubectl.run("logs", "inpod").stdout == "200 403\ndefault\n"
    kubectl.run("create", "rolebinding", "default-view", "--clusterrole=view",
                "--serviceaccount=default:default")
    apply(kubectl, pod("inpod2", node, py("main", code), restartPolicy="Never"))
    wait_phase(kubectl, "inpod2", "Succeeded")
    assert kubectl.run("logs", "inpod2").stdout == "200 200\ndefault\n"


def test_env_expansion_value_from_and_env_from(kubectl: Kubectl, node: str) -> None:
    kubectl.run("create", "configmap", "settings", "--from-literal=mode=fast",
                "--from-literal=level=3")
    kubectl.run("create", "secret", "generic", "creds", "--from-literal=password=s3cret")
    code = ("import os\nfor k in ['GREETING','TARGET','MODE','PASSWORD','POD','NS','MEM',"
            "'CFG_level','MISSING_OK','ESCAPED']:\n    print(k, os.environ.get(k))")
    container = py("main", code, env=[
        {"name": "TARGET", "value": "world"},
        {"name": "GREETING", "value": "hello $(TARGET)"},
        {"name": "ESCAPED", "value": "$$(TARGET)"},
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds",
                                                            "key": "password"}}},
        {"name": "MISSING_OK", "valueFrom": {"configMapKeyRef": {
            "name": "settings", "key": "nope", "optional": True}}},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory",
                                                           "divisor": "1Mi"}}},
    ], envFrom=[{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
        resources={"limits": {"memory": "512Mi"}})
    apply(kubectl, pod("envs", node, container, restartPolicy="Never"))
    wait_phase(kubectl, "envs", "Succeeded")
    lines = dict(line.split(" ", 1) for line in kubectl.run("logs", "envs").stdout.splitlines())
    assert lines == {"GREETING": "hello world", "TARGET": "world", "MODE": "fast",
                     "PASSWORD": "s3cret", "POD": "envs", "NS": "default", "MEM": "512",
                     "CFG_level": "3", "MISSING_OK": "None", "ESCAPED": "$(TARGET)"}


def test_volumes_readable_at_mount_path(kubectl: Kubectl, node: str) -> None:
    kubectl.run("create", "configmap", "files", "--from-literal=app.conf=threads=4")
    kubectl.run("create", "secret", "generic", "keys", "--from-literal=api.key=abc123")
    code = ("import os\n"
            "print(open('/etc/app/app.conf').read())\n"
            "print(open('/etc/keys/api.key').read())\n"
            "print(open('/etc/podinfo/labels').read())\n"
            "print(open('/etc/podinfo/name').read())\n"
            "open('/scratch/x', 'w').write('ok'); print(open('/scratch/x').read())\n")
    container = py("main", code, volumeMounts=[
        {"name": "conf", "mountPath": "/etc/app"},
        {"name": "keys", "mountPath": "/etc/keys", "readOnly": True},
        {"name": "info", "mountPath": "/etc/podinfo"},
        {"name": "scratch", "mountPath": "/scratch"}])
    p = pod("vols", node, container, restartPolicy="Never", volumes=[
        {"name": "conf", "configMap": {"name": "files"}},
        {"name": "keys", "secret": {"secretName": "keys"}},
        {"name": "info", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}},
        {"name": "scratch", "emptyDir": {}}])
    p["metadata"]["labels"] = {"app": "vols"}
    apply(kubectl, p)
    done = wait_phase(kubectl, "vols", "Succeeded")
    assert kubectl.run("logs", "vols").stdout.splitlines() == [
        "threads=4", "abc123", 'app="vols"', "vols", "ok"], done["status"]
    notes = [e["message"] for e in events(kubectl, "vols") if e["reason"] == "RuntimeNotes"]
    assert notes and "volumes:" in notes[0]


def test_init_containers_run_in_order(kubectl: Kubectl, node: str) -> None:
    step = "open('/shared-w/order', 'a').write('{}\\n')"
    p = pod("inits", node, py("main", "print(open('/shared-w/order').read(), end='')",
                              volumeMounts=[{"name": "w", "mountPath": "/shared-w"}]),
            restartPolicy="Never", volumes=[{"name": "w", "emptyDir": {}}],
            initContainers=[py(f"init{i}", step.format(f"init{i}"),
                               volumeMounts=[{"name": "w", "mountPath": "/shared-w"}])
                            for i in (1, 2)])
    apply(kubectl, p)
    done = wait_phase(kubectl, "inits", "Succeeded")
    assert kubectl.run("logs", "inits").stdout == "init1\ninit2\n"
    init1 = container_status(done, "init1", init=True)
    assert init1["state"]["terminated"]["reason"] == "Completed"
    assert {c["type"]: c["status"] for c in done["status"]["conditions"]}["Initialized"] == \
        "True"


def test_restart_policies(kubectl: Kubectl, node: str) -> None:
    apply(kubectl, pod("never-fails", node, py("main", "raise SystemExit(2)"),
                       restartPolicy="Never"))
    apply(kubectl, pod("never-ok", node, py("main", "print('bye')"), restartPolicy="Never"))
    apply(kubectl, pod("onfailure", node, py(
        "main", "import os\nopen('/tmp/ready-' + os.environ['HOSTNAME'], 'a').write('x')\n"
        "raise SystemExit(0 if len(open('/tmp/ready-' + os.environ['HOSTNAME']).read()) > 1 "
        "else 1)"), restartPolicy="OnFailure"))
    failed = wait_phase(kubectl, "never-fails", "Failed")
    term = container_status(failed)["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (2, "Error")
    ok = wait_phase(kubectl, "never-ok", "Succeeded")
    assert container_status(ok)["state"]["terminated"]["reason"] == "Completed"
    retried = wait_phase(kubectl, "onfailure", "Succeeded")
    status = container_status(retried)
    assert status["restartCount"] == 1
    assert status["lastState"]["terminated"]["exitCode"] == 1
    Path("/tmp/ready-onfailure").unlink(missing_ok=True)


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def test_crash_loop_backs_off_and_stays_cool(kubectl: Kubectl, node: str) -> None:
    apply(kubectl, pod("crasher", node, py("main", "print('boom'); raise SystemExit(1)")))
    wait_for(lambda: container_status(get(kubectl, "crasher")).get("restartCount", 0) >= 1,
             timeout=15)
    cpu_before, wall_before = _cpu_seconds(), time.monotonic()
    wait_for(lambda: container_status(get(kubectl, "crasher")).get("state", {}).get(
        "waiting", {}).get("reason") == "CrashLoopBackOff", timeout=15)
    time.sleep(6)
    status = container_status(get(kubectl, "crasher"))
    cpu_used = _cpu_seconds() - cpu_before
    elapsed = time.monotonic() - wall_before
    # Back-off 0, 1, 2, 4 s: in ~6-8 s at most 4 restarts; a hot loop would make dozens.
    assert 1 <= status["restartCount"] <= 5, status
    assert cpu_used / elapsed < 0.5, (cpu_used, elapsed)
    assert get(kubectl, "crasher")["status"]["phase"] == "Running"
    assert "BackOff" in event_reasons(kubectl, "crasher")
    assert kubectl.run("logs", "crasher", "--previous").stdout == "boom\n"
    kubectl.run("delete", "pod", "crasher", "--wait=false")


def test_bad_input_states_and_events(kubectl: Kubectl, node: str) -> None:
    apply(kubectl, pod("nocmd", node, {"name": "main", "image": "nginx"}))
    apply(kubectl, pod("nosuch", node, {"name": "main", "image": "x",
                                        "command": ["definitely-not-a-command-xyz"]},
                       restartPolicy="Never"))
    apply(kubectl, pod("nokey", node, py("main", "print(1)", env=[{"name": "X", "valueFrom": {
        "configMapKeyRef": {"name": "settings", "key": "absent"}}}])))

    def waiting(name: str, reason: str) -> dict[str, Any] | None:
        state = container_status(get(kubectl, name)).get("state", {})
        return state["waiting"] if state.get("waiting", {}).get("reason") == reason else None

    nocmd = wait_for(lambda: waiting("nocmd", "NoCommand"), timeout=10)
    assert "never pulls" in nocmd["message"]
    nokey = wait_for(lambda: waiting("nokey", "CreateContainerConfigError"), timeout=10)
    assert nokey["message"] == "couldn't find key absent in ConfigMap default/settings"
    failed = wait_phase(kubectl, "nosuch", "Failed")
    term = container_status(failed)["state"]["terminated"]
    assert term["reason"] == "StartError" and "executable file not found" in term["message"]
    wait_for(lambda: "Failed" in event_reasons(kubectl, "nokey"), timeout=5)
    messages = [e["message"] for e in events(kubectl, "nokey")]
    assert any("couldn't find key absent" in m for m in messages)
    assert "Failed" in event_reasons(kubectl, "nocmd")
    logs = kubectl.run("logs", "nocmd", check=False)
    assert logs.returncode != 0 and "waiting to start: NoCommand" in logs.stderr
    for name in ("nocmd", "nokey"):
        kubectl.run("delete", "pod", name, "--wait=false")


def test_readiness_probe_that_never_passes(kubectl: Kubectl, node: str) -> None:
    probe = {"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 1}
    apply(kubectl, pod("unready", node, py("main", "import time; time.sleep(60)",
                                           readinessProbe=probe),
                       terminationGracePeriodSeconds=1))
    wait_phase(kubectl, "unready", "Running")
    wait_for(lambda: "Unhealthy" in event_reasons(kubectl, "unready"), timeout=10)
    p = get(kubectl, "unready")
    assert container_status(p)["ready"] is False
    ready = {c["type"]: c for c in p["status"]["conditions"]}["Ready"]
    assert ready["status"] == "False" and ready["reason"] == "ContainersNotReady"
    assert any("Readiness probe failed" in e["message"] for e in events(kubectl, "unready"))
    kubectl.run("delete", "pod", "unready", "--wait=false")


def test_probes_pass_and_liveness_restarts(kubectl: Kubectl, node: str) -> None:
    server = py("web", "import http.server as h; h.HTTPServer(('', 18731), "
                "h.SimpleHTTPRequestHandler).serve_forever()",
                ports=[{"name": "http", "containerPort": 18731}],
                readinessProbe={"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
                startupProbe={"tcpSocket": {"port": 18731}, "periodSeconds": 1,
                              "failureThreshold": 10})
    apply(kubectl, pod("probed", node, server, terminationGracePeriodSeconds=1))
    wait_for(lambda: container_status(get(kubectl, "probed")).get("ready"), timeout=15)
    live = {"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 2}
    apply(kubectl, pod("unlive", node, py("main", "import time; time.sleep(60)",
                                          livenessProbe=live),
                       terminationGracePeriodSeconds=1))
    wait_for(lambda: container_status(get(kubectl, "unlive")).get("restartCount", 0) >= 1,
             timeout=20)
    assert "Killing" in event_reasons(kubectl, "unlive")
    kubectl.run("delete", "pod", "probed", "unlive", "--wait=false")


def test_graceful_deletion_runs_sigterm_handler_then_sigkill(
        kubectl: Kubectl, node: str, cp: ControlPlane, tmp_path: Path) -> None:
    marker = tmp_path / "terminated"
    polite = ("import signal, sys, time\n"
              f"def bye(*a):\n    open({str(marker)!r}, 'w').write('term'); sys.exit(0)\n"
              "signal.signal(signal.SIGTERM, bye)\nprint('up'); time.sleep(120)")
    stubborn = ("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                "print('up'); time.sleep(120)")
    apply(kubectl, pod("polite", node, py("main", polite)))
    apply(kubectl, pod("stubborn", node, py("main", stubborn),
                       terminationGracePeriodSeconds=2))
    for name in ("polite", "stubborn"):
        wait_for(lambda n=name: kubectl.run("logs", n, check=False).stdout == "up\n",
                 timeout=15)
    started = time.monotonic()
    kubectl.run("delete", "pod", "polite", timeout=30)
    assert marker.read_text() == "term"
    assert time.monotonic() - started < 5
    started = time.monotonic()
    kubectl.run("delete", "pod", "stubborn", timeout=30)
    assert 1.5 <= time.monotonic() - started < 10


def test_gpu_annotation_sets_visible_devices(kubectl: Kubectl, node: str) -> None:
    p = pod("gpu", node, py("main", "import os; print(os.environ['CUDA_VISIBLE_DEVICES'], "
                                    "os.environ['NVIDIA_VISIBLE_DEVICES'])"),
            restartPolicy="Never")
    p["metadata"]["annotations"] = {"daskhub-lite.io/gpu-devices": "0:1000,3:500"}
    apply(kubectl, p)
    wait_phase(kubectl, "gpu", "Succeeded")
    assert kubectl.run("logs", "gpu").stdout == "0,3 0,3\n"


def test_memory_limit_is_enforced(kubectl: Kubectl, node: str) -> None:
    code = "x = bytearray(400 * 2**20); print('allocated')"
    apply(kubectl, pod("hungry", node, py("main", code, resources={
        "limits": {"memory": "128Mi", "cpu": "500m"}}), restartPolicy="Never"))
    failed = wait_phase(kubectl, "hungry", "Failed")
    term = container_status(failed)["state"]["terminated"]
    assert term["exitCode"] != 0 and term["reason"] in ("Error", "OOMKilled")
    assert "allocated" not in kubectl.run("logs", "hungry").stdout
    notes = " ".join(e["message"] for e in events(kubectl, "hungry"))
    assert "limits:" in notes, json.dumps(events(kubectl, "hungry"))
