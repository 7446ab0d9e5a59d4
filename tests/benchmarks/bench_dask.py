"""Seconds from `DaskCluster(n_workers=4)` to 4 workers connected, beside the same scheduler +
4 workers started as plain `dask` CLI processes in the same run; and scale 4 -> 16.
Figures are printed, never asserted. Run: `make bench` (or pytest -s -m bench this file)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e import dask_harness

pytestmark = [pytest.mark.bench, pytest.mark.filterwarnings("ignore::UserWarning")]
DASK = str(Path(sys.executable).parent / "dask")


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


def test_bench_dask_cluster_start_and_scale(tmp_path: Path) -> None:
    from daskhub_lite import DaskCluster

    for cp in dask_harness.start(tmp_path / "cp"):
        plain = plain_processes(4)
        start = time.perf_counter()
        cluster = DaskCluster("bench", n_workers=4, kubeconfig=cp.kubeconfig)
        client = cluster.get_client()
        client.wait_for_workers(4, timeout=120)
        ours = time.perf_counter() - start
        start = time.perf_counter()
        cluster.scale(16)
        client.wait_for_workers(16, timeout=300)
        scale = time.perf_counter() - start
        client.close()
        cluster.close()
        print(f"\nplain dask CLI, scheduler + 4 workers: {plain:.2f}s")
        print(f"DaskCluster(n_workers=4) to 4 workers: {ours:.2f}s "
              f"(ratio {ours / plain:.2f}, target <= 1.5)")
        print(f"scale 4 -> 16 workers: {scale:.2f}s  (cpus: {os.cpu_count()})")
