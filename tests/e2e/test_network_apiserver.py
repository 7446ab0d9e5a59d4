"""Reaching pods through the API server: pods/proxy, services/proxy, kubectl proxy and
port-forward."""

from __future__ import annotations

import json
import socket
import subprocess
from typing import Iterator

import pytest

from orchestrator import ControlPlane
from tests.conftest import Kubectl
from tests.e2e.network_harness import NetworkHarness, http_get, poll


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetworkHarness]:
    # No nodes or scheduler: the harness plays the runtime (see network_harness.py).
    with ControlPlane(data_dir=tmp_path_factory.mktemp("cp"), components=()) as cp:
        harness = NetworkHarness(cp, ingress_port=None).start()
        try:
            harness.run_app_pod("dash", {"app": "dash"}, "dashboard", 8787)
            harness.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dash"},
                           "spec": {"selector": {"app": "dash"},
                                    "ports": [{"name": "http", "port": 80,
                                               "targetPort": 8787}]}})
            yield harness
        finally:
            harness.stop()


@pytest.fixture(scope="module")
def kubectl(net: NetworkHarness, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(net.cp, tmp_path_factory.mktemp("kubectl-cache"))


def test_pod_and_service_proxy_subresources(net: NetworkHarness, kubectl: Kubectl) -> None:
    out = kubectl.run("get", "--raw", "/api/v1/namespaces/default/pods/dash:8787/proxy/").stdout
    assert out == "dashboard"
    who = json.loads(kubectl.run(
        "get", "--raw", "/api/v1/namespaces/default/pods/dash:8787/proxy/status?x=1").stdout)
    assert who["path"] == "/status"
    poll(lambda: kubectl.run("get", "--raw", "/api/v1/namespaces/default/services/dash:http/"
                             "proxy/", check=False).stdout == "dashboard")
    missing = kubectl.run("get", "--raw", "/api/v1/namespaces/default/pods/nope:1/proxy/",
                          check=False)
    assert missing.returncode != 0 and "not found" in missing.stderr


def test_kubectl_proxy_reaches_pod_port(net: NetworkHarness, kubectl: Kubectl) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = kubectl.popen("proxy", f"--port={port}")
    try:
        url = f"http://127.0.0.1:{port}/api/v1/namespaces/default/pods/dash:8787/proxy/"
        assert poll(lambda: http_get(url)) == "dashboard"
        url = f"http://127.0.0.1:{port}/api/v1/namespaces/default/services/dash:80/proxy/"
        assert poll(lambda: http_get(url)) == "dashboard"
    finally:
        proc.terminate()
        proc.wait(5)


def test_websocket_port_forward_with_python_client(net: NetworkHarness) -> None:
    from kubernetes import client as k8s
    from kubernetes import config
    from kubernetes.stream import portforward

    api = k8s.CoreV1Api(config.new_client_from_config(config_file=net.cp.kubeconfig))
    pf = portforward(api.connect_get_namespaced_pod_portforward, "dash", "default",
                     ports="8787")
    sock = pf.socket(8787)
    sock.setblocking(True)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    reply = b""
    while chunk := sock.recv(4096):
        reply += chunk
    sock.close()
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"dashboard")


@pytest.mark.parametrize("target", ["pod/dash 8787", "svc/dash 80"])
def test_kubectl_port_forward(net: NetworkHarness, kubectl: Kubectl, target: str) -> None:
    # kubectl >= 1.31 tunnels SPDY/3.1 inside a WebSocket (SPDY/3.1+portforward.k8s.io);
    # for svc/x it picks a ready pod behind the service and maps the service port itself.
    resource, remote = target.split()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        local = s.getsockname()[1]
    proc = kubectl.popen("port-forward", resource, f"{local}:{remote}")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"127.0.0.1:{local}" in line, line + (proc.stderr.read() if proc.stderr else "")
        url = f"http://127.0.0.1:{local}/"
        for _ in range(3):  # each GET is its own forwarded connection (a new stream pair)
            assert http_get(url) == "dashboard"
        assert json.loads(http_get(url + "status"))["path"] == "/status"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        assert proc.stderr is not None
        stderr = proc.stderr.read()
    assert "error" not in stderr.lower(), stderr


def test_kubectl_port_forward_reports_refused_port(net: NetworkHarness, kubectl: Kubectl) -> None:
    # Nothing listens on port 9 in the pod: the server writes the failure to the SPDY error
    # stream, which kubectl prints (and then, as against a real kubelet, gives up).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        local = s.getsockname()[1]
    proc = kubectl.popen("port-forward", "pod/dash", f"{local}:9")
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert f"127.0.0.1:{local}" in proc.stdout.readline()
        with pytest.raises(OSError):
            http_get(f"http://127.0.0.1:{local}/")
        proc.wait(10)
        stderr = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert "error forwarding port 9 to pod dash" in stderr and "connection refused" in stderr
