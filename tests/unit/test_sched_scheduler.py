"""schedule_one end to end on small clusters: where pods land, and kube-style explanations."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.scheduler.framework import unschedulable_message
from orchestrator.scheduler.nodeinfo import NodeInfo
from orchestrator.scheduler.policies import POLICIES, make_scheduler
from orchestrator.scheduler.scheduler import NO_NODES_MESSAGE
from orchestrator.scheduler.state import NodeClass

from .test_sched_helpers import GPU_TAINT, cluster, node, pod, place


def test_message_format_matches_kube_scheduler() -> None:
    assert unschedulable_message(3, {"Insufficient nvidia.com/gpu": 2,
                                     "node(s) had untolerated taint {nvidia.com/gpu: present}": 1}) == (
        "0/3 nodes are available: 1 node(s) had untolerated taint {nvidia.com/gpu: present}, "
        "2 Insufficient nvidia.com/gpu.")


def test_unschedulable_pod_gets_reason_counts_over_all_nodes() -> None:
    state = cluster(node("cpu-a"), node("gpu-a", gpus=1, taints=[GPU_TAINT]),
                    node("gpu-b", gpus=1, taints=[GPU_TAINT]))
    scheduler = make_scheduler()
    assert place(scheduler, state, pod("one", gpu="1"))[0] == "gpu-a"
    assert place(scheduler, state, pod("two", gpu="1"))[0] == "gpu-b"
    assert place(scheduler, state, pod("three", gpu="1")) == (
        None, "", "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")
    assert place(scheduler, state, pod("big-cpu", cpu="64")) == (
        None, "", "0/3 nodes are available: 1 Insufficient cpu, "
                  "2 node(s) had untolerated taint {nvidia.com/gpu: present}.")


@pytest.mark.parametrize(("resources", "annotations", "message"), [
    ({"gpu_milli": "1500"}, {},
     "daskhub-lite.io/gpu-milli: 1500 is more than one GPU; a shared-GPU request must be 1..1000 "
     "(1000 = one whole GPU), request whole GPUs with nvidia.com/gpu instead"),
    ({"nvidia.com/mig-1g.5gb": "500m"}, {},
     "nvidia.com/mig-1g.5gb: 500m is not a whole number of MIG slices; a MIG slice cannot be "
     "shared, request 1 or more"),
    ({"gpu": "1"}, {"daskhub-lite.io/gpu-models": "H100"},
     "0/2 nodes are available: 2 node(s) didn't have the requested GPU model (H100)."),
    ({"gpu": "16"}, {},
     "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."),
])
def test_bad_requests_stay_pending_with_an_exact_message(
        resources: dict[str, str], annotations: dict[str, str], message: str) -> None:
    state = cluster(node("cpu"), node("gpu", gpus=8, model="A100"))
    assert place(make_scheduler(), state, pod("p", annotations=annotations, **resources)) == (None, "", message)


def test_gpu_model_through_node_affinity() -> None:
    affinity = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "nvidia.com/gpu.product", "operator": "In", "values": ["H100"]}]}]}}}}
    state = cluster(node("a100", gpus=1, model="A100"), node("h100", gpus=1, model="H100"))
    scheduler = make_scheduler()
    assert place(scheduler, state, pod("p", gpu="1", spec=affinity))[0] == "h100"
    assert place(scheduler, state, pod("q", gpu="1", spec=affinity)) == (
        None, "", "0/2 nodes are available: 1 Insufficient nvidia.com/gpu, "
                  "1 node(s) didn't match Pod's node affinity/selector.")


def test_a_shared_gpu_pair_lands_on_one_device() -> None:
    state = cluster(node("g1", gpus=4), node("g2", gpus=4))
    scheduler = make_scheduler()
    first = place(scheduler, state, pod("a", gpu_milli="500"))
    second = place(scheduler, state, pod("b", gpu_milli="500"))
    assert first[0] == second[0]
    assert first[1].split(":")[0] == second[1].split(":")[0]
    assert first[1].endswith(":500") and second[1].endswith(":500")


def test_cpu_pods_avoid_gpu_nodes_while_cpu_nodes_have_room() -> None:
    state = cluster(node("a-gpu", gpus=2), node("z-cpu", cpu="2"))
    scheduler = make_scheduler()
    assert place(scheduler, state, pod("c1", cpu="1"))[0] == "z-cpu"
    assert place(scheduler, state, pod("c2", cpu="1"))[0] == "z-cpu"
    assert place(scheduler, state, pod("c3", cpu="1"))[0] == "a-gpu"  # only room left


def test_whole_gpus_get_distinct_devices() -> None:
    state = cluster(node("g", gpus=4))
    scheduler = make_scheduler()
    assert place(scheduler, state, pod("a", gpu="2")) == ("g", "0:1000,1:1000", "")
    assert place(scheduler, state, pod("b", gpu="2")) == ("g", "2:1000,3:1000", "")
    assert place(scheduler, state, pod("c", gpu="1"))[0] is None


def test_node_name_pins_and_hostname_selectors_take_the_per_node_path() -> None:
    state = cluster(node("n1"), node("n2"), node("n3"))
    scheduler = make_scheduler()
    assert place(scheduler, state, pod("pinned", spec={"nodeName": "n3"}))[0] == "n3"
    assert place(scheduler, state, pod("sel", spec={"nodeSelector": {"kubernetes.io/hostname": "n2"}}))[0] == "n2"
    assert place(scheduler, state, pod("gone", spec={"nodeName": "n9"})) == (
        None, "", "0/3 nodes are available: 3 node(s) didn't match the requested node name.")


def test_no_nodes() -> None:
    assert place(make_scheduler(), cluster(), pod("p")) == (None, "", NO_NODES_MESSAGE)


def test_forget_frees_what_assume_took_and_the_pod_can_come_back() -> None:
    state = cluster(node("g", gpus=1))
    scheduler = make_scheduler()
    assert place(scheduler, state, pod("a", gpu="1"))[0] == "g"
    assert place(scheduler, state, pod("b", gpu="1"))[0] is None
    scheduler.forget(state, "default/a")
    assert state.nodes["g"].gpu_free == [1000]
    assert place(scheduler, state, pod("b", gpu="1")) == ("g", "0:1000", "")


def test_cached_classes_follow_node_changes() -> None:
    """Kinds of pods seen before must notice nodes filled, freed, added and removed since."""
    state = cluster(node("a", cpu="2"), node("b", cpu="2"))
    scheduler = make_scheduler()
    for name in ("p1", "p2", "p3", "p4"):
        assert place(scheduler, state, pod(name, cpu="1"))[0] is not None
    assert place(scheduler, state, pod("p5", cpu="1"))[2] == "0/2 nodes are available: 2 Insufficient cpu."
    scheduler.forget(state, "default/p2")
    assert place(scheduler, state, pod("p5", cpu="1"))[0] is not None
    state.add_node(NodeInfo.from_node(node("c", cpu="1")))
    assert place(scheduler, state, pod("p6", cpu="1"))[0] == "c"
    state.remove_node("c")
    assert place(scheduler, state, pod("p7", cpu="1"))[2] == "0/2 nodes are available: 2 Insufficient cpu."


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_every_policy_is_deterministic(policy: str) -> None:
    def run() -> list[tuple[str | None, str, str]]:
        state = cluster(*(node(f"n{i}", gpus=2 + i % 3) for i in range(6)))
        scheduler = make_scheduler(policy)
        shapes = ["300", "470", "810", "1000"]
        return [place(scheduler, state, pod(f"p{i}", cpu="500m", gpu_milli=shapes[i % 4])) for i in range(30)]
    assert run() == run()


def test_unknown_policy_is_reported() -> None:
    with pytest.raises(ValueError, match="unknown policy 'nope'; choose one of"):
        make_scheduler("nope")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.sampled_from([f"n{i}" for i in range(12)])),
                max_size=120))
def test_node_class_first_is_always_the_smallest_member(ops: list[tuple[bool, str]]) -> None:
    cls, members = NodeClass(), set()
    for add, name in ops:
        if add:
            cls.add(name)
            members.add(name)
        else:
            cls.discard(name)
            members.discard(name)
        assert cls.members == members
        if members:
            assert cls.first == min(members)
