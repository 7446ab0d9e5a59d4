"""The pod network on the whole, wired control plane: real Deployments run by the process
runtime, Services, cluster DNS, Ingress, port-forward and `kubectl proxy` (issue 4's
"Done when"), and its bad input. One control plane for the module; the tests build on the
Deployments `alpha` and `beta` (both serving on 0.0.0.0:8786) made by the `apps` fixture.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import json
import socket
import subprocess
import sys
import time
import urllib.error
from http.client import IncompleteRead
from pathlib import Path
from typing import Any, Iterator

import aiohttp
import pytest

from orchestrator import ControlPlane, network
from tests.conftest import Kubectl
from tests.e2e.network_harness import NETAPP, http_get, http_json, poll
from tests.e2e.runtime_harness import control_plane as runtime_control_plane

PY = sys.executable
DASK = str(Path(PY).parent / "dask")


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with runtime_control_plane(tmp_path_factory.mktemp("netcluster-cp")) as cp:
        yield cp


@pytest.fixture(scope="module")
def kubectl(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(control_plane, tmp_path_factory.mktemp("kubectl-cache"))


# -- manifests -------------------------------------------------------------------------------


def deployment(name: str, command: list[str], *, replicas: int = 1,
               ports: dict[str, int] | None = None, readiness: dict[str, Any] | None = None,
               **pod_spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "main", "image": "python:3.11", "command": command,
        "ports": [{"name": n, "containerPort": p} for n, p in (ports or {}).items()]}
    if readiness is not None:
        container["readinessProbe"] = readiness
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"terminationGracePeriodSeconds": 2,
                                           "containers": [container], **pod_spec}}}}


def netapp(name: str, answer: str, port: int, **kw: Any) -> dict[str, Any]:
    """A Deployment of netapp.py (GET / answers `answer`), Ready through an httpGet probe."""
    return deployment(name, [PY, "-u", NETAPP, answer, str(port)], ports={"http": port},
                      readiness={"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
                      **kw)


def service(name: str, app: str, port: int, target: Any = "http", **spec: Any
            ) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": app},
                     "ports": [{"name": "web", "port": port, "targetPort": target}], **spec}}


def ingress(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name}, "spec": {"rules": rules}}


def route(path: str, svc: str, port: int, ptype: str = "Prefix") -> dict[str, Any]:
    return {"path": path, "pathType": ptype,
            "backend": {"service": {"name": svc, "port": {"number": port}}}}


def apply(kubectl: Kubectl, *objs: dict[str, Any]) -> None:
    # A multi-document stream, not a `kind: List`: kubectl validates a List against
    # /openapi/v2, which the server does not serve.
    kubectl.run("apply", "-f", "-", input="\n---\n".join(json.dumps(o) for o in objs))


def rollout(kubectl: Kubectl, *names: str) -> None:
    for name in names:
        kubectl.run("rollout", "status", f"deployment/{name}", "--timeout=90s", timeout=100)


def ready_pods(kubectl: Kubectl, app: str) -> list[dict[str, Any]]:
    pods = kubectl.json("get", "pods", "-l", f"app={app}")["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp") and any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (p.get("status") or {}).get("conditions") or [])]


def cluster_ip(kubectl: Kubectl, name: str) -> str:
    return str(kubectl.json("get", "service", name)["spec"]["clusterIP"])


def warnings(kubectl: Kubectl, name: str, reason: str) -> list[dict[str, Any]]:
    events = kubectl.json("get", "events", "--field-selector", f"involvedObject.name={name}")
    return [e for e in events["items"] if e["reason"] == reason]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def apps(kubectl: Kubectl) -> dict[str, str]:
    """Deployments alpha and beta, both on 0.0.0.0:8786, each behind its own Service."""
    apply(kubectl, netapp("alpha", "alpha", 8786), netapp("beta", "beta", 8786),
          service("alpha", "alpha", 8786), service("beta", "beta", 8786))
    rollout(kubectl, "alpha", "beta")
    ips = {app: ready_pods(kubectl, app)[0]["status"]["podIP"] for app in ("alpha", "beta")}
    for app in ips:
        poll(lambda app=app: http_get(f"http://{cluster_ip(kubectl, app)}:8786/") == app,
             timeout=10)
    return ips


# -- Done when -------------------------------------------------------------------------------


CLIENT = """
import os, sys, time, urllib.request
print("env", os.environ["ALPHA_SERVICE_HOST"], os.environ["ALPHA_SERVICE_PORT"], flush=True)
for name in sys.argv[1:]:
    deadline = time.monotonic() + 30
    while True:
        try:
            url = f"http://{name}/" if ":" in name else f"http://{name}:8786/"
            answer = urllib.request.urlopen(url, timeout=5).read().decode()
        except Exception as exc:
            if time.monotonic() > deadline:
                answer = f"ERROR {exc}"
            else:
                time.sleep(0.2)
                continue
        print(name, answer, flush=True)
        break
"""


def test_two_deployments_on_one_port_reached_by_name(kubectl: Kubectl, apps: dict[str, str]
                                                     ) -> None:
    ranges = kubectl.cp.ranges  # the plane's pod range (127.244/16 when alone on the host)
    assert ranges is not None and apps["alpha"] != apps["beta"] and all(
        ipaddress.ip_address(ip) in ranges.pod_cidr for ip in apps.values())
    # Each server bound its own pod IP only (the hook maps the wildcard).
    for app, ip in apps.items():
        assert http_json(f"http://{ip}:8786/whoami")["bound"] == ip
    names = ["alpha", "alpha.default", "alpha.default.svc", "alpha.default.svc.cluster.local",
             "beta", "beta.default", "beta.default.svc", "beta.default.svc.cluster.local",
             "beta-80:80"]  # a port below 1024, as DaskHub's proxy-public uses
    apply(kubectl, service("beta-80", "beta", 80))
    apply(kubectl, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "dns-client"},
                    "spec": {"restartPolicy": "Never", "containers": [{
                        "name": "main", "image": "python:3.11",
                        "command": [PY, "-c", CLIENT, *names]}]}})
    poll(lambda: kubectl.json("get", "pod", "dns-client")["status"]["phase"] == "Succeeded",
         timeout=60, interval=0.3)
    lines = kubectl.run("logs", "dns-client").stdout.splitlines()
    assert lines[0] == f"env {cluster_ip(kubectl, 'alpha')} 8786"
    assert lines[1:] == [f"{n} {n.split('.')[0].split('-')[0]}" for n in names]
    network.use_cluster_dns(control_plane_kubeconfig(kubectl))
    try:
        assert http_get("http://alpha:8786/") == "alpha"
        assert http_get("http://alpha.default:8786/") == "alpha"
        assert http_get("http://beta.default.svc.cluster.local:8786/") == "beta"
        assert socket.gethostbyname("beta.default") == cluster_ip(kubectl, "beta")
        assert http_get("http://beta-80/") == "beta"
    finally:
        network.stop_cluster_dns()


def control_plane_kubeconfig(kubectl: Kubectl) -> str:
    return kubectl.cp.kubeconfig


READY_FILE = "/ready/ok"


def test_scaled_deployment_spreads_and_unready_pod_leaves(kubectl: Kubectl) -> None:
    # Each pod answers with its own name; Ready while /ready/ok (an emptyDir) exists.
    period = 2
    rr = deployment(
        "rr", ["sh", "-c", f'touch {READY_FILE} && exec {PY} -u {NETAPP} "$HOSTNAME" 8000'],
        ports={"http": 8000},
        readiness={"exec": {"command": ["test", "-f", READY_FILE]}, "periodSeconds": period,
                   "failureThreshold": 1},
        volumes=[{"name": "ready", "emptyDir": {}}])
    rr["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "ready", "mountPath": "/ready"}]
    apply(kubectl, rr, service("rr", "rr", 8000))
    rollout(kubectl, "rr")
    kubectl.run("scale", "deployment/rr", "--replicas=3")
    rollout(kubectl, "rr")
    names = {p["metadata"]["name"] for p in ready_pods(kubectl, "rr")}
    assert len(names) == 3
    url = f"http://{cluster_ip(kubectl, 'rr')}:8000/"

    def spread(n: int) -> collections.Counter[str]:
        return collections.Counter(http_get(url) for _ in range(n))

    poll(lambda: set(spread(9)) == names, timeout=15)
    counts = spread(300)
    assert set(counts) == names and min(counts.values()) >= 90, counts
    victim = sorted(names)[1]
    started = time.monotonic()
    kubectl.run("exec", victim, "--", "rm", READY_FILE)
    poll(lambda: victim not in spread(30), timeout=period + 5, interval=0.1)
    elapsed = time.monotonic() - started
    assert elapsed < period + 1.5, f"left rotation after {elapsed:.1f}s (period {period}s)"
    assert set(spread(60)) == names - {victim}
    kubectl.run("exec", victim, "--", "touch", READY_FILE)  # and back into rotation
    poll(lambda: set(spread(30)) == names, timeout=period + 5, interval=0.1)


def ingress_port(kubectl: Kubectl, name: str) -> int:
    def port() -> Any:
        ing = kubectl.json("get", "ingress", name)
        lb = ((ing.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        return lb and lb[0]["ip"] == "127.0.0.1" and lb[0]["ports"][0]["port"]
    return int(poll(port, timeout=10))


def test_ingress_paths_and_websocket(kubectl: Kubectl, apps: dict[str, str]) -> None:
    apply(kubectl, ingress("ab", [{"http": {"paths": [
        route("/a", "alpha", 8786), route("/b", "beta", 8786),
        route("/ws", "beta", 8786, "Exact")]}}]))
    base = f"http://127.0.0.1:{ingress_port(kubectl, 'ab')}"
    assert poll(lambda: http_json(f"{base}/a/x"))["answer"] == "alpha"
    who = http_json(f"{base}/b/y")
    assert who["answer"] == "beta" and who["path"] == "/b/y" and who["forwarded_for"]

    async def echo() -> list[str]:
        async with aiohttp.ClientSession() as s, s.ws_connect(f"{base}/ws") as ws:
            got = []
            for word in ("hello", "world"):
                await ws.send_str(word)
                got.append((await ws.receive(timeout=5)).data)
            return got

    assert asyncio.run(echo()) == ["beta:hello", "beta:world"]


@pytest.mark.parametrize("target", ["pod", "svc/alpha 8786"])
def test_kubectl_port_forward(kubectl: Kubectl, apps: dict[str, str], target: str) -> None:
    if target == "pod":
        target = f"pod/{ready_pods(kubectl, 'alpha')[0]['metadata']['name']} 8786"
    resource, remote = target.split()
    local = free_port()
    proc = kubectl.popen("port-forward", resource, f"{local}:{remote}")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"127.0.0.1:{local}" in line, line + (proc.stderr.read() if proc.stderr else "")
        assert http_get(f"http://127.0.0.1:{local}/") == "alpha"
        assert http_json(f"http://127.0.0.1:{local}/status")["path"] == "/status"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_kubectl_proxy_reaches_pod_port(kubectl: Kubectl, apps: dict[str, str]) -> None:
    pod = ready_pods(kubectl, "beta")[0]["metadata"]["name"]
    port = free_port()
    proc = kubectl.popen("proxy", f"--port={port}")
    try:
        base = f"http://127.0.0.1:{port}/api/v1/namespaces/default"
        assert poll(lambda: http_get(f"{base}/pods/{pod}:8786/proxy/")) == "beta"
        assert http_get(f"{base}/services/beta:web/proxy/") == "beta"
    finally:
        proc.terminate()
        proc.wait(5)


def test_dask_cluster_from_plain_deployments(kubectl: Kubectl) -> None:
    distributed = pytest.importorskip("distributed")
    apply(kubectl,
          deployment("dask-scheduler", [DASK, "scheduler"],
                     ports={"comm": 8786, "dashboard": 8787},
                     readiness={"tcpSocket": {"port": "comm"}, "periodSeconds": 1}),
          service("dask-scheduler", "dask-scheduler", 8786, "comm"),
          deployment("dask-worker", [DASK, "worker", "tcp://dask-scheduler:8786",
                                     "--nthreads", "1"], replicas=2))
    rollout(kubectl, "dask-scheduler", "dask-worker")
    network.use_cluster_dns(kubectl.cp.kubeconfig)
    try:
        with distributed.Client("tcp://dask-scheduler.default:8786", timeout=30) as client:
            poll(lambda: len(client.scheduler_info()["workers"]) == 2, timeout=60)
            workers = {w["host"] for w in client.scheduler_info()["workers"].values()}
            assert workers == {p["status"]["podIP"] for p in ready_pods(kubectl, "dask-worker")}
            futures = client.map(lambda x: x * x, range(100))
            assert client.submit(sum, futures).result(timeout=30) == sum(
                x * x for x in range(100))
    finally:
        network.stop_cluster_dns()
    # Once its pods are gone, the Service refuses connections again.
    ip = cluster_ip(kubectl, "dask-scheduler")
    kubectl.run("delete", "deployment", "dask-worker", "dask-scheduler", "--wait=false")

    def refused() -> bool:
        try:
            socket.create_connection((ip, 8786), timeout=1).close()
        except ConnectionRefusedError:
            return True
        return False

    poll(refused, timeout=15, interval=0.2)


# -- bad input -------------------------------------------------------------------------------


def test_service_selecting_nothing_refuses_fast(kubectl: Kubectl) -> None:
    apply(kubectl, service("nobody", "nobody", 8002))
    ip = cluster_ip(kubectl, "nobody")
    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((ip, 8002), timeout=5)
    assert time.monotonic() - started < 1
    network.use_cluster_dns(kubectl.cp.kubeconfig)
    try:
        started = time.monotonic()
        with pytest.raises(urllib.error.URLError, match="refused"):
            http_get("http://nobody.default:8002/")
        assert time.monotonic() - started < 2
    finally:
        network.stop_cluster_dns()


def test_target_port_name_not_declared(kubectl: Kubectl, apps: dict[str, str]) -> None:
    apply(kubectl, service("alpha-metrics", "alpha", 9090, target="metrics"))
    event = poll(lambda: warnings(kubectl, "alpha-metrics", "FailedToResolveTargetPort"))[0]
    assert event["type"] == "Warning" and "metrics" in event["message"]
    # The pod stays out of this Service's endpoints (as Kubernetes does), so it refuses.
    assert not (kubectl.json("get", "endpoints", "alpha-metrics").get("subsets") or [])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((cluster_ip(kubectl, "alpha-metrics"), 9090), timeout=5)


@pytest.mark.parametrize("kind", ["NodePort", "LoadBalancer"])
def test_host_port_already_taken(kubectl: Kubectl, apps: dict[str, str], kind: str) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    name = f"taken-{kind.lower()}"
    try:
        svc = service(name, "alpha", port if kind == "LoadBalancer" else 8786, type=kind)
        if kind == "NodePort":
            svc["spec"]["ports"][0]["nodePort"] = port
        else:
            svc["spec"]["ports"][0]["nodePort"] = free_port()
        apply(kubectl, svc)
        event = poll(lambda: warnings(kubectl, name, "FailedToBindPort"))[0]
        assert f"127.0.0.1:{port}" in event["message"], event["message"]
        if kind == "LoadBalancer":
            # Only the node port got through, and the status says where it is not.
            got = kubectl.json("get", "service", name)
            assert not (got.get("status") or {}).get("loadBalancer", {}).get("ingress")
            node_port = got["spec"]["ports"][0]["nodePort"]
            assert poll(lambda: http_get(f"http://127.0.0.1:{node_port}/")) == "alpha"
    finally:
        taken.close()
        kubectl.run("delete", "service", name, "--wait=false")


def test_two_ingresses_same_host_path(kubectl: Kubectl, apps: dict[str, str]) -> None:
    apply(kubectl, ingress("first", [{"host": "c.test", "http": {"paths": [
        route("/", "alpha", 8786)]}}]))
    time.sleep(1.1)  # creation timestamps have one-second resolution
    apply(kubectl, ingress("second", [{"host": "c.test", "http": {"paths": [
        route("/", "beta", 8786)]}}]))
    event = poll(lambda: warnings(kubectl, "second", "HostPathConflict"))[0]
    assert event["type"] == "Warning" and "first" in event["message"]
    base = f"http://127.0.0.1:{ingress_port(kubectl, 'first')}"
    assert http_get(f"{base}/", headers={"Host": "c.test"}) == "alpha"
    assert not warnings(kubectl, "first", "HostPathConflict")


HALF_ANSWER = """
import socket, struct, sys
srv = socket.create_server(("0.0.0.0", 8100))
print("ready", flush=True)
while True:
    conn, _ = srv.accept()
    req = conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 100000\\r\\n\\r\\n" + b"x" * 10)
    if b"/reset" in req:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
"""


def test_pod_closing_connections_mid_stream(kubectl: Kubectl, apps: dict[str, str]) -> None:
    apply(kubectl,
          deployment("halfway", [PY, "-u", "-c", HALF_ANSWER], ports={"http": 8100},
                     readiness={"tcpSocket": {"port": "http"}, "periodSeconds": 1}),
          service("halfway", "halfway", 8100),
          ingress("halfway", [{"host": "half.test", "http": {"paths": [
              route("/", "halfway", 8100)]}}]))
    rollout(kubectl, "halfway")
    svc = f"http://{cluster_ip(kubectl, 'halfway')}:8100"
    base = f"http://127.0.0.1:{ingress_port(kubectl, 'halfway')}"

    def failure(url: str, headers: dict[str, str]) -> tuple[BaseException, float]:
        started = time.monotonic()
        try:
            http_get(url, headers=headers, timeout=10)
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 503):  # the ingress has not learnt the route yet
                raise
            return exc, time.monotonic() - started
        except Exception as exc:
            return exc, time.monotonic() - started
        raise AssertionError(f"{url}: a truncated answer read as complete")

    for path in ("/close", "/reset"):
        for url, headers in ((svc, {}), (base, {"Host": "half.test"})):
            exc, took = poll(lambda: failure(url + path, headers))
            # The client learns at once that the answer broke off; nothing hangs.
            assert took < 3 and "timed out" not in str(exc), (url, path, exc, took)
            if url == svc:  # kube-proxy passes the pod's FIN or RST on as it is
                expected = ConnectionResetError if path == "/reset" else IncompleteRead
                assert isinstance(exc, expected), (path, exc)
    # Both proxies keep serving other backends afterwards.
    assert http_get(f"http://{cluster_ip(kubectl, 'alpha')}:8786/") == "alpha"
    apply(kubectl, ingress("after", [{"host": "after.test", "http": {"paths": [
        route("/", "alpha", 8786)]}}]))
    assert poll(lambda: http_get(f"{base}/", headers={"Host": "after.test"})) == "alpha"
