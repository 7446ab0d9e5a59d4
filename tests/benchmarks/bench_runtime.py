"""Pods on the process runtime: from `kubectl apply` of a 10-replica Deployment
(`python -m http.server`) to all pods Ready, beside the floor measured in the same run: the
same 10 processes started directly with `subprocess`, each polled until it answers HTTP.
Also pods/s through scheduling + binding on 1,000 nodes (bench_scheduler_live.py's run).

    .venv/bin/python tests/benchmarks/bench_runtime.py [--replicas 10] [--runs 3]
    .venv/bin/pytest -s -m bench tests/benchmarks/bench_runtime.py

The control plane runs in this process's other threads (as in `daskhub-lite up`), with its
local process node; each pod is a shim plus `python -m http.server 8000` on its own pod IP.
Two Deployment figures: "answering" is when every pod's IP answers HTTP (comparable to the
floor), "Ready" is when every pod's Ready condition is True, which the readiness probe
(httpGet, periodSeconds 1) adds to. Medians over the runs; printed, never asserted.

The 1,000-node figure is bench_scheduler_live's measurement (Node objects with no kubelet
behind them, the live scheduler binding through `pods/binding`, beside a bare-binding ceiling
in the same run), called with 1,000 nodes rather than duplicated here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from orchestrator import ControlPlane  # noqa: E402
from orchestrator.api.workloads import pod_is_ready  # noqa: E402
from orchestrator.client import Client  # noqa: E402
from tests.benchmarks import bench_scheduler_live  # noqa: E402

KUBECTL = str(Path(sys.executable).parent / "kubectl")
COMMAND = "python tests/benchmarks/bench_runtime.py --replicas {replicas} --runs {runs}"


def manifest(name: str, replicas: int) -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: python
        command: [python, -m, http.server, "8000"]
        ports: [{{name: http, containerPort: 8000}}]
        readinessProbe:
          httpGet: {{path: /, port: http}}
          periodSeconds: 1
"""


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def direct(replicas: int, base_port: int) -> float:
    """Seconds to start `replicas` http.server processes and have each answer HTTP."""
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "http.server", str(base_port + i),
                               "--bind", "127.0.0.1"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, cwd=tempfile.gettempdir())
             for i in range(replicas)]
    try:
        pending = {f"http://127.0.0.1:{base_port + i}/" for i in range(replicas)}
        while pending:
            pending = {url for url in pending if not answers(url)}
            if pending:
                time.sleep(0.01)
        return time.perf_counter() - start
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)


async def deployment(cp: ControlPlane, name: str, replicas: int,
                     env: dict[str, str]) -> tuple[float, float]:
    """(seconds to all pods answering HTTP, seconds to all pods Ready) from `kubectl apply`."""
    async with Client.from_kubeconfig(cp.kubeconfig) as client:
        pods = client.resource("v1", "Pod")
        start = time.perf_counter()
        subprocess.run([KUBECTL, "--kubeconfig", cp.kubeconfig, "apply", "-f", "-"],
                       input=manifest(name, replicas), text=True, check=True,
                       capture_output=True, env=env)
        answering = ready = 0.0
        loop = asyncio.get_running_loop()
        while not ready:
            items, _ = await client.list(pods, "default", label_selector=f"app={name}")
            live = [p for p in items if not p["metadata"].get("deletionTimestamp")]
            if not answering:
                ips = [(p.get("status") or {}).get("podIP") for p in live]
                if len(ips) == replicas and all(ips):
                    ok = await asyncio.gather(*(loop.run_in_executor(
                        None, answers, f"http://{ip}:8000/") for ip in ips))
                    if all(ok):
                        answering = time.perf_counter() - start
            if len(live) == replicas and all(pod_is_ready(p) for p in live):
                ready = time.perf_counter() - start
                answering = answering or ready
            await asyncio.sleep(0.02)
        await client.delete(client.resource("apps/v1", "Deployment"), name, "default")
        while (await client.list(pods, "default", label_selector=f"app={name}"))[0]:
            await asyncio.sleep(0.1)  # the next run starts on an idle node
    return answering, ready


def run_pods(replicas: int, runs: int) -> dict[str, float]:
    direct_runs: list[float] = []
    deploy_runs: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-runtime-") as tmp:
        env = {**os.environ, "HOME": tmp}
        with ControlPlane(data_dir=Path(tmp) / "cp") as cp:
            asyncio.run(deployment(cp, "warm", replicas, env))  # imports, TLS, caches
            for i in range(runs):
                direct_runs.append(direct(replicas, 18700 + 100 * i))
                deploy_runs.append(asyncio.run(deployment(cp, f"bench-{i}", replicas, env)))
    median = statistics.median
    return {"direct subprocess, all answering HTTP": median(direct_runs),
            "Deployment, all pods answering HTTP": median(r[0] for r in deploy_runs),
            "Deployment, all pods Ready": median(r[1] for r in deploy_runs)}


def report(replicas: int, runs: int, figures: dict[str, Any]) -> str:
    lines = [f"{replicas} x `python -m http.server`, from start (kubectl apply) to serving, "
             f"median of {runs} runs:"]
    for label, seconds in figures.items():
        lines.append(f"  {label:42s} {seconds:7.3f} s")
    lines.append("  command: " + COMMAND.format(replicas=replicas, runs=runs))
    return "\n".join(lines)


@pytest.mark.bench
def test_deployment_to_ready() -> None:
    replicas = int(os.environ.get("BENCH_REPLICAS", "10"))
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    print()
    print(report(replicas, runs, run_pods(replicas, runs)))


@pytest.mark.bench
def test_scheduling_on_1000_nodes() -> None:
    print()
    print(bench_scheduler_live.run(1000, int(os.environ.get("BENCH_PODS", "2000"))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--pods", type=int, default=2000)
    args = parser.parse_args()
    print(report(args.replicas, args.runs, run_pods(args.replicas, args.runs)))
    print(bench_scheduler_live.run(args.nodes, args.pods))


if __name__ == "__main__":
    main()
