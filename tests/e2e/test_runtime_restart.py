"""A control plane that dies adopts its live pods when it comes back; stopping it (or
`daskhub-lite down`) leaves no pod process in the process table."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from tests.conftest import Kubectl, wait_for
from tests.e2e.runtime_harness import (
    FAST_BACKOFF,
    apply,
    container_status,
    control_plane,
    get,
    pids_with,
    pod,
    py,
    wait_phase,
)

CLI = [sys.executable, "-m", "orchestrator.cli"]


def _up(data_dir: Path) -> subprocess.Popen[str]:
    """`daskhub-lite up --foreground` in a child process, once it reports ready."""
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(CLI + ["up", "--foreground", "--data-dir", str(data_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, **FAST_BACKOFF}, start_new_session=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("export KUBECONFIG"):
            return proc
    raise AssertionError(f"control plane did not start (exit code {proc.wait()})")


def test_restart_adopts_live_pods_and_restarts_dead_ones(tmp_path: Path) -> None:
    data = tmp_path / "data"
    marker = f"adopt-{uuid.uuid4().hex[:8]}"
    up = _up(data)
    cp_pid = up.pid
    cache = tmp_path / "cache"

    class _CP:  # just enough of ControlPlane for Kubectl before the restart
        kubeconfig = str(data / "kubeconfig")

    kubectl = Kubectl(_CP(), cache)  # type: ignore[arg-type]
    node = kubectl.json("get", "nodes")["items"][0]["metadata"]["name"]
    apply(kubectl, pod("survivor", node, py("main", f"import time; print('{marker}'); "
                                            "time.sleep(300)")))
    apply(kubectl, pod("casualty", node, py("main", f"import time; print('{marker}-x'); "
                                            "time.sleep(2); raise SystemExit(1)")))
    survivor = wait_phase(kubectl, "survivor", "Running")
    wait_phase(kubectl, "casualty", "Running")
    container_id = container_status(survivor)["containerID"]
    os.kill(cp_pid, signal.SIGKILL)  # a crash: no graceful shutdown of pods
    up.wait(timeout=10)
    assert pids_with(marker), "pod processes must outlive a crashed control plane"
    (data / "controlplane.pid").unlink()
    wait_for(lambda: not pids_with(f"{marker}-x"), timeout=10)  # dies while nobody watches

    with control_plane(data) as cp:
        kubectl = Kubectl(cp, cache)
        wait_for(lambda: container_status(get(kubectl, "casualty")).get("restartCount", 0)
                 >= 1, timeout=20)
        again = get(kubectl, "survivor")
        status = container_status(again)
        assert status["containerID"] == container_id
        assert status["restartCount"] == 0 and again["status"]["phase"] == "Running"
        assert kubectl.run("logs", "survivor").stdout == f"{marker}\n"
        assert kubectl.run("exec", "survivor", "--", "echo", "hi").stdout == "hi\n"
        last = container_status(get(kubectl, "casualty"))["lastState"]["terminated"]
        assert last["exitCode"] == 1
    wait_for(lambda: not pids_with(marker), timeout=10)


def test_down_leaves_no_pod_process(tmp_path: Path) -> None:
    data = tmp_path / "data"
    marker = f"down-{uuid.uuid4().hex[:8]}"
    up = _up(data)

    class _CP:
        kubeconfig = str(data / "kubeconfig")

    kubectl = Kubectl(_CP(), tmp_path / "cache")  # type: ignore[arg-type]
    node = kubectl.json("get", "nodes")["items"][0]["metadata"]["name"]
    stubborn = ("import signal, subprocess, sys, time\n"
                "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', "
                f"'{marker}-child'])\n"
                "time.sleep(300)")
    # It ignores SIGTERM, so `down` waits out its grace period, then kills it: 3 s, not 30.
    apply(kubectl, pod("stubborn", node, py("main", stubborn, args=[marker]),
                       terminationGracePeriodSeconds=3))
    apply(kubectl, pod("plain", node, py("main", "import time; time.sleep(300)",
                                         args=[marker])))
    wait_phase(kubectl, "stubborn", "Running")
    wait_phase(kubectl, "plain", "Running")
    wait_for(lambda: len(pids_with(marker)) >= 3, timeout=10)
    down = subprocess.run(CLI + ["down", "--data-dir", str(data)], capture_output=True,
                          text=True, timeout=60)
    assert down.returncode == 0, down.stderr
    up.wait(timeout=30)
    assert pids_with(marker) == []
