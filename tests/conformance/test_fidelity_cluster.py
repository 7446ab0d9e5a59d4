"""The cluster as Kubernetes tools see it: `kubectl top` over the metrics API
(metrics.k8s.io/v1beta1, registered as metrics-server registers it), and kube-system's own
components (the kube-dns Service, backed by nothing while no DNS server runs)."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from orchestrator import ControlPlane
from orchestrator.api.kinds import BUILTIN_TYPES
from orchestrator.api.quantity import parse_quantity
from tests.conftest import Kubectl, wait_for
from tests.tenants import make_tenant

PY = sys.executable
MiB = 2**20
# The most CPU a figure may plausibly show: every core busy, plus the counters' granularity
# (clock ticks of 10 ms over a window of seconds).
MAX_MILLICORES = 1050 * (os.cpu_count() or 1)
# Spins one core and holds 64 MiB (touched, so it is resident), after saying so.
BURN = ("import sys\nheld = bytearray(64 * 2**20)\nheld[::4096] = b'x' * (len(held) // 4096)\n"
        "print('burning', flush=True)\nwhile True: pass")
IDLE = "import time\nprint('idle', flush=True)\nwhile True: time.sleep(1)"


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(data_dir=tmp_path_factory.mktemp("fidelity")) as plane:
        yield plane


@pytest.fixture(scope="module")
def kubectl(cp: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(cp, tmp_path_factory.mktemp("kubectl-cache"))


def _pod(name: str, labels: dict[str, str], **containers: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                {"name": c, "image": "python:3.11", "command": [PY, "-u", "-c", code]}
                for c, code in containers.items()]}}


@pytest.fixture(scope="module")
def burner(kubectl: Kubectl) -> Iterator[str]:
    kubectl.run("apply", "-f", "-", input=json.dumps(
        _pod("burner", {"app": "burner"}, burn=BURN, idle=IDLE)))
    kubectl.run("apply", "-f", "-", input=json.dumps(_pod("bystander", {"app": "other"},
                                                          idle=IDLE)))
    for name, container, word in (("burner", "burn", "burning"), ("burner", "idle", "idle"),
                                  ("bystander", "idle", "idle")):
        wait_for(lambda: kubectl.run("logs", name, "-c", container, check=False).stdout
                 .startswith(word), timeout=30, interval=0.2)
    yield "burner"
    kubectl.run("delete", "pod", "burner", "bystander", "--wait=true", timeout=60)


def _rows(output: str) -> list[list[str]]:
    return [line.split() for line in output.strip().splitlines()[1:]]


def _millicores(cell: str) -> int:
    assert cell.endswith("m"), cell
    return int(cell[:-1])


def _mebibytes(cell: str) -> int:
    assert cell.endswith("Mi"), cell
    return int(cell[:-2])


def test_kubectl_top_pods_reports_what_containers_use(kubectl: Kubectl, burner: str) -> None:
    out = kubectl.run("top", "pods").stdout
    assert out.split("\n")[0].split() == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    rows = {r[0]: r for r in _rows(out)}
    assert set(rows) == {"burner", "bystander"}
    # A core spinning: a real share of one, never more than the machine has.
    assert 0 < _millicores(rows["burner"][1]) <= MAX_MILLICORES
    assert 64 <= _mebibytes(rows["burner"][2]) < 1024

    per_container = kubectl.run("top", "pods", "burner", "--containers").stdout
    containers = {r[1]: r for r in _rows(per_container)}
    assert set(containers) == {"burn", "idle"}
    assert _millicores(containers["idle"][2]) < _millicores(containers["burn"][2])
    assert _mebibytes(containers["idle"][3]) < 64 <= _mebibytes(containers["burn"][3])

    selected = kubectl.run("top", "pods", "-l", "app=burner").stdout
    assert [r[0] for r in _rows(selected)] == ["burner"]


def test_pod_metrics_objects_as_metrics_server_serves_them(kubectl: Kubectl,
                                                           burner: str) -> None:
    raw = kubectl.run("get", "--raw",
                      "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/burner").stdout
    item = json.loads(raw)
    assert (item["kind"], item["apiVersion"]) == ("PodMetrics", "metrics.k8s.io/v1beta1")
    assert item["metadata"]["labels"] == {"app": "burner"}
    assert item["window"].endswith("s") and item["timestamp"].endswith("Z")
    usage = {c["name"]: c["usage"] for c in item["containers"]}
    assert parse_quantity(usage["burn"]["cpu"]) > 0
    assert parse_quantity(usage["burn"]["memory"]) >= 64 * MiB
    # Nano-scaled CPU and binary memory quantities, canonical as apimachinery writes them.
    assert usage["burn"]["cpu"][-1] in "num" or usage["burn"]["cpu"].isdigit()
    assert usage["burn"]["memory"].endswith(("Ki", "Mi", "Gi"))

    listed = json.loads(kubectl.run(
        "get", "--raw", "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app%3Dother").stdout)
    assert listed["kind"] == "PodMetricsList"
    assert [i["metadata"]["name"] for i in listed["items"]] == ["bystander"]
    table = kubectl.run("get", "podmetrics.metrics.k8s.io", "burner").stdout
    assert table.split("\n")[0].split() == ["NAME", "CPU", "MEMORY", "WINDOW"]


def test_kubectl_top_nodes(kubectl: Kubectl, burner: str) -> None:
    out = kubectl.run("top", "nodes").stdout
    assert out.split("\n")[0].split() == [
        "NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    (name, cpu, cpu_share, memory, memory_share), = _rows(out)
    assert 0 < _millicores(cpu) <= MAX_MILLICORES
    assert cpu_share.endswith("%") and memory_share.endswith("%")
    assert _mebibytes(memory) >= 64  # the burner alone holds that much
    node = json.loads(kubectl.run(
        "get", "--raw", f"/apis/metrics.k8s.io/v1beta1/nodes/{name}").stdout)
    assert node["kind"] == "NodeMetrics" and set(node["usage"]) == {"cpu", "memory"}


def test_metrics_api_is_registered_and_discoverable(kubectl: Kubectl) -> None:
    resources = kubectl.run("api-resources", "--api-group=metrics.k8s.io").stdout
    kinds = {r[-1] for r in _rows(resources)}
    assert kinds == {"NodeMetrics", "PodMetrics"}
    if any(rt.group == "apiregistration.k8s.io" for rt in BUILTIN_TYPES):
        service = kubectl.json("get", "apiservice", "v1beta1.metrics.k8s.io")
        assert service["spec"]["group"] == "metrics.k8s.io"
        assert service["spec"]["version"] == "v1beta1"
        available = {c["type"]: c["status"] for c in service["status"]["conditions"]}
        assert available == {"Available": "True"}
    # metrics-server's reader role, aggregated so that `view` may read pod metrics.
    view = kubectl.json("get", "clusterrole", "view")
    assert any("metrics.k8s.io" in r.get("apiGroups", []) for r in view["rules"])


def test_a_tenant_tops_its_own_pods_only(cp: ControlPlane, kubectl: Kubectl,
                                         tmp_path: Path) -> None:
    tenant = make_tenant(cp, kubectl, "topper", tmp_path)
    out = tenant.kubectl.run("top", "pods", "-n", "topper", check=False)
    assert out.returncode == 0 and "No resources found in topper namespace." in out.stderr
    refused = tenant.kubectl.run("top", "pods", "-n", "default", check=False)
    assert refused.returncode != 0 and "forbidden" in refused.stderr
    refused = tenant.kubectl.run("top", "nodes", check=False)
    assert refused.returncode != 0 and "forbidden" in refused.stderr
    kubectl.run("delete", "namespace", "topper", "--wait=false")


@pytest.mark.parametrize(("method", "path", "code", "message"), [
    ("GET", "namespaces/default/pods/nosuch", 404, 'pods "nosuch" not found'),
    ("GET", "nodes/nosuch", 404, 'nodes "nosuch" not found'),
    ("GET", "pods?watch=true", 405,
     'watch is not supported on resources of kind "pods.metrics.k8s.io"'),
    ("POST", "namespaces/default/pods", 405,
     "the server does not allow this method on the requested resource"),
    ("DELETE", "nodes/x", 405,
     "the server does not allow this method on the requested resource"),
    ("GET", "pods?labelSelector=a%3D%3D%3Db", 400, "unable to parse requirement"),
])
def test_bad_metrics_requests_get_one_clear_status(kubectl: Kubectl, method: str, path: str,
                                                   code: int, message: str) -> None:
    out = kubectl.run("get", "--raw", f"/apis/metrics.k8s.io/v1beta1/{path}", check=False) \
        if method == "GET" else kubectl.run(
            "create" if method == "POST" else "delete", "--raw",
            f"/apis/metrics.k8s.io/v1beta1/{path}", *(["-f", "-"] if method == "POST" else []),
            input="{}", check=False)
    assert out.returncode != 0
    assert message in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_kubectl_top_names_a_missing_pod(kubectl: Kubectl) -> None:
    out = kubectl.run("top", "pod", "nosuch", check=False)
    assert out.returncode == 1
    assert 'pods "nosuch" not found' in out.stderr


def test_kube_dns_service_as_kubernetes_shows_it(kubectl: Kubectl) -> None:
    svc = kubectl.json("get", "svc", "-n", "kube-system", "kube-dns")
    assert svc["metadata"]["labels"]["k8s-app"] == "kube-dns"
    assert svc["spec"]["type"] == "ClusterIP"
    # The service range's tenth address, as kubeadm's 10.96.0.10 (the first is `kubernetes`).
    first = kubectl.json("get", "svc", "-n", "default", "kubernetes")["spec"]["clusterIP"]
    assert ipaddress.ip_address(svc["spec"]["clusterIP"]) == ipaddress.ip_address(first) + 9
    assert svc["spec"]["selector"] == {"k8s-app": "kube-dns"}
    ports = {(p["name"], p["port"], p["protocol"]) for p in svc["spec"]["ports"]}
    assert ports == {("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")}
    found = kubectl.json("get", "svc", "-A", "-l", "k8s-app=kube-dns")["items"]
    assert [(s["metadata"]["namespace"], s["metadata"]["name"]) for s in found] == [
        ("kube-system", "kube-dns")]
    # No DNS server process runs: it says so, and its endpoints point at nothing.
    assert "no DNS server runs" in svc["metadata"]["annotations"][
        "daskhub-lite.io/cluster-dns"]
    endpoints = wait_for(lambda: kubectl.run("get", "endpoints", "-n", "kube-system",
                                             "kube-dns", "-o", "json", check=False), timeout=10)
    assert not json.loads(endpoints.stdout).get("subsets")
    slices = wait_for(lambda: kubectl.json("get", "endpointslices", "-n", "kube-system", "-l",
                                           "kubernetes.io/service-name=kube-dns")["items"],
                      timeout=10)
    assert all(not s.get("endpoints") for s in slices)
    reasons = {e["reason"] for e in kubectl.json("get", "events", "-n", "kube-system",
                                                 "--field-selector",
                                                 "involvedObject.name=kube-dns")["items"]}
    assert "NoDNSServer" in reasons
    with pytest.raises(OSError):  # nothing listens on its address
        socket.create_connection((svc["spec"]["clusterIP"], 53), timeout=2).close()


def test_virtual_and_simulated_nodes(tmp_path: Path) -> None:
    """A process node with declared capacity reports what its own pods use (not the whole
    host, which it shares); a simulated node and its pods report zeros: nothing runs."""
    nodes = {"nodes": [
        {"name": "virt", "runtime": "process", "capacity": {"cpu": "8", "memory": "16Gi"}},
        {"name": "sim", "runtime": "simulated", "capacity": {"cpu": "4", "memory": "8Gi"}}]}
    with ControlPlane(data_dir=tmp_path / "cp", nodes=nodes) as plane:
        kubectl = Kubectl(plane, tmp_path / "cache")
        for name, node, code in (("spin", "virt", BURN), ("ghost", "sim", IDLE)):
            spec = _pod(name, {}, main=code)
            spec["spec"]["nodeName"] = node
            kubectl.run("apply", "-f", "-", input=json.dumps(spec))
        wait_for(lambda: kubectl.run("logs", "spin", check=False).stdout.startswith(
            "burning"), timeout=30, interval=0.2)
        wait_for(lambda: kubectl.json("get", "pod", "ghost")["status"].get("phase")
                 == "Running", timeout=10)
        pods = {r[0]: r for r in _rows(kubectl.run("top", "pods").stdout)}
        assert pods["ghost"][1:] == ["0m", "0Mi"]
        assert _millicores(pods["spin"][1]) > 0 and _mebibytes(pods["spin"][2]) >= 64
        top = {r[0]: r for r in _rows(kubectl.run("top", "nodes").stdout)}
        assert top["sim"][1:] == ["0m", "0%", "0Mi", "0%"]
        # virt's figures are its pods' (the burner's 64 MiB and more), against its 16Gi.
        assert _millicores(top["virt"][1]) > 0
        assert 64 <= _mebibytes(top["virt"][3]) < 1024
        kubectl.run("delete", "pod", "spin", "ghost", "--wait=true", timeout=60)


def test_kubelet_stats_endpoint_refuses_what_it_does_not_serve(cp: ControlPlane,
                                                               kubectl: Kubectl) -> None:
    import requests

    node = kubectl.json("get", "nodes")["items"][0]
    port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    url = f"http://127.0.0.1:{port}/stats/summary"
    assert requests.get(url, timeout=10).status_code == 401  # the control plane's only
    auth = {"Authorization": f"Bearer {cp.token}"}
    wrong = requests.get(url, params={"node": "nosuch"}, headers=auth, timeout=10)
    assert wrong.status_code == 404
    assert wrong.json()["message"] == 'node "nosuch" is not served here'
    summary = requests.get(url, params={"node": node["metadata"]["name"]}, headers=auth,
                           timeout=10).json()
    assert summary["node"]["nodeName"] == node["metadata"]["name"]
    assert {"usageNanoCores", "usageCoreNanoSeconds"} <= set(summary["node"]["cpu"])
