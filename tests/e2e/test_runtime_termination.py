"""Graceful deletion as kubelet reports it, watched with the `kubernetes` client: the pod
goes Ready=False as its containers exit, each container's terminated state (exit code,
reason, finishedAt) is posted, then the terminal phase, and only then is the pod removed;
its logs stay readable while it terminates."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch

from orchestrator import ControlPlane
from tests.conftest import Kubectl, wait_for
from tests.e2e.runtime_harness import apply, control_plane, get, node_name, pod, py, wait_phase



def slow(release: Path) -> str:
    """Says so on SIGTERM, then drains until the test lets it go (a file appears; at most
    25 s, within the 30 s grace) and exits 0."""
    return ("import os, signal, sys, time\n"
            "def bye(*a):\n    print('got SIGTERM', flush=True)\n"
            "    deadline = time.time() + 25\n"
            f"    while not os.path.exists({str(release)!r}) and time.time() < deadline:\n"
            "        time.sleep(0.05)\n"
            "    sys.exit(0)\n"
            "signal.signal(signal.SIGTERM, bye)\nprint('up', flush=True)\n"
            "while True: time.sleep(0.2)")


# Dies of SIGTERM at once (no handler): exit code 143.
QUICK = "import time\nprint('up', flush=True)\ntime.sleep(300)"


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with control_plane(tmp_path_factory.mktemp("termination")) as plane:
        yield plane


@pytest.fixture(scope="module")
def kubectl(cp: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(cp, tmp_path_factory.mktemp("kubectl-cache"))


def _condition(p: k8s.V1Pod, ctype: str) -> k8s.V1PodCondition | None:
    return next((c for c in p.status.conditions or [] if c.type == ctype), None)


def _state(p: k8s.V1Pod, name: str) -> k8s.V1ContainerState:
    return next(c.state for c in p.status.container_statuses if c.name == name)


def _watch_until_deleted(core: k8s.CoreV1Api, name: str, since: str,
                         events: list[tuple[str, Any]]) -> None:
    w = k8s_watch.Watch()
    for event in w.stream(core.list_namespaced_pod, "default", resource_version=since,
                          field_selector=f"metadata.name={name}", timeout_seconds=60):
        events.append((event["type"], event["object"]))
        if event["type"] == "DELETED":
            w.stop()


def test_deleted_pod_reports_exits_before_it_goes(cp: ControlPlane, kubectl: Kubectl,
                                                  tmp_path: Path) -> None:
    node = node_name(kubectl)
    release = tmp_path / "release"
    apply(kubectl, pod("draining", node, py("slow", slow(release)), py("quick", QUICK)))
    wait_phase(kubectl, "draining", "Running")
    wait_for(lambda: all(kubectl.run("logs", "draining", "-c", c, check=False).stdout
                         == "up\n" for c in ("slow", "quick")), timeout=15)
    running = wait_for(lambda: (p := get(kubectl, "draining")) and all(
        c["ready"] for c in p["status"]["containerStatuses"]) and p, timeout=10)
    core = k8s.CoreV1Api(k8s_config.new_client_from_config(config_file=cp.kubeconfig))
    events: list[tuple[str, Any]] = []
    watcher = threading.Thread(target=_watch_until_deleted, daemon=True, args=(
        core, "draining", running["metadata"]["resourceVersion"], events))
    watcher.start()
    kubectl.run("delete", "pod", "draining", "--wait=false")

    # While it drains, the pod is still there and its logs can be read.
    def draining_logs() -> str | None:
        out = kubectl.run("logs", "draining", "-c", "slow", check=False)
        return out.stdout if "got SIGTERM" in out.stdout else None
    assert "up\ngot SIGTERM\n" in wait_for(draining_logs, timeout=10, interval=0.1)
    assert get(kubectl, "draining")["metadata"].get("deletionTimestamp")
    assert kubectl.run("logs", "draining", "-c", "quick").stdout == "up\n"
    release.touch()
    watcher.join(timeout=60)
    assert not watcher.is_alive(), f"no DELETED event: {[t for t, _ in events]}"

    types = [t for t, _ in events]
    assert types[-1] == "DELETED" and "DELETED" not in types[:-1], types
    pods = [p for _, p in events]
    marked = next(i for i, p in enumerate(pods) if p.metadata.deletion_timestamp)
    # First the API server marks it; the containers still run and it is still Ready.
    assert _condition(pods[marked], "Ready").status == "True"
    assert _state(pods[marked], "slow").running and _state(pods[marked], "quick").running

    # The quick container exits first: not Ready while the slow one still drains.
    quick_gone = next(i for i, p in enumerate(pods) if _state(p, "quick").terminated)
    assert quick_gone > marked
    p = pods[quick_gone]
    term = _state(p, "quick").terminated
    assert (term.exit_code, term.reason) == (143, "Error") and term.finished_at
    assert _state(p, "slow").running
    for ctype in ("Ready", "ContainersReady"):
        cond = _condition(p, ctype)
        assert (cond.status, cond.reason) == ("False", "ContainersNotReady"), cond
    assert "quick" in _condition(p, "Ready").message

    # Then the slow one, after its handler: exit 0, and the pod's terminal phase.
    slow_gone = next(i for i, p in enumerate(pods) if _state(p, "slow").terminated)
    assert quick_gone < slow_gone < len(pods) - 1
    final = pods[-2]
    term = _state(final, "slow").terminated
    assert (term.exit_code, term.reason) == (0, "Completed") and term.finished_at
    assert final.status.phase == "Failed"  # one container failed (143)
    assert (_condition(final, "Ready").status, _condition(final, "Ready").reason) == (
        "False", "PodFailed")
    assert pods[-1].status.phase == "Failed"  # the DELETED object is the final status


def test_pod_whose_containers_all_succeed_ends_succeeded(cp: ControlPlane, kubectl: Kubectl,
                                                         tmp_path: Path) -> None:
    node = node_name(kubectl)
    release = tmp_path / "release"
    release.touch()  # drains at once
    apply(kubectl, pod("polite", node, py("slow", slow(release))))
    wait_for(lambda: kubectl.run("logs", "polite", check=False).stdout == "up\n", timeout=15)
    since = get(kubectl, "polite")["metadata"]["resourceVersion"]
    core = k8s.CoreV1Api(k8s_config.new_client_from_config(config_file=cp.kubeconfig))
    events: list[tuple[str, Any]] = []
    watcher = threading.Thread(target=_watch_until_deleted, daemon=True,
                               args=(core, "polite", since, events))
    watcher.start()
    kubectl.run("delete", "pod", "polite", "--wait=false")
    watcher.join(timeout=60)
    assert not watcher.is_alive(), f"no DELETED event: {[t for t, _ in events]}"
    before = events[-2][1]
    assert _state(before, "slow").terminated.exit_code == 0
    assert before.status.phase == "Succeeded"
    assert (_condition(before, "Ready").status, _condition(before, "Ready").reason) == (
        "False", "PodCompleted")


def test_a_finalizer_holds_the_terminated_pod_until_it_is_removed(
        cp: ControlPlane, kubectl: Kubectl, tmp_path: Path) -> None:
    node = node_name(kubectl)
    release = tmp_path / "release"
    release.touch()
    held = pod("held", node, py("slow", slow(release)))
    held["metadata"]["finalizers"] = ["example.com/hold"]
    apply(kubectl, held)
    wait_for(lambda: kubectl.run("logs", "held", check=False).stdout == "up\n", timeout=15)
    kubectl.run("delete", "pod", "held", "--wait=false")

    # The kubelet's final delete (grace 0) cannot remove it: it stays, terminated.
    def finished() -> dict[str, Any] | None:
        p = get(kubectl, "held")
        return p if p["metadata"].get("deletionGracePeriodSeconds") == 0 else None
    p = wait_for(finished, timeout=20, interval=0.2)
    assert p["status"]["phase"] == "Succeeded"
    assert p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    assert kubectl.run("logs", "held").stdout == "up\ngot SIGTERM\n"
    kubectl.run("patch", "pod", "held", "--type=json", "-p",
                '[{"op": "remove", "path": "/metadata/finalizers"}]')
    wait_for(lambda: kubectl.run("get", "pod", "held", check=False).returncode != 0,
             timeout=10)
