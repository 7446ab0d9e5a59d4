"""Kubelet's local-storage eviction decisions (pure), and the shim's log rotation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.runtime import eviction
from orchestrator.runtime.eviction import Usage, decide
from orchestrator.runtime.shim import LogWriter, rotated_logs


def _pod(*containers: dict[str, Any], volumes: list[dict[str, Any]] | None = None
         ) -> dict[str, Any]:
    return {"spec": {"containers": list(containers), "volumes": volumes or []}}


def _c(name: str, limit: str | None = None) -> dict[str, Any]:
    res = {"limits": {"ephemeral-storage": limit}} if limit else {}
    return {"name": name, "resources": res}


def test_within_limits_nothing_happens() -> None:
    assert decide(_pod(_c("a", "1Mi")), Usage({"a": 1 << 20})) is None
    assert decide(_pod(_c("a")), Usage({"a": 10 << 30})) is None  # no limit, no eviction


def test_pod_over_the_sum_of_its_containers_limits() -> None:
    pod = _pod(_c("a", "1Mi"), _c("b"))
    assert decide(pod, Usage({"a": 10, "b": 10}, other=2 << 20)) == (
        "Pod ephemeral local storage usage exceeds the total limit of containers 1Mi. ")
    two = _pod(_c("a", "512Ki"), _c("b", "512Ki"))
    assert "total limit of containers 1Mi. " in decide(two, Usage({"a": 2 << 20}))


def test_one_container_over_its_own_limit_while_the_pod_is_within() -> None:
    pod = _pod(_c("quiet", "2Mi"), _c("loud", "100Ki"))
    assert decide(pod, Usage({"quiet": 0, "loud": 300 << 10})) == (
        'Container loud exceeded its local ephemeral storage limit "100Ki". ')


def test_empty_dir_over_its_size_limit_comes_first() -> None:
    vols = [{"name": "scratch", "emptyDir": {"sizeLimit": "64Ki"}},
            {"name": "ram", "emptyDir": {"medium": "Memory", "sizeLimit": "1Ki"}}]
    pod = _pod(_c("a", "1Mi"), volumes=vols)
    assert decide(pod, Usage({"a": 0}, {"scratch": 2 << 20})) == (
        'Usage of EmptyDir volume "scratch" exceeds the limit "64Ki". ')
    assert "ram" not in eviction.disk_empty_dirs(pod)  # memory is not ephemeral storage


def test_measure_counts_logs_workdir_and_empty_dirs(tmp_path: Path) -> None:
    pod = _pod(_c("a", "1Mi"), volumes=[{"name": "v", "emptyDir": {}}])
    (tmp_path / "logs" / "a").mkdir(parents=True)
    (tmp_path / "logs" / "a" / "0.log").write_bytes(b"x" * 10000)
    (tmp_path / "workdir").mkdir()
    (tmp_path / "workdir" / "f").write_bytes(b"y" * 20000)
    (tmp_path / "volumes" / "empty-dir" / "v").mkdir(parents=True)
    (tmp_path / "volumes" / "empty-dir" / "v" / "g").write_bytes(b"z" * 30000)
    usage = eviction.measure(pod, tmp_path)
    assert usage.containers["a"] >= 10000 and usage.other >= 20000
    assert usage.empty_dirs["v"] >= 30000


def test_mark_evicted_is_kubelets_status() -> None:
    status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    eviction.mark_evicted(status, "m", "2024-01-01T00:00:00Z")
    assert status["phase"] == "Failed" and status["reason"] == "Evicted"
    types = {c["type"]: c for c in status["conditions"]}
    assert types["DisruptionTarget"]["reason"] == "TerminationByKubelet"
    assert types["Ready"]["status"] == "False"


def test_shim_rotates_logs_by_size_and_keeps_max_files(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    out = LogWriter(str(path), max_bytes=1000, max_files=3)
    for i in range(200):
        out.line("stdout", f"line {i:04d} ".encode() + b"x" * 40)
    rotated = rotated_logs(str(path))
    assert len(rotated) == 2  # with the current file: containerLogMaxFiles 3
    assert all(Path(p).stat().st_size <= 1000 for p in rotated + [str(path)])
    assert b"line 0199" in path.read_bytes()
    assert b"line 0000" not in b"".join(Path(p).read_bytes() for p in rotated)
