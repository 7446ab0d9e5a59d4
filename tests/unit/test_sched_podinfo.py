"""PodInfo.from_pod and NodeInfo.from_node: requests, GPU requests, constraints, devices."""

from __future__ import annotations

import pytest

from orchestrator.api.taints import Taint, Toleration
from orchestrator.scheduler.nodeinfo import NodeInfo
from orchestrator.scheduler.podinfo import GpuRequest, PodGroupRef, PodInfo

from .test_sched_helpers import GPU_TAINT, node, pod

GI = 2**30 * 1000  # one GiB in milli-bytes


def test_requests_sum_containers_take_max_of_init_and_add_overhead() -> None:
    raw = pod("p", cpu="1", memory="1Gi")
    raw["spec"]["containers"].append({"name": "b", "resources": {"requests": {"cpu": "500m"}}})
    raw["spec"]["initContainers"] = [
        {"name": "big-init", "resources": {"requests": {"cpu": "3", "memory": "512Mi"}}}]
    raw["spec"]["overhead"] = {"cpu": "100m"}
    info = PodInfo.from_pod(raw)
    assert info.cpu == 3100  # max(1 + 0.5, 3) + 0.1
    assert info.memory == GI


def test_sidecar_init_containers_add_to_running_containers() -> None:
    raw = pod("p", cpu="1")
    raw["spec"]["initContainers"] = [
        {"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "1"}}}]
    assert PodInfo.from_pod(raw).cpu == 2000


def test_limits_stand_in_for_missing_requests() -> None:
    raw = pod("p")
    raw["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "2", "nvidia.com/gpu": "1"}}
    info = PodInfo.from_pod(raw)
    assert info.cpu == 2000 and info.gpu == GpuRequest(1, 1000)


@pytest.mark.parametrize(("resources", "expected"), [
    ({"gpu": "2"}, GpuRequest(2, 1000)),
    ({"gpu_milli": "460"}, GpuRequest(1, 460)),
    ({"gpu_milli": "1000"}, GpuRequest(1, 1000)),
    ({}, GpuRequest(0, 0)),
])
def test_gpu_requests(resources: dict[str, str], expected: GpuRequest) -> None:
    info = PodInfo.from_pod(pod("p", **resources))
    assert info.gpu == expected and info.request_error is None


def test_a_shared_request_is_marked_shared() -> None:
    assert PodInfo.from_pod(pod("p", gpu_milli="460")).gpu.shared
    assert not PodInfo.from_pod(pod("p", gpu_milli="1000")).gpu.shared


@pytest.mark.parametrize(("resources", "message"), [
    ({"gpu_milli": "1500"},
     "daskhub-lite.io/gpu-milli: 1500 is more than one GPU; a shared-GPU request must be 1..1000 "
     "(1000 = one whole GPU), request whole GPUs with nvidia.com/gpu instead"),
    ({"nvidia.com/mig-1g.5gb": "0.5"},
     "nvidia.com/mig-1g.5gb: 500m is not a whole number of MIG slices; a MIG slice cannot be "
     "shared, request 1 or more"),
    ({"gpu": "500m"},
     "nvidia.com/gpu: 500m is not a whole number of GPUs; to share one GPU request "
     "daskhub-lite.io/gpu-milli (1..1000) instead"),
    ({"gpu": "1", "gpu_milli": "200"},
     "pod requests both nvidia.com/gpu and daskhub-lite.io/gpu-milli; ask for whole GPUs or "
     "one GPU share, not both"),
])
def test_impossible_gpu_requests_carry_an_exact_error(resources: dict[str, str], message: str) -> None:
    assert PodInfo.from_pod(pod("p", **resources)).request_error == message


def test_a_garbled_quantity_is_an_error_not_an_exception() -> None:
    info = PodInfo.from_pod(pod("p", cpu="lots"))
    assert info.request_error is not None and "lots" in info.request_error


def test_gpu_pods_tolerate_gpu_taints_like_extended_resource_toleration() -> None:
    expected = Toleration("nvidia.com/gpu", "Exists", "", "NoSchedule")
    assert expected in PodInfo.from_pod(pod("p", gpu_milli="100")).tolerations
    assert expected in PodInfo.from_pod(pod("p", **{"nvidia.com/mig-1g.5gb": "1"})).tolerations
    assert expected not in PodInfo.from_pod(pod("p")).tolerations


def test_constraints_are_read() -> None:
    spec = {"nodeSelector": {"pool": "gpu"}, "priority": 100,
            "tolerations": [{"key": "k", "operator": "Exists"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "nvidia.com/gpu.product", "operator": "In", "values": ["H100"]}]}]}}}}
    info = PodInfo.from_pod(pod("p", spec=spec, annotations={"daskhub-lite.io/gpu-models": "A100|H100"}))
    assert info.node_affinity.node_selector == (("pool", "gpu"),)
    assert info.priority == 100
    assert info.gpu_models == frozenset({"A100", "H100"})
    terms = info.node_affinity.terms
    assert terms is not None and terms[0].expressions[0].values == ("H100",)
    assert Toleration("k", "Exists") in info.tolerations
    assert not info.uses_node_identity


def test_selectors_on_hostnames_mark_the_pod_as_node_specific() -> None:
    info = PodInfo.from_pod(pod("p", spec={"nodeSelector": {"kubernetes.io/hostname": "n1"}}))
    assert info.uses_node_identity


@pytest.mark.parametrize(("labels", "annotations", "expected"), [
    ({"daskhub-lite.io/pod-group": "g"}, {"daskhub-lite.io/min-member": "4"}, PodGroupRef("g", 4)),
    ({}, {"scheduling.k8s.io/group-name": "v"}, PodGroupRef("v", None)),
    ({}, {}, None),
])
def test_pod_groups(labels: dict[str, str], annotations: dict[str, str], expected: PodGroupRef | None) -> None:
    assert PodInfo.from_pod(pod("p", labels=labels, annotations=annotations)).group == expected


def test_device_annotation_is_read_from_bound_pods() -> None:
    info = PodInfo.from_pod(pod("p", gpu="2", annotations={"daskhub-lite.io/gpu-devices": "0:1000,3:1000"}))
    assert info.devices == ((0, 1000), (3, 1000))


def test_node_info_reads_gpus_taints_and_cordon() -> None:
    info = NodeInfo.from_node(node("g", gpus=4, model="H100", taints=[GPU_TAINT], unschedulable=True))
    assert [d.index for d in info.gpus] == [0, 1, 2, 3]
    assert info.gpu_model == "H100" and info.gpus[0].memory_mib == 40960
    assert info.taints == (Taint("nvidia.com/gpu", "present", "NoSchedule"),)
    assert info.unschedulable and info.allocatable["cpu"] == 8000


def test_nodes_differing_only_by_name_share_a_shape() -> None:
    assert NodeInfo.from_node(node("a", gpus=2)).shape_key == NodeInfo.from_node(node("b", gpus=2)).shape_key
    assert NodeInfo.from_node(node("a", gpus=2)).shape_key != NodeInfo.from_node(node("b", gpus=4)).shape_key
