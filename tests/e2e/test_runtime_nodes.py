"""Nodes from a nodes file: a process node and simulated nodes side by side; bad files."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import yaml

from orchestrator import ControlPlane
from tests.conftest import Kubectl, wait_for
from tests.e2e.runtime_harness import apply, control_plane, pod, py, wait_phase

NODES = {"nodes": [
    {"name": "gpu-a", "runtime": "process",
     "capacity": {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "2"},
     "labels": {"nvidia.com/gpu.product": "A100-SXM4-40GB"},
     "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]},
    {"name": "sim", "runtime": "simulated", "count": 3, "capacity": {"cpu": "4",
                                                                      "memory": "8Gi"}},
]}


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    folder = tmp_path_factory.mktemp("nodes")
    path = folder / "nodes.yaml"
    path.write_text(yaml.safe_dump(NODES))
    with control_plane(folder / "data", nodes=str(path)) as plane:
        yield plane


@pytest.fixture(scope="module")
def kubectl(cp: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(cp, tmp_path_factory.mktemp("kubectl-cache"))


def test_nodes_from_file(kubectl: Kubectl) -> None:
    nodes = {n["metadata"]["name"]: n for n in kubectl.json("get", "nodes")["items"]}
    assert set(nodes) == {"gpu-a", "sim-0", "sim-1", "sim-2"}
    gpu = nodes["gpu-a"]
    assert gpu["status"]["capacity"]["nvidia.com/gpu"] == "2"
    assert gpu["status"]["allocatable"]["cpu"] == "8"
    assert gpu["metadata"]["labels"]["nvidia.com/gpu.product"] == "A100-SXM4-40GB"
    assert gpu["spec"]["taints"][0]["effect"] == "NoSchedule"
    assert nodes["sim-1"]["metadata"]["labels"]["daskhub-lite.io/runtime"] == "simulated"
    assert all(c["status"] == "True" for n in nodes.values() for c in n["status"]["conditions"]
               if c["type"] == "Ready")

    def leases() -> set[str]:
        return {x["metadata"]["name"] for x in kubectl.json(
            "get", "leases", "-n", "kube-node-lease")["items"]}
    # Simulated nodes' first renewals are spread over their lease period.
    wait_for(lambda: set(nodes) <= leases(), timeout=10, interval=0.3)


def test_process_and_simulated_pods(kubectl: Kubectl) -> None:
    apply(kubectl, pod("real", "gpu-a", py("main", "print('ran')"), restartPolicy="Never"))
    apply(kubectl, pod("fake", "sim-2", {"name": "main", "image": "nginx"}))
    wait_phase(kubectl, "real", "Succeeded")
    assert kubectl.run("logs", "real").stdout == "ran\n"
    fake = wait_phase(kubectl, "fake", "Running")
    assert fake["status"]["containerStatuses"][0]["ready"] is True
    assert {c["type"]: c["status"] for c in fake["status"]["conditions"]}["Ready"] == "True"
    kubectl.run("delete", "pod", "fake", timeout=20)
    assert kubectl.run("get", "pod", "fake", check=False).returncode != 0


@pytest.mark.parametrize("entry, message", [
    ({"name": "x", "runtime": "docker"}, "nodes[0] (x): `runtime` must be one of"),
    ({"name": "x", "count": 0}, "nodes[0] (x): `count` must be a positive integer"),
    ({"name": "x", "capacity": {"cpu": "lots"}}, "nodes[0] (x): capacity.cpu"),
    ({"name": "Bad_Name"}, "`name` must be a lowercase DNS-1123 name"),
    ({"name": "x", "taints": [{"key": "k", "effect": "Never"}]}, "taints[0].effect"),
    ({"name": "x", "cpu": 3}, "unknown field(s) cpu"),
])
def test_bad_nodes_file_names_the_entry(tmp_path: Path, entry: dict[str, object],
                                        message: str) -> None:
    with pytest.raises(RuntimeError, match="control plane failed to start") as info:
        ControlPlane(data_dir=tmp_path, nodes=[entry]).start()
    assert message in str(info.value)
