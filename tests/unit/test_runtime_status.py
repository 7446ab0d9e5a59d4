"""Pure pod status: phases, conditions, back-off, logs rendering, nodes files, mounts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.runtime import hostinfo, logs, nodespec
from orchestrator.runtime.status import (
    Backoff,
    ContainerState,
    phase,
    pod_status,
    terminate_unstarted,
)
from orchestrator.runtime.volumes import Mount, MountPlan


def _term(name: str, code: int, done: bool = True) -> ContainerState:
    c = ContainerState(name)
    c.terminated(code, "Completed" if code == 0 else "Error", 0, 1)
    c.done = done
    return c


def test_phases() -> None:
    running = ContainerState("a")
    running.running(0, "process://1")
    assert phase("Always", [], False, [ContainerState("a")]) == "Pending"
    assert phase("Always", [], False, [running]) == "Running"
    assert phase("Never", [], False, [_term("a", 0), _term("b", 0)]) == "Succeeded"
    assert phase("Never", [], False, [_term("a", 0), _term("b", 1)]) == "Failed"
    assert phase("Always", [], False, [_term("a", 1, done=False)]) == "Running"
    assert phase("Never", [ContainerState("i")], False, [ContainerState("a")]) == "Pending"
    assert phase("Never", [_term("i", 1)], True, [ContainerState("a")]) == "Failed"


def test_conditions_and_restart_counting() -> None:
    c = ContainerState("web")
    c.running(0, "process://1")
    c.ready = True
    status = pod_status({"spec": {}}, [], False, [c], 0)
    assert {x["type"]: x["status"] for x in status["conditions"]}["Ready"] == "True"
    c.terminated(1, "Error", 0, 1)
    c.retire()
    assert c.state == {"waiting": {"reason": "ContainerCreating"}} and c.restart_count == 0
    c.running(2, "process://2")
    assert c.restart_count == 1 and c.last_state["terminated"]["exitCode"] == 1
    status = pod_status({"spec": {}}, [], False, [c], 0)
    ready = {x["type"]: x for x in status["conditions"]}["Ready"]
    assert ready["reason"] == "ContainersNotReady" and "[web]" in ready["message"]


def _ready(status: dict[str, Any]) -> tuple[str, str | None]:
    ready = {x["type"]: x for x in status["conditions"]}["Ready"]
    return ready["status"], ready.get("reason")


def test_a_deleted_pod_ends_in_a_terminal_phase() -> None:
    # kubelet since 1.27: whatever the restart policy, a pod that will run nothing more is
    # Succeeded (every container exited 0) or Failed, and not Ready for that reason.
    spec = {"spec": {"restartPolicy": "Always"}}
    done = pod_status(spec, [], False, [_term("a", 0)], 0, terminal=True)
    assert done["phase"] == "Succeeded" and _ready(done) == ("False", "PodCompleted")
    failed = pod_status(spec, [], False, [_term("a", 0), _term("b", 143)], 0, terminal=True)
    assert failed["phase"] == "Failed" and _ready(failed) == ("False", "PodFailed")
    # Still initializing when deleted: Failed too (TerminatePod), never left Pending.
    stuck = pod_status(spec, [_term("init", 137)], False, [ContainerState("a")], 0,
                       terminal=True)
    assert stuck["phase"] == "Failed"
    # Without `terminal` an Always pod with a terminated container is still Running.
    assert pod_status(spec, [], False, [_term("a", 0, done=False)], 0)["phase"] == "Running"


def test_terminate_unstarted_marks_what_never_ran() -> None:
    ran, waiting = _term("ran", 0, done=False), ContainerState("waiting")
    terminate_unstarted([], [ran, waiting])
    assert ran.state["terminated"]["exitCode"] == 0 and ran.done
    assert waiting.state == {"terminated": {
        "exitCode": 137, "reason": "ContainerStatusUnknown",
        "message": "The container could not be located when the pod was terminated"}}
    assert waiting.done and not waiting.ready
    # Before initialization finished the containers stay waiting (kubelet leaves them).
    later = ContainerState("later")
    terminate_unstarted([ContainerState("init")], [later])
    assert "waiting" in later.state and not later.done


def test_backoff_doubles_caps_and_resets() -> None:
    b = Backoff(base=10, cap=40, reset_after=600)
    assert [b.next_delay(1) for _ in range(5)] == [0, 10, 20, 40, 40]
    assert b.next_delay(700) == 0


def test_logs_render_tail_and_timestamps() -> None:
    lines = [b"2024-01-01T00:00:00.000000001Z stdout F one",
             b"2024-01-01T00:00:01.000000000Z stderr P par",
             b"2024-01-01T00:00:01.500000000Z stderr F tial",
             b"2024-01-01T00:00:02.000000000Z stdout F three"]
    records = [r for r in map(logs.parse_line, lines) if r]
    out, _ = logs.render(records, logs.LogOptions())
    assert out == b"one\npartial\nthree\n"
    out, _ = logs.render(logs.tail(records, 2), logs.LogOptions(timestamps=True))
    assert out == b"2024-01-01T00:00:01.000000000Z partial\n2024-01-01T00:00:02.000000000Z three\n"
    since = logs.parse_ts("2024-01-01T00:00:01.9Z")
    assert logs.render(records, logs.LogOptions(since=since))[0] == b"three\n"


def test_nodes_file_count_and_errors(tmp_path: Path) -> None:
    specs = nodespec.parse({"nodes": [{"name": "w", "count": 2, "runtime": "simulated"},
                                      {"name": "g", "capacity": {"nvidia.com/gpu": "1"}}]})
    assert [(s.name, s.runtime) for s in specs] == [
        ("w-0", "simulated"), ("w-1", "simulated"), ("g", "process")]
    with pytest.raises(nodespec.NodesFileError, match="used twice"):
        nodespec.parse([{"name": "a"}, {"name": "a"}])
    bad = tmp_path / "n.yaml"
    bad.write_text("nodes: [")
    with pytest.raises(nodespec.NodesFileError, match="not valid YAML"):
        nodespec.parse(str(bad))


def test_nvidia_smi_parsing() -> None:
    gpus = hostinfo.parse_nvidia_smi("0, NVIDIA H100 80GB HBM3, 81559 MiB\n1, NVIDIA H100 80GB "
                                     "HBM3, 81559\n")
    assert [(g.index, g.memory_mib) for g in gpus] == [(0, 81559), (1, 81559)]
    assert hostinfo.gpu_labels(gpus)["nvidia.com/gpu.count"] == "2"


def test_mount_path_rewriting() -> None:
    plan = MountPlan("rewrite", [Mount("/data/v/conf", "/etc/app"),
                                 Mount("/data/v/deep", "/etc/app/deep")])
    assert plan.rewrite("cat /etc/app/x.conf") == "cat /data/v/conf/x.conf"
    assert plan.rewrite("--dir=/etc/app/deep") == "--dir=/data/v/deep"
    assert plan.rewrite("/etc/apple") == "/etc/apple"
    assert MountPlan("bind", plan.mounts).rewrite("/etc/app") == "/etc/app"
