"""API server throughput and watch latency, beside a bare aiohttp ceiling in the same run.

    make bench            # or: .venv/bin/pytest -s -m bench tests/benchmarks/bench_apiserver.py
    .venv/bin/python tests/benchmarks/bench_apiserver.py   # the same, without pytest

Both servers run in their own process over the same TLS, so the load generator (this
process) does not share a core's GIL with either. Figures are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import yaml

HERE = Path(__file__).resolve().parent
OPS = int(os.environ.get("BENCH_OPS", "2000"))
WATCHERS = 50
WATCH_WRITES = 200


@dataclass
class Target:
    name: str
    url: str
    headers: dict[str, str]
    ssl: ssl.SSLContext
    proc: subprocess.Popen[bytes]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, ctx: ssl.SSLContext, timeout: float = 30) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/readyz", context=ctx, timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not become ready")


def start_targets(tmp: Path) -> list[Target]:
    port = _free_port()
    # The API server alone: no nodes, scheduler or controllers reacting to the load.
    ours = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "up", "--foreground",
                             "--data-dir", str(tmp), "--port", str(port),
                             "--components", "none"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctx = ssl.create_default_context()
    deadline = time.monotonic() + 30
    while not (tmp / "kubeconfig").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    ctx.load_verify_locations(str(tmp / "pki" / "ca.crt"))
    url = f"https://127.0.0.1:{port}"
    _wait_ready(url, ctx)
    token = yaml.safe_load((tmp / "kubeconfig").read_text())["users"][0]["user"]["token"]
    cport = _free_port()
    ceiling = subprocess.Popen([sys.executable, str(HERE / "apiserver_ceiling.py"), str(cport),
                                str(tmp / "pki" / "server.crt"), str(tmp / "pki" / "server.key")],
                               stdout=subprocess.DEVNULL)
    curl = f"https://127.0.0.1:{cport}"
    _wait_ready(curl, ctx)
    auth = {"Authorization": f"Bearer {token}"}
    return [Target("daskhub-lite", url, auth, ctx, ours),
            Target("bare aiohttp (ceiling)", curl, auth, ctx, ceiling)]


async def _run_ops(t: Target, concurrency: int, make_request: object, count: int) -> float:
    connector = aiohttp.TCPConnector(limit=concurrency, ssl=t.ssl)
    async with aiohttp.ClientSession(t.url, headers=t.headers, connector=connector) as s:
        counter = iter(range(count))

        async def worker() -> None:
            for i in counter:
                async with make_request(s, i) as resp:  # type: ignore[operator]
                    await resp.read()
                    if resp.status >= 400:
                        raise RuntimeError(f"{t.name}: HTTP {resp.status}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return count / (time.perf_counter() - started)


CM = "/api/v1/namespaces/default/configmaps"
LISTED = "/api/v1/namespaces/bench-list/configmaps"


async def throughput(t: Target, concurrency: int, tag: str) -> dict[str, float]:
    def create(s: aiohttp.ClientSession, i: int) -> object:
        return s.post(CM, json={"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": f"{tag}-{i}"}, "data": {"k": "v"}})

    def get(s: aiohttp.ClientSession, i: int) -> object:
        return s.get(f"{CM}/{tag}-{i % 100}")

    def list_100(s: aiohttp.ClientSession, i: int) -> object:
        if "daskhub" in t.name:
            return s.get(LISTED)  # a namespace holding exactly 100 ConfigMaps
        return s.get(CM, params={"n": "100"})

    return {
        "create/s": await _run_ops(t, concurrency, create, OPS),
        "get/s": await _run_ops(t, concurrency, get, OPS),
        "list(100)/s": await _run_ops(t, concurrency, list_100, OPS // 10),
    }


async def seed_list(t: Target) -> None:
    async with aiohttp.ClientSession(t.url, headers=t.headers,
                                     connector=aiohttp.TCPConnector(ssl=t.ssl)) as s:
        async with s.post("/api/v1/namespaces",
                          json={"metadata": {"name": "bench-list"}}) as r:
            await r.read()
        for i in range(100):
            async with s.post(LISTED, json={"metadata": {"name": f"listed-{i}"},
                                            "data": {"k": "v"}}) as r:
                await r.read()


async def watch_latency(t: Target) -> tuple[float, float]:
    sent: dict[str, float] = {}
    latencies: list[float] = []
    ready = asyncio.Event()
    opened = 0
    connector = aiohttp.TCPConnector(limit=WATCHERS + 2, ssl=t.ssl)
    async with aiohttp.ClientSession(t.url, headers=t.headers, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=None)) as s:
        async with s.get(CM) as r:
            rv = (await r.json())["metadata"]["resourceVersion"]

        async def watcher() -> None:
            nonlocal opened
            got = 0
            async with s.get(CM, params={"watch": "1", "resourceVersion": rv}) as resp:
                opened += 1
                if opened == WATCHERS:
                    ready.set()
                async for line in resp.content:
                    ev = json.loads(line)
                    name = ev["object"]["metadata"]["name"]
                    if name.startswith("lat-"):
                        latencies.append(time.perf_counter() - sent[name])
                        got += 1
                        if got == WATCH_WRITES:
                            return

        tasks = [asyncio.create_task(watcher()) for _ in range(WATCHERS)]
        await asyncio.wait_for(ready.wait(), 30)
        await asyncio.sleep(0.2)
        for i in range(WATCH_WRITES):
            name = f"lat-{i}"
            sent[name] = time.perf_counter()
            async with s.post(CM, json={"apiVersion": "v1", "kind": "ConfigMap",
                                        "metadata": {"name": name}}) as r:
                await r.read()
            await asyncio.sleep(0.005)
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    return p50 * 1000, p99 * 1000


def run() -> str:
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        targets = start_targets(Path(tmp))
        try:
            asyncio.run(seed_list(targets[0]))
            results: dict[str, dict[str, float]] = {}
            for t in targets:
                for c in (1, 8):
                    for k, v in asyncio.run(throughput(t, c, f"c{c}")).items():
                        results.setdefault(f"{k} x{c} clients", {})[t.name] = v
                p50, p99 = asyncio.run(watch_latency(t))
                results.setdefault(f"watch p50 ms ({WATCHERS} watchers)", {})[t.name] = p50
                results.setdefault(f"watch p99 ms ({WATCHERS} watchers)", {})[t.name] = p99
        finally:
            for t in targets:
                t.proc.terminate()
                t.proc.wait()
    names = [t.name for t in targets]
    lines.append(f"{'figure':34} {names[0]:>14} {names[1]:>24} {'ratio':>7}")
    for figure, row in results.items():
        a, b = row[names[0]], row[names[1]]
        lines.append(f"{figure:34} {a:14.1f} {b:24.1f} {a / b:7.2f}")
    return "\n".join(lines)


@pytest.mark.bench
def test_apiserver_benchmark() -> None:
    print("\n" + run())


if __name__ == "__main__":
    print(run())
