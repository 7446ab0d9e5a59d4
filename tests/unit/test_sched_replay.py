"""The openb trace reader and the replay tool (through its CLI entry point)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from orchestrator.scheduler.replay import build_workload, main, replay_files
from orchestrator.scheduler.trace import TraceError, TracePod, read_nodes, read_pods

NODES = """sn,cpu_milli,memory_mib,gpu,model
node-a,32000,131072,2,V100M16
node-b,16000,65536,1,T4
node-c,8000,32768,0,
"""
PODS = """name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time
whole,4000,8192,1,1000,,LS,Running,0,1,0
pair-1,2000,4096,1,500,,LS,Running,0,1,0
pair-2,2000,4096,1,500,,LS,Running,0,1,0
t4-only,1000,1024,1,1000,T4,LS,Running,0,1,0
cpu,2000,2048,0,0,,BE,Running,0,1,0
too-many,1000,1024,2,1000,,LS,Running,0,1,0
"""


# The slice of the openb trace shipped in the repository (data/openb/README.md).
SLICE = Path(__file__).resolve().parents[2] / "data" / "openb"


@pytest.fixture()
def files(tmp_path: Path) -> tuple[Path, Path]:
    nodes, pods = tmp_path / "nodes.csv", tmp_path / "pods.csv"
    nodes.write_text(NODES)
    pods.write_text(PODS)
    return nodes, pods


def test_reads_both_formats(files: tuple[Path, Path]) -> None:
    nodes, pods = files
    assert [n.gpus for n in read_nodes(nodes)] == [2, 1, 0]
    rows = read_pods(pods)
    assert rows[3] == TracePod("t4-only", 1000, 1024, 1, 1000, ("T4",))
    assert rows[1].gpu_request_milli == 500


@pytest.mark.parametrize(("row", "message"), [
    ("bad,1000,1024,one,1000", "column num_gpu must be a whole number, got 'one'"),
    ("bad,1000,1024,1", "expected 5 fields, found 4"),
    ("bad,1000,1024,1,1500", "gpu_milli must be 1..1000 when num_gpu > 0, got 1500"),
    ("bad,1000,1024,2,500", "a pod with 2 GPUs must take whole GPUs (gpu_milli 1000), got 500"),
    ("bad,-5,1024,0,0", "column cpu_milli must not be negative, got -5"),
])
def test_a_malformed_row_names_file_and_line(tmp_path: Path, row: str, message: str) -> None:
    path = tmp_path / "pods.csv"
    path.write_text("name,cpu_milli,memory_mib,num_gpu,gpu_milli\nok,1000,1024,0,0\n" + row + "\n")
    with pytest.raises(TraceError) as caught:
        read_pods(path)
    assert str(caught.value) == f"{path}:3: {message}"


def test_a_missing_column_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "nodes.csv"
    path.write_text("sn,cpu_milli\nn,1\n")
    with pytest.raises(TraceError, match=r"nodes.csv:1: header lacks column\(s\) memory_mib, gpu, model"):
        read_nodes(path)


def test_inflation_follows_the_published_protocol() -> None:
    pods = [TracePod(f"p{i}", 1000, 1024, 1, 1000) for i in range(10)]
    workload = build_workload(pods, capacity_milli=10_000, seed=7, inflate=1.3)
    assert sum(p.gpu_request_milli for _, p in workload) == 13_000
    assert len({name for name, _ in workload}) == len(workload)
    assert build_workload(pods, 10_000, seed=7) == build_workload(pods, 10_000, seed=7)
    assert [n for n, _ in build_workload(pods, 10_000, order="as-is", inflate=1.0)] == [p.name for p in pods]


def test_as_is_replay_gives_the_known_placement(files: tuple[Path, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    nodes, pods = files
    out = tmp_path / "placements.csv"
    assert main(["--nodes", str(nodes), "--pods", str(pods), "--order", "as-is", "--inflate", "1.0",
                 "--out", str(out)]) == 0
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["index"], r["name"], r["node"], r["gpu_devices"]) for r in rows] == [
        ("0", "whole", "node-b", "0:1000"),      # the single-GPU node: keeps node-a's pair whole
        ("1", "pair-1", "node-a", "0:500"),
        ("2", "pair-2", "node-a", "0:500"),     # beside its twin, on the same device
        ("3", "t4-only", "", ""),              # the only T4 is taken
        ("4", "cpu", "node-c", ""),            # the CPU-only node
        ("5", "too-many", "", ""),             # one free GPU left, two asked
    ]
    summary = json.loads(capsys.readouterr().out)
    assert {k: summary[k] for k in ("pods", "placed", "pending")} == {"pods": 6, "placed": 4, "pending": 2}
    assert summary["gpu_alloc_ratio"] == pytest.approx(2 / 3)
    assert set(summary) >= {"seconds"}


def test_cli_reports_a_bad_trace_on_stderr(tmp_path: Path, files: tuple[Path, Path],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    nodes, _ = files
    bad = tmp_path / "bad.csv"
    bad.write_text("name,cpu_milli,memory_mib,num_gpu,gpu_milli\nx,1,1,1,zero\n")
    assert main(["--nodes", str(nodes), "--pods", str(bad), "--out", str(tmp_path / "o.csv")]) == 2
    assert capsys.readouterr().err == (
        f"error: {bad}:2: column gpu_milli must be a whole number, got 'zero'\n")


@pytest.mark.parametrize("policy", ["hybrid", "fgd", "bestfit", "stranded"])
def test_every_policy_replays_the_small_trace(files: tuple[Path, Path], tmp_path: Path, policy: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    nodes, pods = files
    assert main(["--nodes", str(nodes), "--pods", str(pods), "--policy", policy, "--seed", "3",
                 "--out", str(tmp_path / "o.csv")]) == 0
    assert json.loads(capsys.readouterr().out)["pods"] >= 6


def test_the_shipped_slice_keeps_the_gpu_mix_and_shows_our_gain_over_best_fit() -> None:
    nodes_csv, pods_csv = SLICE / "openb_node_list_gpu_node.csv", SLICE / "openb_pod_list_default.csv"
    assert {n.model for n in read_nodes(nodes_csv)} == {"A10", "G2", "G3", "P100", "T4", "V100M16",
                                                         "V100M32"}
    pods = read_pods(pods_csv)
    assert {p.num_gpu for p in pods} == {0, 1, 2, 4, 8}
    assert any(p.num_gpu == 1 and p.gpu_milli < 1000 for p in pods)
    # What notebooks/02-gpu-placement.ipynb shows, at its seed (the CLI's default, 42).
    ratio = {policy: replay_files(nodes_csv, pods_csv, policy=policy)[1].gpu_alloc_ratio
             for policy in ("bestfit", "hybrid")}
    assert ratio["hybrid"] > ratio["bestfit"]
