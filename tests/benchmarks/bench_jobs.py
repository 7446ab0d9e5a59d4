"""Training-job overhead: from `jobs.submit()` to the user's process starting, and from its
exit to `wait()` returning, beside running the same script directly (subprocess) in the same
run. The script records wall-clock times at its first and last line in $OUTPUT_DIR.

    .venv/bin/pytest -s -m bench tests/benchmarks/bench_jobs.py
    .venv/bin/python tests/benchmarks/bench_jobs.py

The control plane runs in this process's other threads (as in `daskhub-lite up`); the job's
pod is a separate process. Figures are medians over BENCH_RUNS runs, printed, never asserted.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from daskhub_lite import jobs  # noqa: E402
from daskhub_lite.jobs.kube import Cluster, connect  # noqa: E402
from orchestrator import ControlPlane  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
SCRIPT = """\
import json, os, sys, time
started = time.time()
total = sum(i * i for i in range(200_000))  # a little work
out = os.environ.get("OUTPUT_DIR") or sys.argv[1]
with open(os.path.join(out, "times.json"), "w") as fh:
    json.dump({"started": started, "ended": time.time()}, fh)
"""


def direct(code: Path, out: Path) -> tuple[float, float]:
    """(start overhead, exit overhead) of `python train.py` as a plain subprocess."""
    t0 = time.time()
    subprocess.run([sys.executable, "train.py", str(out)], cwd=code, check=True)
    t1 = time.time()
    times = json.loads((out / "times.json").read_text())
    return times["started"] - t0, t1 - times["ended"]


def as_job(cluster: Cluster, code: Path, out: Path, n: int) -> tuple[float, float]:
    t0 = time.time()
    job = jobs.submit("python train.py", code=code, cluster=cluster, name=f"bench-{n}")
    job.wait(timeout=60, progress=False)
    t1 = time.time()
    job.outputs(out)
    times = json.loads((out / "times.json").read_text())
    job.delete()
    return times["started"] - t0, t1 - times["ended"]


def run() -> dict[str, tuple[float, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        code = Path(tmp) / "code"
        code.mkdir()
        (code / "train.py").write_text(SCRIPT)
        with ControlPlane(data_dir=Path(tmp) / "cp") as cp:
            cluster = connect(cp.kubeconfig)
            as_job(cluster, code, Path(tmp) / "warm", -1)  # imports, TLS, first pod
            job_runs = [as_job(cluster, code, Path(tmp) / f"j{i}", i) for i in range(RUNS)]
        direct_runs = []
        for i in range(RUNS):
            out = Path(tmp) / f"d{i}"
            out.mkdir()
            direct_runs.append(direct(code, out))
    median = statistics.median
    return {"direct": (median(r[0] for r in direct_runs), median(r[1] for r in direct_runs)),
            "job": (median(r[0] for r in job_runs), median(r[1] for r in job_runs))}


def report(figures: dict[str, tuple[float, float]]) -> None:
    print(f"\ntraining-job overhead, median of {RUNS} runs (seconds)")
    print(f"{'':8}{'submit→process start':>24}{'process exit→wait()':>22}")
    for name, (start, end) in figures.items():
        print(f"{name:8}{start:24.3f}{end:22.3f}")


@pytest.mark.bench
def test_jobs_benchmark() -> None:
    report(run())


if __name__ == "__main__":
    report(run())
