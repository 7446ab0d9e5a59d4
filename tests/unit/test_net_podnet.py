"""Pod IPs, the pod start-up hook and the service environment."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orchestrator.network import HOOK_DIR, IPAllocator, PodNetwork
from orchestrator.network.hook import daskhub_netpatch
from orchestrator.network.podnet import service_env
from orchestrator.planeranges import SLOTS, ranges_of
from orchestrator.server import allocation


def test_allocator_next_fit_release_and_restart() -> None:
    alloc = IPAllocator()
    a, b = alloc.allocate("a"), alloc.allocate("b")
    assert a == "127.244.0.2" and b == "127.244.0.3" and alloc.allocate("a") == a
    alloc.release("a")
    assert alloc.allocate("c") == "127.244.0.4"  # not reused at once
    assert alloc.allocate("d", wanted="127.244.0.2") == "127.244.0.2"  # re-taken on restart
    assert alloc.allocate("e", wanted=b) != b


def test_service_cidr_agrees_with_hook() -> None:
    assert allocation.SERVICE_CIDR == ranges_of(0).service_cidr
    octets = [int(str(ranges_of(k).service_cidr).split(".")[1]) for k in range(SLOTS)]
    assert octets == list(daskhub_netpatch.SERVICE_OCTETS)  # every plane's, no more
    assert daskhub_netpatch.is_service_ip("127.96.0.5") and daskhub_netpatch.is_service_ip(
        "127.106.3.4") and not daskhub_netpatch.is_service_ip("127.244.0.5")
    assert daskhub_netpatch.service_port("127.97.0.9", 80) == 40080
    assert daskhub_netpatch.service_port("127.107.0.9", 80) == 80


def test_service_env() -> None:
    env = service_env([{"metadata": {"name": "my-sched"}, "spec": {
        "clusterIP": "127.96.0.5", "ports": [{"name": "tcp-comm", "port": 8786}]}}])
    assert env["MY_SCHED_SERVICE_HOST"] == "127.96.0.5"
    assert env["MY_SCHED_SERVICE_PORT"] == "8786"
    assert env["MY_SCHED_SERVICE_PORT_TCP_COMM"] == "8786"
    assert env["MY_SCHED_PORT_8786_TCP"] == "tcp://127.96.0.5:8786"


SERVER = textwrap.dedent("""
    import socket, sys
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 28786)); s.listen()
    infos = socket.getaddrinfo(None, 28786, 0, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    print(s.getsockname()[0], sorted({i[4][0] for i in infos}), flush=True)
    c, addr = s.accept(); c.sendall(sys.argv[1].encode()); c.recv(1); c.close()
""")


def pod_env(ip: str, extra_path: str = "") -> dict[str, str]:
    path = os.pathsep.join(p for p in (HOOK_DIR, extra_path) if p)
    return {**os.environ, "DASKHUB_LITE_POD_IP": ip, "PYTHONPATH": path}


def test_two_pods_bind_the_same_port() -> None:
    procs = [subprocess.Popen([sys.executable, "-c", SERVER, name], env=pod_env(ip),
                              stdout=subprocess.PIPE, text=True)
             for name, ip in (("one", "127.244.9.1"), ("two", "127.244.9.2"))]
    try:
        lines = [p.stdout.readline().split(" ", 1) for p in procs]  # type: ignore[union-attr]
        assert lines[0] == ["127.244.9.1", "['127.244.9.1']\n"]
        assert lines[1][0] == "127.244.9.2"
        import socket

        for ip, name in (("127.244.9.1", b"one"), ("127.244.9.2", b"two")):
            with socket.create_connection((ip, 28786), timeout=5) as s:
                assert s.recv(10) == name
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_hook_chains_to_the_next_sitecustomize(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text("import os\nos.environ['CHAINED'] = 'yes'\n")
    out = subprocess.run(
        [sys.executable, "-c", "import os, socket; print(os.environ.get('CHAINED'), "
         "socket.socket.bind.__name__)"],
        env=pod_env("127.244.9.3", str(tmp_path)), capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["yes", "_bind"]


def test_hook_start_up_cost_is_small() -> None:
    import time

    def run(env: dict[str, str]) -> float:
        best = 10.0
        for _ in range(5):
            t = time.perf_counter()
            # Baseline imports socket too: every program the hook matters for does.
            subprocess.run([sys.executable, "-c", "import socket, typing"], env=env,
                           check=True)
            best = min(best, time.perf_counter() - t)
        return best

    plain = run({**os.environ})
    hooked = run(pod_env("127.244.9.4"))
    assert hooked - plain < 0.03, (plain, hooked)


def test_pod_network_fallback_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASKHUB_LITE_POD_NETWORK", "host")
    pn = PodNetwork(None)
    att = pn.attach({"metadata": {"name": "p", "namespace": "ns", "uid": "1"}})
    assert att.ip == "127.0.0.1" and att.pythonpath == [HOOK_DIR]
    assert att.env["DASKHUB_LITE_POD_NAMESPACE"] == "ns"
