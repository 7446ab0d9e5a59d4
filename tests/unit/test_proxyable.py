"""Which addresses the API server proxies to (pure)."""

from __future__ import annotations

import pytest

from orchestrator.api import errors
from orchestrator.network import POD_CIDR, IPAllocator
from orchestrator.server import allocation
from orchestrator.server.proxyable import check_proxyable, endpoint_is_pod_address, proxyable


def test_pod_range_agrees_with_the_pod_network() -> None:
    assert allocation.POD_CIDR == POD_CIDR
    alloc = IPAllocator()
    first = alloc.allocate("a")
    assert proxyable(first)
    assert all(proxyable(h) for h in alloc._hosts[:3] + alloc._hosts[-3:])


@pytest.mark.parametrize("ip", [
    "127.0.0.1", "127.0.1.1", "127.1.2.3", "127.96.0.1",  # the host, Service VIPs
    "127.244.0.0", "127.244.0.1", "127.244.255.255",      # pod range: network, probe, broadcast
    "169.254.169.254", "169.254.0.1", "::1", "fe80::1", "::ffff:127.0.0.1",
    "0.0.0.0", "::", "224.0.0.1", "255.255.255.255", "ff02::1", "localhost", "", "10.0.0.300",
])
def test_refused(ip: str) -> None:
    assert not proxyable(ip)
    with pytest.raises(errors.BadRequest, match="^address not allowed$"):
        check_proxyable(ip)


@pytest.mark.parametrize("ip", ["127.244.0.2", "127.244.17.9", "127.244.255.254",
                                "10.244.1.5", "192.168.3.4", "2001:db8::5"])
def test_allowed(ip: str) -> None:
    assert proxyable(ip) and check_proxyable(ip) == ip


def test_an_endpoint_must_be_its_pods_address() -> None:
    pod = {"metadata": {"name": "web-0"}, "status": {"podIP": "127.244.0.9",
                                                      "podIPs": [{"ip": "127.244.0.9"}]}}
    pods = {"web-0": pod}
    ref = {"kind": "Pod", "name": "web-0", "namespace": "ns"}
    assert endpoint_is_pod_address({"ip": "127.244.0.9", "targetRef": ref}, "ns", pods.get)
    assert not endpoint_is_pod_address({"ip": "127.244.0.8", "targetRef": ref}, "ns", pods.get)
    assert not endpoint_is_pod_address({"ip": "127.244.0.9"}, "ns", pods.get)
    assert not endpoint_is_pod_address(
        {"ip": "127.244.0.9", "targetRef": {**ref, "namespace": "other"}}, "ns", pods.get)
    assert not endpoint_is_pod_address(
        {"ip": "127.244.0.9", "targetRef": {**ref, "name": "gone"}}, "ns", pods.get)


def test_each_plane_proxies_to_its_own_pod_range_only() -> None:
    from orchestrator.planeranges import ranges_of
    second = ranges_of(1).pod_cidr
    assert proxyable("127.245.0.2", second) and not proxyable("127.244.0.2", second)
    assert not proxyable("127.245.0.2") and not proxyable("127.245.0.1", second)
