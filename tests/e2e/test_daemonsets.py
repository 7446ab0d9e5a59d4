"""DaemonSets end to end with real kubectl: three simulated nodes from a nodes list (one
with a GPU label and taint); the real scheduler binds the pinned pods."""

from __future__ import annotations

import json
import sys
from typing import Any, Iterator

import pytest

from orchestrator import ControlPlane
from tests.conftest import Kubectl, wait_for

NODES = ["ds-a", "ds-b", "ds-gpu"]


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    nodes = [
        {"name": "ds-a", "runtime": "simulated"},
        {"name": "ds-b", "runtime": "simulated"},
        {"name": "ds-gpu", "runtime": "simulated",
         "labels": {"nvidia.com/gpu.product": "A100"},
         "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]},
    ]
    with ControlPlane(data_dir=tmp_path_factory.mktemp("cp"), nodes=nodes) as cp:
        yield cp


def manifest(name: str, image: str = "v1", **pod_spec: Any) -> str:
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{
                     "name": "main", "image": image,
                     "command": [sys.executable, "-c", "import time; time.sleep(600)"]}],
                     **pod_spec}}}})


def placement(kubectl: Kubectl, app: str) -> list[str]:
    return sorted(p["spec"].get("nodeName") or "-" for p in kubectl.json(
        "get", "pods", "-l", f"app={app}")["items"] if not p["metadata"].get("deletionTimestamp"))


def test_one_pod_per_tolerated_node(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", input=manifest("agent"))
    wait_for(lambda: placement(kubectl, "agent") == ["ds-a", "ds-b"], timeout=30)
    kubectl.run("rollout", "status", "daemonset/agent", "--timeout=30s", timeout=40)
    status = kubectl.json("get", "ds", "agent")["status"]
    assert status["desiredNumberScheduled"] == 2 and status["numberReady"] == 2
    pod = kubectl.json("get", "pods", "-l", "app=agent")["items"][0]
    term = pod["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert term["matchFields"][0]["key"] == "metadata.name"
    assert any(t["key"] == "node.kubernetes.io/unschedulable" for t in pod["spec"]["tolerations"])


def test_toleration_reaches_all_three_nodes(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", input=manifest("everywhere", tolerations=[
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]))
    wait_for(lambda: placement(kubectl, "everywhere") == NODES, timeout=30)
    kubectl.run("rollout", "status", "daemonset/everywhere", "--timeout=30s", timeout=40)
    status = kubectl.json("get", "ds", "everywhere")["status"]
    assert (status["desiredNumberScheduled"], status["currentNumberScheduled"],
            status["numberAvailable"], status["updatedNumberScheduled"]) == (3, 3, 3, 3)


def test_node_selector_and_rolling_update(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", input=manifest(
        "gpu-only", nodeSelector={"nvidia.com/gpu.product": "A100"},
        tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists"}]))
    wait_for(lambda: placement(kubectl, "gpu-only") == ["ds-gpu"], timeout=30)
    kubectl.run("set", "image", "daemonset/everywhere", "main=v2")
    kubectl.run("rollout", "status", "daemonset/everywhere", "--timeout=60s", timeout=70)
    images = {p["spec"]["containers"][0]["image"] for p in kubectl.json(
        "get", "pods", "-l", "app=everywhere")["items"] if not p["metadata"].get(
        "deletionTimestamp")}
    assert images == {"v2"}
    assert placement(kubectl, "everywhere") == NODES


def test_affinity_and_a_tolerate_everything_toleration(kubectl: Kubectl) -> None:
    # The controller and the scheduler read the same terms and tolerations (one copy in
    # orchestrator.api), so every pod the controller wants is bound, none left Pending.
    kubectl.run("apply", "-f", "-", input=manifest(
        "not-a100", tolerations=[{"operator": "Exists"}],
        affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "nvidia.com/gpu.product", "operator": "NotIn", "values": ["A100"]}]}]}}}))
    wait_for(lambda: placement(kubectl, "not-a100") == ["ds-a", "ds-b"], timeout=30)
    kubectl.run("rollout", "status", "daemonset/not-a100", "--timeout=30s", timeout=40)
    status = kubectl.json("get", "ds", "not-a100")["status"]
    assert (status["desiredNumberScheduled"], status["numberReady"]) == (2, 2)


@pytest.mark.parametrize(("name", "pod_spec", "message"), [
    ("bad-affinity",
     {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
         "nodeSelectorTerms": [{"matchExpressions": [
             {"key": "zone", "operator": "in", "values": ["a"]}]}]}}}},
     "spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
     '.nodeSelectorTerms[0].matchExpressions[0].operator: Invalid value: "in": not a valid '
     "selector operator"),
    ("bad-toleration", {"tolerations": [{"key": "nvidia.com/gpu", "operator": "exists"}]},
     'spec.template.spec.tolerations[0].operator: Unsupported value: "exists": supported '
     'values: "Equal", "Exists"'),
])
def test_unknown_operators_are_refused(kubectl: Kubectl, name: str, pod_spec: dict[str, Any],
                                       message: str) -> None:
    proc = kubectl.run("apply", "-f", "-", input=manifest(name, **pod_spec), check=False)
    assert proc.returncode != 0
    assert f'The DaemonSet "{name}" is invalid: {message}' in proc.stderr
    assert kubectl.run("get", "ds", name, check=False).returncode != 0  # nothing was stored
