"""The daskhub-lite ingress controller on a live control plane."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Iterator

import aiohttp
import pytest

from orchestrator import ControlPlane
from tests.conftest import Kubectl
from tests.e2e.network_harness import NetworkHarness, http_get, http_json, poll
from tests.tenants import make_tenant


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetworkHarness]:
    # No nodes or scheduler: the harness plays the runtime (see network_harness.py).
    with ControlPlane(data_dir=tmp_path_factory.mktemp("cp"), components=()) as cp:
        harness = NetworkHarness(cp, ingress_port=0).start()
        try:
            for name in ("svc-a", "svc-b"):
                harness.run_app_pod(f"{name}-0", {"app": name}, name, 8080)
                harness.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                               "spec": {"selector": {"app": name},
                                        "ports": [{"name": "web", "port": 80,
                                                   "targetPort": "http"}]}})
            yield harness
        finally:
            harness.stop()


def ingress(name: str, rules: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name}, "spec": {"rules": rules, **spec}}


def path(p: str, svc: str, ptype: str = "Prefix") -> dict[str, Any]:
    return {"path": p, "pathType": ptype,
            "backend": {"service": {"name": svc, "port": {"name": "web"}}}}


def test_routes_paths_to_two_services_and_reports_status(net: NetworkHarness) -> None:
    net.apply(ingress("ab", [{"http": {"paths": [path("/a", "svc-a"), path("/b", "svc-b")]}}]))
    base = f"http://127.0.0.1:{net.ingress.port}"
    assert poll(lambda: http_json(f"{base}/a/x")["answer"]) == "svc-a"
    assert http_json(f"{base}/b")["answer"] == "svc-b"
    with pytest.raises(Exception, match="404"):
        http_get(f"{base}/ab")  # Prefix matches whole path elements only
    who = http_json(f"{base}/a/who", headers={"Host": "example.test"})
    assert who["forwarded_for"] and who["forwarded_host"] == "example.test"
    ing = net.call(net.client.get(net.client.resource("networking.k8s.io/v1", "Ingress"), "ab",
                                  "default"))
    poll(lambda: net.call(net.client.get(net.client.resource("networking.k8s.io/v1", "Ingress"),
                                         "ab", "default")).get("status", {}).get("loadBalancer"))
    ing = net.call(net.client.get(net.client.resource("networking.k8s.io/v1", "Ingress"), "ab",
                                  "default"))
    lb = ing["status"]["loadBalancer"]["ingress"][0]
    assert lb["ip"] == "127.0.0.1" and lb["ports"][0]["port"] == net.ingress.port
    classes = net.call(net.client.get(net.client.resource("networking.k8s.io/v1",
                                                          "IngressClass"), "daskhub-lite"))
    assert classes["metadata"]["annotations"][
        "ingressclass.kubernetes.io/is-default-class"] == "true"


def test_websocket_and_streaming_through_ingress(net: NetworkHarness) -> None:
    net.apply(ingress("wsapp", [{"host": "ws.test", "http": {"paths": [path("/", "svc-b")]}}]))
    base = f"http://127.0.0.1:{net.ingress.port}"
    poll(lambda: http_get(f"{base}/", headers={"Host": "ws.test"}) == "svc-b")

    async def talk() -> tuple[list[str], list[float]]:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(f"{base}/ws", headers={"Host": "ws.test"}) as ws:
                got = []
                for word in ("hello", "world"):
                    await ws.send_str(word)
                    got.append((await ws.receive()).data)
            arrivals = []
            started = time.monotonic()
            async with s.get(f"{base}/stream?n=3&delay=0.3", headers={"Host": "ws.test"}) as r:
                async for _ in r.content:
                    arrivals.append(time.monotonic() - started)
            return got, arrivals

    got, arrivals = asyncio.run(talk())
    assert got == ["svc-b:hello", "svc-b:world"]
    assert arrivals[0] < 0.25 and arrivals[-1] > 0.5  # chunks arrive as sent, not at the end


def test_conflicting_host_path_older_wins_newer_gets_event(net: NetworkHarness) -> None:
    net.apply(ingress("first", [{"host": "c.test", "http": {"paths": [path("/", "svc-a")]}}]))
    time.sleep(1.1)  # creation timestamps have one-second resolution
    net.apply(ingress("second", [{"host": "c.test", "http": {"paths": [path("/", "svc-b")]}}]))
    base = f"http://127.0.0.1:{net.ingress.port}"

    def events() -> Any:
        items, _ = net.call(net.client.list(net.client.resource("v1", "Event"), "default"))
        return [e for e in items if e["involvedObject"]["name"] == "second"
                and e["reason"] == "HostPathConflict"]

    assert "first" in poll(events)[0]["message"]
    assert http_get(f"{base}/", headers={"Host": "c.test"}) == "svc-a"


def test_a_tenant_ingress_cannot_take_the_hubs_login_page(
        net: NetworkHarness, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The attack: a user's Ingress for `/hub/login` (longer than the hub's path) or for the
    hub's host by name (host rules beat rules without a host) captured the admin's password."""
    net.apply(ingress("hub", [{"http": {"paths": [path("/", "svc-a"), path("/hub", "svc-a"),
                                                  path("/user", "svc-a")]}}]))
    admin = Kubectl(net.cp, tmp_path_factory.mktemp("kubectl-cache"))  # type: ignore[arg-type]
    bob = make_tenant(net.cp, admin, "bob", tmp_path_factory.mktemp("bob"))
    net.run_app_pod("phish-0", {"app": "phish"}, "phish", 8080, namespace="bob")
    time.sleep(1.1)  # creation timestamps have one-second resolution: bob's are newer
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "phish"},
               "spec": {"selector": {"app": "phish"},
                        "ports": [{"name": "web", "port": 80, "targetPort": "http"}]}}
    login = ingress("login", [{"http": {"paths": [path("/hub/login", "phish", "Exact")]}},
                              {"host": "127.0.0.1", "http": {"paths": [
                                  path("/", "phish"), path("/blog", "phish")]}}])
    bob.kubectl.run("apply", "-n", "bob", "-f", "-",
                    input="\n---\n".join(json.dumps(o) for o in (service, login)))
    base = f"http://127.0.0.1:{net.ingress.port}"

    def conflicts() -> Any:
        items, _ = net.call(net.client.list(net.client.resource("v1", "Event"), "bob"))
        found = [e["message"] for e in items if e["involvedObject"]["name"] == "login"
                 and e["reason"] == "HostPathConflict"]
        return found if len(found) == 2 else None

    assert all("default/hub" in message for message in poll(conflicts))
    answer = lambda url, **kw: http_json(url, **kw)["answer"]  # noqa: E731
    poll(lambda: answer(f"{base}/blog") == "phish")  # bob's own, unclaimed path works
    assert answer(f"{base}/hub/login") == "svc-a"
    assert answer(f"{base}/hub/login", headers={"Host": "127.0.0.1"}) == "svc-a"
    assert http_get(f"{base}/", headers={"Host": "127.0.0.1"}) == "svc-a"


def test_default_backend_and_missing_endpoints(net: NetworkHarness) -> None:
    net.apply(ingress("zz-default", [], defaultBackend={
        "service": {"name": "svc-a", "port": {"number": 80}}}))
    base = f"http://127.0.0.1:{net.ingress.port}"
    assert poll(lambda: http_json(f"{base}/nowhere", headers={"Host": "other.test"})
                )["answer"] == "svc-a"
    net.apply(ingress("empty", [{"host": "empty.test", "http": {"paths": [
        path("/", "missing")]}}]))
    with pytest.raises(Exception, match="503"):
        poll(lambda: http_get(f"{base}/", headers={"Host": "empty.test"}) and False, timeout=2)
        http_get(f"{base}/", headers={"Host": "empty.test"})
