"""The API server never proxies to the host's own addresses: a pod whose `status.podIP` says
127.0.0.1 (written by anyone who may write pods/status: a node, a custom role) or an
Endpoints object naming 127.0.0.1 does not turn pods/proxy, services/proxy or port-forward
into a way to the host's loopback services. Addresses of the pod network stay reachable."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import threading
from typing import Iterator

import pytest
import requests

from orchestrator import ControlPlane
from tests.conftest import Kubectl
from tests.tenants import Tenant, make_tenant

NS = "proxy-attack"
POD = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: proxy-attack}}
spec:
  schedulerName: nobody   # never scheduled: its status is written by hand below
  containers: [{{name: c, image: busybox, ports: [{{containerPort: 80}}]}}]
"""


class HostService:
    """A server on the host's 127.0.0.1 that no tenant should reach; counts its visitors."""

    def __init__(self) -> None:
        self.visits = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.visits += 1
                body = b"host secret"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def host_service() -> Iterator[HostService]:
    service = HostService()
    yield service
    service.close()


@pytest.fixture(scope="module")
def tenant(control_plane: ControlPlane, kubectl: Kubectl,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenant]:
    t = make_tenant(control_plane, kubectl, NS, tmp_path_factory.mktemp("proxy"))
    yield t
    kubectl.run("delete", "namespace", NS, "--wait=false")


def _pod_at(kubectl: Kubectl, name: str, ip: str) -> None:
    """A Running pod at `ip`, as a node (or anyone allowed pods/status) would report it."""
    kubectl.run("apply", "-f", "-", input=POD.format(name=name))
    kubectl.run("patch", "pod", name, "-n", NS, "--subresource=status", "--type=merge",
                "-p", json.dumps({"status": {"phase": "Running", "podIP": ip,
                                             "podIPs": [{"ip": ip}]}}))


def _as(cp: ControlPlane, tenant: Tenant, path: str) -> requests.Response:
    return requests.get(cp.url + path, headers={"Authorization": f"Bearer {tenant.token}"},
                        verify=cp.ca_file, timeout=30)


def test_pods_proxy_refuses_the_hosts_loopback(control_plane: ControlPlane, kubectl: Kubectl,
                                               tenant: Tenant,
                                               host_service: HostService) -> None:
    _pod_at(kubectl, "victim", "127.0.0.1")
    before = host_service.visits
    resp = _as(control_plane, tenant,
               f"/api/v1/namespaces/{NS}/pods/victim:{host_service.port}/proxy/")
    assert resp.status_code == 400, resp.text
    assert resp.json()["message"] == "address not allowed"
    assert host_service.visits == before


def test_services_proxy_refuses_an_endpoint_on_the_host(
        control_plane: ControlPlane, kubectl: Kubectl, tenant: Tenant,
        host_service: HostService) -> None:
    kubectl.run("apply", "-f", "-", input=f"""
apiVersion: v1
kind: Service
metadata: {{name: host, namespace: {NS}}}
spec:
  ports: [{{port: 80, targetPort: {host_service.port}}}]
---
apiVersion: v1
kind: Endpoints
metadata: {{name: host, namespace: {NS}}}
subsets: [{{addresses: [{{ip: 127.0.0.1}}], ports: [{{port: {host_service.port}}}]}}]
""")
    before = host_service.visits
    resp = _as(control_plane, tenant, f"/api/v1/namespaces/{NS}/services/host:80/proxy/")
    assert resp.status_code == 503, resp.text
    assert resp.json()["message"] == 'no endpoints available for service "host"'
    assert host_service.visits == before


def test_port_forward_refuses_the_hosts_loopback(control_plane: ControlPlane,
                                                 kubectl: Kubectl, tenant: Tenant,
                                                 host_service: HostService) -> None:
    _pod_at(kubectl, "victim2", "127.0.0.1")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        local = probe.getsockname()[1]
    forward = tenant.kubectl.popen("port-forward", "-n", NS, "pod/victim2",
                                   f"{local}:{host_service.port}")
    try:
        try:
            _, err = forward.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            # Still forwarding: see whether it reaches the host.
            reached = requests.get(f"http://127.0.0.1:{local}/", timeout=10).text
            pytest.fail(f"port-forward to a pod at 127.0.0.1 reached the host: {reached!r}")
        assert forward.returncode != 0
        assert "address not allowed" in err
    finally:
        if forward.poll() is None:
            forward.kill()
            forward.communicate()


def test_pod_network_addresses_stay_proxyable(control_plane: ControlPlane, kubectl: Kubectl,
                                              tenant: Tenant) -> None:
    # Nothing listens there: the API server tries (503), it does not refuse (400).
    assert control_plane.ranges is not None  # this plane's pod range (127.244/16 if alone)
    _pod_at(kubectl, "pod-net", str(control_plane.ranges.pod_cidr.broadcast_address - 5))
    resp = _as(control_plane, tenant, f"/api/v1/namespaces/{NS}/pods/pod-net:1/proxy/")
    assert resp.status_code == 503, resp.text
    assert resp.json()["message"].startswith("error trying to reach pod pod-net:1")
