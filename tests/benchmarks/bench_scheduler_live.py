"""Live scheduling throughput through the API: pods/s from create to bound on 5,000 nodes
with GPU requests, beside a baseline measured in the same run.

    .venv/bin/python tests/benchmarks/bench_scheduler_live.py [--nodes 5000] [--pods 5000]
    .venv/bin/pytest -s -m bench tests/benchmarks/bench_scheduler_live.py

Each setup gets a fresh control plane in its own process with 5,000 Node objects registered
through the API (8 A100s, 64 cores, 512Gi each; a scheduler only needs Node objects, as in
kube-scheduler's scheduler_perf). This process creates the pods (70% one GPU, 20% a 500-milli
GPU share, 10% two GPUs) with 64 requests in flight and watches until every one is bound:

- "scheduler process": the API server with the same GPU scheduler run as its own process,
  `daskhub-lite scheduler --kubeconfig ... --scheduler-name default-scheduler` (leader
  election on): how kube-scheduler runs beside kube-apiserver, and how ours runs as a
  secondary scheduler on a real cluster. Each side gets its own core.
- "embedded": `ControlPlane(components=("scheduler",))`, the scheduler in the API server's
  process and event loop (what `daskhub-lite up` and the tests run).
- baseline, "client binds": the API server with no scheduler; this process binds each pod
  itself through `pods/binding` right after creating it (round-robin nodes, no decision).

Figures are printed, never asserted. For reference, kube-scheduler's CI floor at 5,000 nodes
(scheduler_perf thresholds): 680 pods/s for basic pods, 180 pods/s with extended resources.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from orchestrator.api.kinds import BUILTIN_TYPES  # noqa: E402
from orchestrator.client import Client  # noqa: E402

PODS = next(rt for rt in BUILTIN_TYPES if rt.group == "" and rt.plural == "pods")
NODES = next(rt for rt in BUILTIN_TYPES if rt.group == "" and rt.plural == "nodes")
CONCURRENCY = 64
KUBE_FLOOR = {"basic pods": 680, "extended resources": 180}
COMMAND = "python tests/benchmarks/bench_scheduler_live.py --nodes {nodes} --pods {pods}"


def node(i: int) -> dict[str, Any]:
    capacity = {"cpu": "64", "memory": "512Gi", "pods": "110", "nvidia.com/gpu": "8"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": f"node-{i:05d}",
                         "labels": {"kubernetes.io/hostname": f"node-{i:05d}",
                                    "nvidia.com/gpu.product": "A100-SXM4-80GB"}},
            "spec": {"taints": [{"key": "nvidia.com/gpu", "value": "present",
                                 "effect": "NoSchedule"}]},
            "status": {"capacity": capacity, "allocatable": capacity,
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def pod(i: int, prefix: str = "p") -> dict[str, Any]:
    kind = i % 10
    requests = {"cpu": "1", "memory": "2Gi"}
    if kind < 7:
        requests["nvidia.com/gpu"] = "1"
    elif kind < 9:
        requests["daskhub-lite.io/gpu-milli"] = "500"
    else:
        requests["nvidia.com/gpu"] = "2"
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{prefix}-{i:06d}", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "x", "command": ["sleep", "1"],
                                     "resources": {"requests": requests, "limits": requests}}]}}


# -- server side ---------------------------------------------------------------------------

def serve(data_dir: str, with_scheduler: bool) -> None:
    """Run a control plane until stdin closes; print its kubeconfig path first."""
    from orchestrator import ControlPlane

    components = ("scheduler",) if with_scheduler else ()
    profile = os.environ.get("BENCH_PROFILE")  # a file: cProfile the control plane's thread
    if profile:
        import cProfile
        import threading

        profiler = cProfile.Profile()
        threading.setprofile(lambda *a: None)
        original = ControlPlane._run

        def profiled(self: Any) -> None:
            profiler.runcall(original, self)

        ControlPlane._run = profiled  # type: ignore[method-assign]
    with ControlPlane(data_dir=data_dir, components=components, watch_history=200_000) as cp:
        print(cp.kubeconfig, flush=True)
        sys.stdin.read()
    if profile:
        profiler.dump_stats(profile)


class Server:
    """A control plane in its own process; `scheduler` is "embedded", "process" or None."""

    def __init__(self, scheduler: str | None) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="bench-sched-")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", self.tmp.name]
            + ([] if scheduler == "embedded" else ["--no-scheduler"]),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.proc.stdout is not None
        self.kubeconfig = self.proc.stdout.readline().strip()
        if not self.kubeconfig:
            raise RuntimeError("control plane did not start")
        self.scheduler: subprocess.Popen[bytes] | None = None
        if scheduler == "process":
            self.scheduler = subprocess.Popen(
                [sys.executable, "-m", "daskhub_lite.cli", "scheduler",
                 "--kubeconfig", self.kubeconfig, "--scheduler-name", "default-scheduler"],
                cwd=ROOT)

    def close(self) -> None:
        if self.scheduler is not None:
            self.scheduler.terminate()
            self.scheduler.wait(timeout=60)
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.tmp.cleanup()


# -- load side -----------------------------------------------------------------------------

async def _bounded(count: int, work: Any) -> None:
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with sem:
            await work(i)

    await asyncio.gather(*(one(i) for i in range(count)))


async def register_nodes(client: Client, count: int) -> list[str]:
    await _bounded(count, lambda i: client.create(NODES, node(i)))
    return [f"node-{i:05d}" for i in range(count)]


async def create_and_wait_bound(client: Client, count: int, prefix: str,
                                bind_to: list[str] | None) -> float:
    """Seconds from the first create to the last pod seen bound through a watch."""
    _, rv = await client.list(PODS, "default")
    bound: set[str] = set()
    done = asyncio.Event()

    async def watch() -> None:
        version = rv
        while not done.is_set():
            async for event in client.watch(PODS, "default", resource_version=version,
                                            timeout=300):
                obj = event.object
                version = obj.get("metadata", {}).get("resourceVersion", version)
                name = obj.get("metadata", {}).get("name", "")
                if name.startswith(prefix) and (obj.get("spec") or {}).get("nodeName"):
                    bound.add(name)
                    if len(bound) >= count:
                        done.set()
                        return

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.2)  # let the watch open before the clock starts
    start = time.perf_counter()

    async def work(i: int) -> None:
        created = await client.create(PODS, pod(i, prefix), "default")
        if bind_to is not None:
            await client.bind("default", created["metadata"]["name"], bind_to[i % len(bind_to)])

    await _bounded(count, work)
    await asyncio.wait_for(done.wait(), timeout=600)
    elapsed = time.perf_counter() - start
    watcher.cancel()
    return elapsed


async def measure(kubeconfig: str, nodes: int, pods: int, bind_self: bool) -> float:
    async with Client.from_kubeconfig(kubeconfig, max_connections=CONCURRENCY + 8) as client:
        names = await register_nodes(client, nodes)
        # Warm-up: once these are bound the scheduler has seen every node (watch order).
        await create_and_wait_bound(client, 200, "warm", names if bind_self else None)
        seconds = await create_and_wait_bound(client, pods, "p", names if bind_self else None)
    return pods / seconds


SETUPS = (("GPU scheduler, its own process", "process"),
          ("GPU scheduler, embedded in the API server", "embedded"),
          ("baseline: client binds, no scheduler", None))


def run(nodes: int, pods: int) -> str:
    figures = {}
    for label, scheduler in SETUPS:
        server = Server(scheduler)
        try:
            figures[label] = asyncio.run(measure(server.kubeconfig, nodes, pods,
                                                 bind_self=scheduler is None))
        finally:
            server.close()
    lines = [f"live scheduling throughput, create -> bound, {pods} GPU pods on {nodes} nodes "
             f"(client concurrency {CONCURRENCY}):"]
    for label, rate in figures.items():
        lines.append(f"  {label:48s} {rate:8.0f} pods/s")
    for label, rate in KUBE_FLOOR.items():
        lines.append(f"  kube-scheduler CI floor, {label:23s} {rate:8.0f} pods/s (published)")
    lines.append("  target (issue 5): >= 700 pods/s")
    lines.append("  command: " + COMMAND.format(nodes=nodes, pods=pods))
    return "\n".join(lines)


@pytest.mark.bench
def test_live_scheduler_throughput() -> None:
    print()
    print(run(int(os.environ.get("BENCH_NODES", "5000")), int(os.environ.get("BENCH_PODS", "5000"))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--no-scheduler", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, not args.no_scheduler)
        return
    print(run(args.nodes, args.pods))


if __name__ == "__main__":
    main()
