"""Each filter and score plugin on its own: kube-scheduler's reasons, and what scores prefer."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.scheduler import filters
from orchestrator.scheduler.fragmentation import FgdScore, HybridFragScore, StrandedGpuScore
from orchestrator.scheduler.framework import Status
from orchestrator.scheduler.nodeinfo import NodeInfo
from orchestrator.scheduler.podinfo import PodInfo
from orchestrator.scheduler.scores import BestFit, GpuNodeAvoidance, LeastDeviceShare
from orchestrator.scheduler.state import ClusterState, NodeState

from .test_sched_helpers import GPU_TAINT, node, pod


def state_of(raw_node: dict[str, Any], *bound: tuple[dict[str, Any], tuple[tuple[int, int], ...]]) -> NodeState:
    state = ClusterState()
    state.add_node(NodeInfo.from_node(raw_node))
    name = raw_node["metadata"]["name"]
    for raw_pod, devices in bound:
        state.assume(PodInfo.from_pod(raw_pod), name, devices)
    return state.nodes[name]


def reasons(status: Status | None) -> tuple[str, ...] | None:
    return None if status is None else status.reasons


def test_node_name() -> None:
    plugin = filters.NodeName()
    assert plugin.filter(PodInfo.from_pod(pod("p", spec={"nodeName": "a"})), state_of(node("a"))) is None
    assert reasons(plugin.filter(PodInfo.from_pod(pod("p", spec={"nodeName": "a"})), state_of(node("b")))) == (
        "node(s) didn't match the requested node name",)


def test_node_unschedulable() -> None:
    plugin = filters.NodeUnschedulable()
    assert reasons(plugin.filter(PodInfo.from_pod(pod("p")), state_of(node("a", unschedulable=True)))) == (
        "node(s) were unschedulable",)
    tolerant = pod("p", spec={"tolerations": [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists"}]})
    assert plugin.filter(PodInfo.from_pod(tolerant), state_of(node("a", unschedulable=True))) is None


@pytest.mark.parametrize(("spec", "ok"), [
    ({"nodeSelector": {"pool": "gpu"}}, True),
    ({"nodeSelector": {"pool": "cpu"}}, False),
    ({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In", "values": ["H100"]}]},
        {"matchExpressions": [{"key": "pool", "operator": "Exists"}]}]}}}}, True),
    ({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "NotIn", "values": ["A100"]}]}]}}}}, False),
    ({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "rank", "operator": "Gt", "values": ["3"]}]}]}}}}, True),
    ({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["other"]}]}]}}}}, False),
])
def test_node_affinity(spec: dict[str, Any], ok: bool) -> None:
    target = state_of(node("a", gpus=1, model="A100", labels={"pool": "gpu", "rank": "5"}))
    status = filters.NodeAffinity().filter(PodInfo.from_pod(pod("p", spec=spec)), target)
    assert reasons(status) == (None if ok else ("node(s) didn't match Pod's node affinity/selector",))


def test_taints_keep_cpu_pods_off_gpu_nodes_but_not_gpu_pods() -> None:
    plugin = filters.TaintToleration()
    gpu_node = state_of(node("g", gpus=1, taints=[GPU_TAINT]))
    assert reasons(plugin.filter(PodInfo.from_pod(pod("cpu")), gpu_node)) == (
        "node(s) had untolerated taint {nvidia.com/gpu: present}",)
    assert plugin.filter(PodInfo.from_pod(pod("gpu", gpu="1")), gpu_node) is None
    assert plugin.filter(PodInfo.from_pod(pod("share", gpu_milli="10")), gpu_node) is None
    prefer = state_of(node("s", taints=[{"key": "k", "value": "v", "effect": "PreferNoSchedule"}]))
    assert plugin.filter(PodInfo.from_pod(pod("cpu")), prefer) is None


def test_gpu_model_shorthand() -> None:
    plugin = filters.GpuModel()
    wants = PodInfo.from_pod(pod("p", gpu="1", annotations={"daskhub-lite.io/gpu-models": "A100|H100"}))
    assert plugin.filter(wants, state_of(node("h", gpus=1, model="H100"))) is None
    assert reasons(plugin.filter(wants, state_of(node("t", gpus=1, model="T4")))) == (
        "node(s) didn't have the requested GPU model (A100|H100)",)


def test_resource_fit_reports_every_shortage() -> None:
    plugin = filters.ResourceFit()
    small = state_of(node("a", cpu="1", memory="1Gi", extra={"nvidia.com/mig-1g.5gb": "1"}))
    assert reasons(plugin.filter(PodInfo.from_pod(pod("p", cpu="2", memory="2Gi")), small)) == (
        "Insufficient cpu", "Insufficient memory")
    mig = PodInfo.from_pod(pod("p", cpu="100m", memory="1Mi", **{"nvidia.com/mig-1g.5gb": "2"}))
    assert reasons(plugin.filter(mig, small)) == ("Insufficient nvidia.com/mig-1g.5gb",)
    assert plugin.filter(PodInfo.from_pod(pod("p", cpu="1", memory="1Gi")), small) is None


def test_resource_fit_counts_pods() -> None:
    raw = node("a")
    raw["status"]["allocatable"]["pods"] = "1"
    full = state_of(raw, (pod("x", cpu="10m", memory="1Mi"), ()))
    assert reasons(filters.ResourceFit().filter(PodInfo.from_pod(pod("p", cpu="10m", memory="1Mi")), full)) == (
        "Too many pods",)


def test_gpu_fit_whole_gpus_need_wholly_free_devices() -> None:
    plugin = filters.GpuFit()
    half_used = state_of(node("g", gpus=2), (pod("s", gpu_milli="500"), ((0, 500),)))
    assert plugin.filter(PodInfo.from_pod(pod("one", gpu="1")), half_used) is None
    assert reasons(plugin.filter(PodInfo.from_pod(pod("two", gpu="2")), half_used)) == (
        "Insufficient nvidia.com/gpu",)
    assert reasons(plugin.filter(PodInfo.from_pod(pod("one", gpu="1")), state_of(node("cpu")))) == (
        "Insufficient nvidia.com/gpu",)


def test_gpu_fit_a_share_must_fit_inside_one_device() -> None:
    plugin = filters.GpuFit()
    split = state_of(node("g", gpus=2), (pod("a", gpu_milli="600"), ((0, 600),)),
                     (pod("b", gpu_milli="600"), ((1, 600),)))
    assert plugin.filter(PodInfo.from_pod(pod("p", gpu_milli="400")), split) is None
    # 800 milli are free in total, but no single device has 500.
    assert reasons(plugin.filter(PodInfo.from_pod(pod("p", gpu_milli="500")), split)) == (
        "Insufficient daskhub-lite.io/gpu-milli",)


def test_best_fit_prefers_the_fuller_node() -> None:
    plugin, share = BestFit(), PodInfo.from_pod(pod("p", gpu="1"))
    empty = state_of(node("e", gpus=4))
    fuller = state_of(node("f", gpus=4), (pod("x", gpu="2"), ((0, 1000), (1, 1000))))
    assert plugin.score(share, fuller, ((2, 1000),)) > plugin.score(share, empty, ((0, 1000),))


def test_cpu_pods_prefer_nodes_without_gpus() -> None:
    plugin = GpuNodeAvoidance()
    cpu_pod, gpu_pod = PodInfo.from_pod(pod("c")), PodInfo.from_pod(pod("g", gpu="1"))
    assert plugin.score(cpu_pod, state_of(node("c")), ()) > plugin.score(cpu_pod, state_of(node("g", gpus=1)), ())
    assert plugin.score(gpu_pod, state_of(node("g", gpus=1)), ((0, 1000),)) == 0.0


def test_least_device_share_prefers_the_fullest_device_that_fits() -> None:
    plugin, share = LeastDeviceShare(), PodInfo.from_pod(pod("p", gpu_milli="300"))
    target = state_of(node("g", gpus=2), (pod("x", gpu_milli="600"), ((0, 600),)))
    assert plugin.score(share, target, ((0, 300),)) > plugin.score(share, target, ((1, 300),))


@pytest.mark.parametrize("plugin_type", [FgdScore, HybridFragScore])
def test_fragmentation_scores_pair_a_share_with_its_complement(plugin_type: type) -> None:
    """With 810 and 190 milli pods in the mix, a 190 share belongs beside an 810, not on a
    fresh GPU where it would spoil a device the 810s need."""
    plugin = plugin_type()
    for _ in range(3):
        plugin.observe(PodInfo.from_pod(pod("big", gpu_milli="810")))
    small = PodInfo.from_pod(pod("small", gpu_milli="190"))
    plugin.observe(small)
    target = state_of(node("g", gpus=2, cpu="64", memory="256Gi"), (pod("x", gpu_milli="810"), ((0, 810),)))
    assert plugin.score(small, target, ((0, 190),)) > plugin.score(small, target, ((1, 190),))


def test_stranded_score_sees_cpu_running_out_before_gpus() -> None:
    """A CPU-only pod should not eat the CPU that a node's free GPUs need."""
    plugin = StrandedGpuScore()
    gpu_pod = PodInfo.from_pod(pod("g", cpu="8", memory="1Gi", gpu="1"))
    cpu_pod = PodInfo.from_pod(pod("c", cpu="8", memory="1Gi"))
    plugin.observe(gpu_pod)
    idle_gpus = state_of(node("a", cpu="16", memory="64Gi", gpus=2))
    busy_gpus = state_of(node("b", cpu="16", memory="64Gi", gpus=2),
                         (pod("x", cpu="1", memory="1Gi", gpu="2"), ((0, 1000), (1, 1000))))
    assert plugin.score(cpu_pod, busy_gpus, ()) > plugin.score(cpu_pod, idle_gpus, ())


def test_gpu_model_shorthand_matches_whole_words_of_the_product() -> None:
    from orchestrator.scheduler.filters import model_matches

    assert model_matches("NVIDIA-A100-SXM4-40GB", frozenset({"A100"}))
    assert model_matches("Tesla V100-SXM2-16GB", frozenset({"v100"}))
    assert model_matches("A100", frozenset({"A100", "H100"}))
    assert not model_matches("NVIDIA-A100-PCIE", frozenset({"A10"}))
    assert not model_matches("H100-SXM", frozenset({"A100"}))
