"""`DaskCluster(n_workers=4)` beside what a data scientist would use instead,
`distributed.LocalCluster(n_workers=4, processes=True)`, measured in the same run once the
control plane and the operator are up and idle: seconds to 4 workers connected, `scale(16)`
to 16 workers, `close()`; plus the same scheduler + 4 workers as plain `dask` CLI processes
(what the processes alone cost, without Kubernetes), and a timeline of one DaskCluster start.
Repeated BENCH_REPEATS times (default 3); medians and ratios printed, never asserted.
Run: `make bench` (or pytest -s -m bench tests/benchmarks/bench_dask.py)."""

from __future__ import annotations

import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import kr8s
import pytest

from tests.benchmarks.dask_timeline import Timeline
from tests.e2e import dask_harness

pytestmark = [pytest.mark.bench, pytest.mark.filterwarnings("ignore::UserWarning")]
DASK = str(Path(sys.executable).parent / "dask")
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))


def wait_idle(kubeconfig: str, quiet: float = 2.0, timeout: float = 120.0) -> None:
    """Every pod Ready and no pod changed for `quiet` seconds: the control plane's own pods
    (the operator) have finished starting and do not share the CPUs with what we measure."""
    api = kr8s.api(kubeconfig=kubeconfig)
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        pods = [p.raw for p in api.get("pods", namespace=kr8s.ALL)]
        state = sorted((p["metadata"]["name"], p["metadata"].get("resourceVersion"))
                       for p in pods)
        ready = all(any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in (p.get("status") or {}).get("conditions") or [])
                    for p in pods)
        if state != last or not ready:
            last, since = state, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.2)
    raise AssertionError("the control plane did not settle")


def local_cluster() -> dict[str, float]:
    from distributed import Client, LocalCluster

    out = {}
    start = time.perf_counter()
    cluster = LocalCluster(n_workers=4, processes=True, threads_per_worker=1,
                           dashboard_address=":0", silence_logs=logging.CRITICAL)
    client = Client(cluster)
    client.wait_for_workers(4, timeout=120)
    out["start"] = time.perf_counter() - start
    start = time.perf_counter()
    cluster.scale(16)
    client.wait_for_workers(16, timeout=300)
    out["scale"] = time.perf_counter() - start
    start = time.perf_counter()
    client.close()
    cluster.close()
    out["close"] = time.perf_counter() - start
    return out


def plain_processes(n: int) -> float:
    from distributed import Client

    start = time.perf_counter()
    procs = [subprocess.Popen([DASK, "scheduler", "--port", "18786", "--dashboard-address",
                               ":18787"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    procs += [subprocess.Popen([DASK, "worker", "tcp://127.0.0.1:18786", "--nthreads", "1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
              for _ in range(n)]
    try:
        with Client("tcp://127.0.0.1:18786", timeout=60) as client:
            client.wait_for_workers(n, timeout=120)
            return time.perf_counter() - start
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(20)


def dask_cluster(kubeconfig: str, name: str, timeline: Timeline | None) -> dict[str, float]:
    from daskhub_lite import DaskCluster

    out = {}
    say = (lambda msg: timeline.once(f"client/{msg}", f"client: {msg}")) if timeline else None
    start = time.perf_counter()
    if timeline:
        timeline.mark("client: DaskCluster() called")
    cluster = DaskCluster(name, n_workers=4, kubeconfig=kubeconfig, progress=say)
    if timeline:
        timeline.mark("client: DaskCluster() returned (scheduler answers)")
    client = cluster.get_client()
    client.wait_for_workers(4, timeout=120)
    out["start"] = time.perf_counter() - start
    if timeline:
        timeline.mark("client: 4 workers connected")
        timeline.freeze()
        timeline.scheduler_log()  # while the pod is there
    start = time.perf_counter()
    cluster.scale(16)
    client.wait_for_workers(16, timeout=300)
    out["scale"] = time.perf_counter() - start
    start = time.perf_counter()
    client.close()
    cluster.close()
    out["close"] = time.perf_counter() - start
    return out


def median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def row(what: str, runs: list[dict[str, float]], key: str) -> str:
    figures = " ".join(f"{r[key]:.2f}" for r in runs)
    return f"  {what:<34} median {median(runs, key):6.2f}s  ({figures})"


def test_bench_dask_cluster_against_local_cluster(tmp_path: Path) -> None:
    for cp in dask_harness.start(tmp_path / "cp"):
        local: list[dict[str, float]] = []
        ours: list[dict[str, float]] = []
        plain: list[dict[str, float]] = []
        timelines: list[Timeline] = []
        for i in range(REPEATS):
            wait_idle(cp.kubeconfig)
            local.append(local_cluster())
            wait_idle(cp.kubeconfig)
            plain.append({"start": plain_processes(4)})
            wait_idle(cp.kubeconfig)
            timeline = Timeline(cp.kubeconfig, "default", f"bench-{i}")
            timeline.start()
            try:
                ours.append(dask_cluster(cp.kubeconfig, f"bench-{i}", timeline))
            finally:
                timeline.stop()
            timelines.append(timeline)
        report(local, plain, ours, timelines)


def report(local: list[dict[str, float]], plain: list[dict[str, float]],
           ours: list[dict[str, float]], timelines: list[Any]) -> None:
    print(f"\n{REPEATS} runs, cpus: {os.cpu_count()}, load: {os.getloadavg()[0]:.1f}")
    print(row("LocalCluster(4) to 4 workers", local, "start"))
    print(row("plain dask CLI, scheduler + 4", plain, "start"))
    print(row("DaskCluster(n_workers=4) to 4", ours, "start"))
    print(row("LocalCluster scale(16)", local, "scale"))
    print(row("DaskCluster scale(16)", ours, "scale"))
    print(row("LocalCluster close()", local, "close"))
    print(row("DaskCluster close()", ours, "close"))
    for key, what in (("start", "start"), ("scale", "scale(16)"), ("close", "close()")):
        print(f"  ratio DaskCluster / LocalCluster, {what}: "
              f"{median(ours, key) / median(local, key):.2f}")
    print(f"  ratio DaskCluster / plain CLI, start: "
          f"{median(ours, 'start') / median(plain, 'start'):.2f}")
    best = min(range(len(ours)), key=lambda i: abs(ours[i]["start"] - median(ours, "start")))
    print(f"\ntimeline of the median DaskCluster start (run {best}):")
    print(timelines[best].render(show_api=True))
