"""Endpoints planning and service proxy balancing (pure)."""

from orchestrator.network.endpoints import plan, slices_for
from orchestrator.network.serviceproxy import Balancer, PortRef, backends_of, desired_listeners


def pod(name: str, ip: str, ready: bool = True, **spec: object) -> dict:
    return {"metadata": {"name": name, "namespace": "ns", "uid": name, "labels": {"a": "b"}},
            "spec": {"containers": [{"ports": [{"name": "http", "containerPort": 8080}]}],
                     **spec},
            "status": {"phase": "Running", "podIP": ip,
                       "conditions": [{"type": "Ready", "status": str(ready)}]}}


SVC = {"metadata": {"name": "web", "namespace": "ns", "uid": "u"},
       "spec": {"selector": {"a": "b"}, "ports": [{"name": "p", "port": 80,
                                                   "targetPort": "http"}]}}


def test_ready_and_unready_addresses_with_named_target_port() -> None:
    subsets, missing = plan(SVC, [pod("x", "127.244.0.2"), pod("y", "127.244.0.3", False),
                                  {**pod("z", ""), "status": {"phase": "Pending"}}])
    assert missing == []
    assert [a["ip"] for a in subsets[0]["addresses"]] == ["127.244.0.2"]
    assert [a["ip"] for a in subsets[0]["notReadyAddresses"]] == ["127.244.0.3"]
    assert subsets[0]["ports"] == [{"name": "p", "port": 8080, "protocol": "TCP"}]
    slices = slices_for(SVC, subsets)
    assert [e["conditions"]["ready"] for e in slices[0]["endpoints"]] == [True, False]


def test_undeclared_port_name_is_reported() -> None:
    svc = {**SVC, "spec": {**SVC["spec"], "ports": [{"port": 80, "targetPort": "metrics"}]}}
    subsets, missing = plan(svc, [pod("x", "127.244.0.2")])
    assert subsets == [] and missing == ["metrics"]


def test_hostname_for_subdomain_and_publish_not_ready() -> None:
    svc = {**SVC, "spec": {**SVC["spec"], "publishNotReadyAddresses": True}}
    subsets, _ = plan(svc, [pod("web-0", "127.244.0.9", False, hostname="web-0",
                                subdomain="web")])
    assert subsets[0]["addresses"][0]["hostname"] == "web-0"


def test_listeners_and_backends() -> None:
    svc = {"metadata": {"name": "s", "namespace": "ns"},
           "spec": {"type": "LoadBalancer", "clusterIP": "127.96.0.7",
                    "ports": [{"name": "web", "port": 80, "nodePort": 30001}]}}
    addrs = set(desired_listeners(svc))
    assert addrs == {("127.96.0.7", 80), ("127.96.0.7", 40080), ("127.0.0.1", 30001),
                     ("127.0.0.1", 80)}
    ep = {"subsets": [{"addresses": [{"ip": "127.244.0.2"}, {"ip": "127.244.0.3"}],
                       "ports": [{"name": "web", "port": 8080}]}]}
    assert backends_of(ep, PortRef("ns", "s", "web", 80)) == [("127.244.0.2", 8080),
                                                              ("127.244.0.3", 8080)]


def test_round_robin_and_client_ip_affinity() -> None:
    bal = Balancer(backends=[("a", 1), ("b", 1), ("c", 1)])
    assert [bal.order("x", 0)[0] for _ in range(6)] == [("a", 1), ("b", 1), ("c", 1)] * 2
    bal.affinity_timeout = 10
    first = bal.order("client", 0)[0]
    assert all(bal.order("client", t)[0] == first for t in range(1, 9))
    assert bal.order("client", 100)[0] != first or len(bal.backends) == 1
