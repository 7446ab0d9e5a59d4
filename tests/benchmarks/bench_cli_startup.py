"""Wall time of short `daskhub-lite` commands, beside `kubectl version --client` (a Go
binary: the floor a command-line tool can reach) and `python -c pass` measured in the same
run, against a control plane started with `daskhub-lite up` (its dask operator installed, so
`cluster list` lists); and `job submit --follow` of a script that sleeps one second.

    .venv/bin/pytest -s -m bench tests/benchmarks/bench_cli_startup.py
    .venv/bin/python tests/benchmarks/bench_cli_startup.py

Medians over BENCH_RUNS runs (default 7), printed with their ratio to kubectl; never asserted.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

RUNS = int(os.environ.get("BENCH_RUNS", "7"))
FOLLOW_RUNS = int(os.environ.get("BENCH_FOLLOW_RUNS", "3"))
BIN = Path(sys.executable).parent
CLI = [str(BIN / "daskhub-lite")] if (BIN / "daskhub-lite").exists() else \
    [sys.executable, "-m", "daskhub_lite.cli"]
SLEEP_ONE = "import time\ntime.sleep(1)\nprint('slept 1s')\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _timed(cmd: list[str], env: dict[str, str], cwd: str | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr}")
    return elapsed


def _median(cmd: list[str], env: dict[str, str], runs: int = RUNS) -> float:
    _timed(cmd, env)  # page cache, .pyc files
    return statistics.median(_timed(cmd, env) for _ in range(runs))


def _plane(data_dir: Path, env: dict[str, str]) -> Iterator[str]:
    """`daskhub-lite up` in the background (with the dask operator), `down` after."""
    up = CLI + ["up", "--data-dir", str(data_dir), "--ingress-port", str(_free_port())]
    done = subprocess.run(up, env=env, capture_output=True, text=True, timeout=300)
    try:
        if done.returncode != 0:
            raise RuntimeError(f"daskhub-lite up failed: {done.stderr}{done.stdout}")
        kubeconfig = str(data_dir / "kubeconfig")
        from daskhub_lite.clusters.target import ensure_operator

        ensure_operator(kubeconfig, with_reaper=True)  # a no-op where `up` installed it
        yield kubeconfig
    finally:
        subprocess.run(CLI + ["down", "--data-dir", str(data_dir)], env=env,
                       capture_output=True, timeout=120)


def run() -> tuple[dict[str, float], float]:
    with tempfile.TemporaryDirectory() as tmp:
        home, data = Path(tmp) / "home", Path(tmp) / "plane"
        home.mkdir()
        env = {**os.environ, "HOME": str(home), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
        env.pop("KUBECONFIG", None)
        for kubeconfig in _plane(data, env):
            env["KUBECONFIG"] = kubeconfig
            kubectl = [str(BIN / "kubectl"), "version", "--client", "--cache-dir",
                       str(home / "kubectl-cache")]
            figures = {
                "kubectl version --client": _median(kubectl, env),
                "python -c pass": _median([sys.executable, "-c", "pass"], env),
                "daskhub-lite --help": _median(CLI + ["--help"], env),
                "daskhub-lite status": _median(CLI + ["status", "--data-dir", str(data)], env),
                "daskhub-lite list": _median(CLI + ["list"], env),
                "daskhub-lite job list": _median(CLI + ["job", "list"], env),
                "daskhub-lite cluster list": _median(CLI + ["cluster", "list"], env),
            }
            code = Path(tmp) / "code"
            code.mkdir()
            (code / "sleep.py").write_text(SLEEP_ONE)
            follows = []
            for i in range(FOLLOW_RUNS + 1):  # the first run warms the node's Python
                follows.append(_timed(CLI + ["job", "submit", "--name", f"bench-{i}",
                                             "--code", str(code), "--follow", "--",
                                             "python", "sleep.py"], env))
                _timed(CLI + ["job", "delete", f"bench-{i}"], env)
            follow = statistics.median(follows[1:])
    return figures, follow


def report(figures: dict[str, float], follow: float) -> None:
    base = figures["kubectl version --client"]
    print(f"\nCLI start-up against `daskhub-lite up`, median of {RUNS} runs "
          f"({os.cpu_count()} cpus)")
    print(f"{'command':30}{'seconds':>10}{'x kubectl':>11}")
    for name, seconds in figures.items():
        print(f"{name:30}{seconds:10.3f}{seconds / base:11.1f}")
    print(f"job submit --follow of a 1 s script: {follow:.2f}s (median of {FOLLOW_RUNS}; "
          f"{follow - 1:.2f}s over the script)")


@pytest.mark.bench
def test_cli_startup_benchmark() -> None:
    report(*run())


if __name__ == "__main__":
    report(*run())
