"""Pod IPs, cluster DNS, Services and Endpoints on a live control plane.

Pod processes are started by the harness with the env `PodNetwork.attach` returns (the
runtime will do the same), and pods are made Running/Ready through the API.
"""

from __future__ import annotations

import collections
import socket
import time
from typing import Any, Iterator

import pytest

from orchestrator import ControlPlane, network
from tests.e2e.network_harness import NetworkHarness, http_get, http_json, poll


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetworkHarness]:
    # No nodes or scheduler: the harness plays the runtime (see network_harness.py).
    with ControlPlane(data_dir=tmp_path_factory.mktemp("cp"), components=()) as cp:
        harness = NetworkHarness(cp).start()
        try:
            yield harness
        finally:
            harness.stop()


def service(name: str, selector: dict[str, str], port: int, target: Any = "http",
            **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": selector, "ports": [{"port": port, "targetPort": target}],
                     **spec}}


def cluster_ip(net: NetworkHarness, name: str, ns: str = "default") -> str:
    svc = net.call(net.client.get(net.client.resource("v1", "Service"), name, ns))
    return str(svc["spec"]["clusterIP"])


def test_two_pods_on_one_port_reached_by_name(net: NetworkHarness) -> None:
    _, ip_a = net.run_app_pod("alpha-1", {"app": "alpha"}, "alpha", 8786)
    _, ip_b = net.run_app_pod("beta-1", {"app": "beta"}, "beta", 8786)
    assert ip_a != ip_b
    net.apply(service("alpha", {"app": "alpha"}, 8786))
    net.apply(service("beta", {"app": "beta"}, 8786))
    # From inside a third pod, by every DNS form.
    _, ip_c = net.run_app_pod("client-1", {"app": "client"}, "client", 9000)
    for name in ("alpha", "alpha.default", "alpha.default.svc",
                 "alpha.default.svc.cluster.local"):
        assert poll(lambda: http_get(f"http://{ip_c}:9000/get?url=http://{name}:8786/")) \
            == "alpha"
    assert http_get(f"http://{ip_c}:9000/get?url=http://beta.default:8786/") == "beta"
    # The pod's server bound its own IP only, and the pod connects from its own IP.
    who = http_json(f"http://{ip_a}:8786/whoami")
    assert who["bound"] == ip_a
    seen = http_json(f"http://{ip_c}:9000/get?url=http://{ip_a}:8786/whoami")
    assert seen["client"] == ip_c
    # From the test process, after use_cluster_dns.
    network.use_cluster_dns(net.cp.kubeconfig)
    try:
        assert http_get("http://alpha.default:8786/") == "alpha"
        assert http_get("http://beta.default.svc.cluster.local:8786/") == "beta"
        assert socket.gethostbyname("beta.default") == cluster_ip(net, "beta")
        assert socket.gethostbyname("localhost") == "127.0.0.1"
    finally:
        network.stop_cluster_dns()


def test_round_robin_and_unready_pod_leaves_rotation(net: NetworkHarness) -> None:
    pods = [net.run_app_pod(f"rr-{i}", {"app": "rr"}, f"rr-{i}", 8000) for i in range(3)]
    net.apply(service("rr", {"app": "rr"}, 8000))
    ip = cluster_ip(net, "rr")

    def spread(n: int) -> collections.Counter[str]:
        return collections.Counter(http_get(f"http://{ip}:8000/") for _ in range(n))

    poll(lambda: len(spread(9)) == 3, timeout=10)
    counts = spread(300)
    assert set(counts) == {"rr-0", "rr-1", "rr-2"}
    assert min(counts.values()) >= 90, counts
    pod, pod_ip = pods[1]
    started = time.monotonic()
    net.set_status(pod, pod_ip, ready=False)
    poll(lambda: "rr-1" not in spread(30), timeout=5)
    assert time.monotonic() - started < 5
    assert "rr-1" not in spread(60)


def test_session_affinity_client_ip(net: NetworkHarness) -> None:
    for i in range(2):
        net.run_app_pod(f"sticky-{i}", {"app": "sticky"}, f"sticky-{i}", 8001)
    net.apply(service("sticky", {"app": "sticky"}, 8001, sessionAffinity="ClientIP"))
    ip = cluster_ip(net, "sticky")
    poll(lambda: http_get(f"http://{ip}:8001/"))
    poll(lambda: len(net.call(net.client.get(net.client.resource("v1", "Endpoints"), "sticky",
                                             "default"))["subsets"][0]["addresses"]) == 2)
    answers = {http_get(f"http://{ip}:8001/") for _ in range(20)}
    assert len(answers) == 1


def test_service_selecting_nothing_refuses_fast(net: NetworkHarness) -> None:
    net.apply(service("nobody", {"app": "nobody"}, 8002))
    ip = cluster_ip(net, "nobody")
    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((ip, 8002), timeout=5)
    assert time.monotonic() - started < 1


def test_headless_service_and_statefulset_hostnames(net: NetworkHarness) -> None:
    ips = {}
    for i in range(2):
        _, ips[i] = net.run_app_pod(f"web-{i}", {"app": "web"}, f"web-{i}", 8003,
                                    extra_spec={"hostname": f"web-{i}", "subdomain": "web"})
    net.apply(service("web", {"app": "web"}, 8003, clusterIP="None"))
    network.use_cluster_dns(net.cp.kubeconfig)
    try:
        addrs = poll(lambda: sorted(i[4][0] for i in socket.getaddrinfo(
            "web.default.svc.cluster.local", 8003, type=socket.SOCK_STREAM)))
        assert addrs == sorted(ips.values())
        assert socket.gethostbyname("web-1.web.default.svc.cluster.local") == ips[1]
        assert http_get("http://web-0.web.default:8003/") == "web-0"
    finally:
        network.stop_cluster_dns()
    slices, _ = net.call(net.client.list(net.client.resource("discovery.k8s.io/v1",
                                                             "EndpointSlice"), "default",
                                         label_selector="kubernetes.io/service-name=web"))
    hosts = sorted(e["hostname"] for s in slices for e in s["endpoints"])
    assert hosts == ["web-0", "web-1"]


def test_target_port_name_not_declared_gives_event(net: NetworkHarness) -> None:
    net.run_app_pod("named-0", {"app": "named"}, "named", 8004)
    net.apply(service("named", {"app": "named"}, 8004, target="metrics"))

    def warning() -> Any:
        events, _ = net.call(net.client.list(net.client.resource("v1", "Event"), "default"))
        return [e for e in events if e["involvedObject"]["name"] == "named"
                and e["reason"] == "FailedToResolveTargetPort"]

    assert "metrics" in poll(warning)[0]["message"]


def test_nodeport_and_loadbalancer(net: NetworkHarness) -> None:
    net.run_app_pod("lb-0", {"app": "lb"}, "lb", 8005)
    net.apply(service("lb", {"app": "lb"}, 18005, type="LoadBalancer"))
    svc_rt = net.client.resource("v1", "Service")

    def status() -> Any:
        svc = net.call(net.client.get(svc_rt, "lb", "default"))
        return (svc.get("status") or {}).get("loadBalancer", {}).get("ingress") and svc

    svc = poll(status)
    assert svc["status"]["loadBalancer"]["ingress"][0]["ip"] == "127.0.0.1"
    assert http_get("http://127.0.0.1:18005/") == "lb"
    node_port = svc["spec"]["ports"][0]["nodePort"]
    assert http_get(f"http://127.0.0.1:{node_port}/") == "lb"


def test_service_env_for_new_pods(net: NetworkHarness) -> None:
    net.apply(service("envsvc", {"app": "envsvc"}, 7000))
    ip = cluster_ip(net, "envsvc")
    poll(lambda: net.pods.services.get("default", "envsvc"))
    pod = net.create_pod("env-0", {"app": "x"})
    env = net.pods.attach(pod).env
    assert env["ENVSVC_SERVICE_HOST"] == ip
    assert env["ENVSVC_SERVICE_PORT"] == "7000"
    assert env["DASKHUB_LITE_POD_IP"].startswith("127.244.")
    net.pods.detach(pod)
