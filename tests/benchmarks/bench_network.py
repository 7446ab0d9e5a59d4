"""Pod network figures: request rate and p99 latency through a ClusterIP Service and through
the Ingress beside direct connections to the pod, and a 100 MB transfer through the Service
beside direct, all in one run.

    .venv/bin/pytest -s -m bench tests/benchmarks/bench_network.py
    .venv/bin/python tests/benchmarks/bench_network.py

The whole control plane runs in this process's other thread (as in `daskhub-lite up`); the
pod is a Deployment's pod, started by the process runtime. Figures are printed, never
asserted.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from orchestrator import ControlPlane  # noqa: E402
from tests.conftest import Kubectl  # noqa: E402
from tests.e2e.network_harness import NETAPP, http_get, poll  # noqa: E402

OPS = int(os.environ.get("BENCH_OPS", "2000"))
CONCURRENCY = 16
MB = int(os.environ.get("BENCH_MB", "100"))


async def load(url: str, headers: dict[str, str] | None = None) -> tuple[float, float]:
    """(requests per second, p99 latency in ms) over `OPS` GETs, keep-alive, 16 at a time."""
    latencies: list[float] = []
    async with aiohttp.ClientSession(headers=headers,
                                     connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as s:
        async def worker(n: int) -> None:
            for _ in range(n):
                t = time.perf_counter()
                async with s.get(url) as r:
                    await r.read()
                latencies.append(time.perf_counter() - t)

        started = time.perf_counter()
        await asyncio.gather(*(worker(OPS // CONCURRENCY) for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return len(latencies) / elapsed, latencies[int(len(latencies) * 0.99)] * 1000


def transfer(host: str, port: int) -> float:
    """MB/s for GET /big?mb=MB over one raw connection."""
    with socket.create_connection((host, port)) as s:
        s.sendall(f"GET /big?mb={MB} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        started = time.perf_counter()
        got = 0
        while chunk := s.recv(1 << 20):
            got += len(chunk)
        elapsed = time.perf_counter() - started
    assert got >= MB << 20
    return got / (1 << 20) / elapsed


MANIFESTS = [
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bench"},
     "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "bench"}},
              "template": {"metadata": {"labels": {"app": "bench"}}, "spec": {"containers": [{
                  "name": "app", "image": "python:3.11",
                  "command": [sys.executable, NETAPP, "ok", "8080"],
                  "ports": [{"name": "http", "containerPort": 8080}],
                  "readinessProbe": {"httpGet": {"path": "/", "port": "http"},
                                     "periodSeconds": 1}}]}}}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bench"},
     "spec": {"selector": {"app": "bench"}, "ports": [{"port": 80, "targetPort": "http"}]}},
    {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "bench"},
     "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
         "service": {"name": "bench", "port": {"number": 80}}}}]}}]}},
]


def run() -> None:
    data_dir = Path(tempfile.mkdtemp())
    with ControlPlane(data_dir=data_dir / "cp") as cp:
        kubectl = Kubectl(cp, data_dir / "kubectl")
        kubectl.run("apply", "-f", "-", input="\n---\n".join(json.dumps(m) for m in MANIFESTS))
        kubectl.run("rollout", "status", "deployment/bench", "--timeout=60s", timeout=70)
        pod_ip = kubectl.json("get", "pods", "-l", "app=bench")["items"][0]["status"]["podIP"]
        cip = kubectl.json("get", "service", "bench")["spec"]["clusterIP"]
        ing = poll(lambda: kubectl.json("get", "ingress", "bench")["status"]["loadBalancer"][
            "ingress"][0]["ports"][0]["port"])
        ingress = f"http://127.0.0.1:{ing}/"
        poll(lambda: http_get(f"http://{cip}:80/") == "ok")
        poll(lambda: http_get(ingress) == "ok")
        print(f"\npod network benchmark: {OPS} GETs, {CONCURRENCY} concurrent, keep-alive")
        for label, url in (("direct to pod", f"http://{pod_ip}:8080/"),
                           ("ClusterIP Service", f"http://{cip}:80/"),
                           ("Ingress", ingress)):
            rate, p99 = asyncio.run(load(url))
            print(f"  {label:<18} {rate:8.0f} req/s   p99 {p99:6.2f} ms")
        print(f"{MB} MB transfer, one connection:")
        for label, host, port in (("direct to pod", pod_ip, 8080),
                                  ("ClusterIP Service", cip, 80)):
            print(f"  {label:<18} {transfer(host, port):8.0f} MB/s")


@pytest.mark.bench
def test_network_benchmark() -> None:
    run()


if __name__ == "__main__":
    run()
