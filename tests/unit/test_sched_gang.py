"""Gang scheduling: all-or-nothing placement of a pod group, and why a group waits."""

from __future__ import annotations

from typing import Any

from orchestrator.scheduler.gang import group_key, plan_gang, trial
from orchestrator.scheduler.podinfo import PodInfo
from orchestrator.scheduler.policies import make_scheduler
from tests.unit.test_sched_helpers import GPU_TAINT, cluster, node, pod, place


def member(name: str, group: str = "dask-x", size: int = 4, **resources: str) -> PodInfo:
    raw: dict[str, Any] = pod(name, labels={"daskhub-lite.io/pod-group": group},
                              annotations={"daskhub-lite.io/min-member": str(size)}, **resources)
    return PodInfo.from_pod(raw)


def gpu_nodes(count: int, gpus: int = 2) -> list[dict[str, Any]]:
    return [node(f"g{i}", gpus=gpus, taints=[GPU_TAINT]) for i in range(count)]


def test_group_key_reads_both_conventions() -> None:
    assert group_key(member("w0")) == "default/dask-x"
    volcano = PodInfo.from_pod(pod("v", annotations={"scheduling.k8s.io/group-name": "job-1"}))
    assert group_key(volcano) == "default/job-1"
    assert group_key(PodInfo.from_pod(pod("alone"))) is None


def test_a_group_that_fits_is_placed_whole_and_the_state_is_untouched() -> None:
    state = cluster(*gpu_nodes(2))
    members = [member(f"w{i}", gpu="1") for i in range(4)]
    before = {n: list(s.gpu_free) for n, s in state.nodes.items()}
    plan = plan_gang(make_scheduler(), state, "default/dask-x", 4, members, bound=0)
    assert plan.placed and not plan.message
    assert len(plan.decisions) == 4
    assert {n: list(s.gpu_free) for n, s in state.nodes.items()} == before
    assert not state.pod_nodes
    # The decisions hold together: applying them in order over-commits nothing.
    for info, decision in plan.decisions:
        make_scheduler().assume(state, info, decision)
    assert all(f >= 0 for s in state.nodes.values() for f in s.gpu_free)
    assert sum(f for s in state.nodes.values() for f in s.gpu_free) == 0


def test_three_of_four_fitting_places_none() -> None:
    state = cluster(*gpu_nodes(2))
    scheduler = make_scheduler()
    assert place(scheduler, state, pod("squatter", gpu="1"))[0] is not None
    members = [member(f"w{i}", gpu="1") for i in range(4)]
    plan = plan_gang(scheduler, state, "default/dask-x", 4, members, bound=0)
    assert not plan.placed
    assert plan.message.startswith(
        'pod group "dask-x": 3/4 members can be placed; waiting for the whole group. w')
    assert "Insufficient nvidia.com/gpu" in plan.message
    assert set(state.pod_nodes) == {"default/squatter"}


def test_members_not_yet_created_are_waited_for() -> None:
    state = cluster(*gpu_nodes(2))
    plan = plan_gang(make_scheduler(), state, "default/dask-x", 4,
                     [member("w0", gpu="1"), member("w1", gpu="1")], bound=1)
    assert plan.message == ('pod group "dask-x": 3/4 members exist; waiting for the rest to be '
                            "created")


def test_bound_members_count_towards_the_minimum() -> None:
    state = cluster(*gpu_nodes(1))
    plan = plan_gang(make_scheduler(), state, "default/dask-x", 4,
                     [member("w2", gpu="1"), member("w3", gpu="1")], bound=2)
    assert plan.placed and len(plan.decisions) == 2


def test_a_group_larger_than_the_cluster_says_so() -> None:
    state = cluster(*gpu_nodes(2), node("cpu0"))
    members = [member(f"w{i}", size=5, gpu="1") for i in range(5)]
    plan = plan_gang(make_scheduler(), state, "default/dask-x", 5, members, bound=0)
    assert not plan.placed
    assert plan.message.startswith(
        'pod group "dask-x": needs 5 members placed together but at most 4 fit even on an empty '
        "cluster of 3 node(s); the group is larger than the cluster.")


def test_a_member_that_can_never_fit_blocks_the_group_with_its_reason() -> None:
    state = cluster(*gpu_nodes(2))
    members = [member("w0", size=2, gpu="1"), member("w1", size=2, gpu_milli="1500")]
    plan = plan_gang(make_scheduler(), state, "default/dask-x", 2, members, bound=0)
    assert not plan.placed
    assert plan.message.startswith('pod group "dask-x": member w1 can never be placed')
    assert "1500 is more than one GPU" in plan.message


def test_bigger_members_are_tried_first() -> None:
    # One 2-GPU node and one 1-GPU node: in name order the 1-GPU member could take the
    # 2-GPU node's device and strand the 2-GPU member; biggest-first places both.
    state = cluster(node("a", gpus=2, taints=[GPU_TAINT]), node("b", gpus=1, taints=[GPU_TAINT]))
    members = [member("a-small", size=2, gpu="1"), member("z-big", size=2, gpu="2")]
    plan = plan_gang(make_scheduler(), state, "default/dask-x", 2, members, bound=0)
    assert plan.placed
    assert {i.name: d.node for i, d in plan.decisions} == {"z-big": "a", "a-small": "b"}


def test_trial_skips_pods_already_in_the_state() -> None:
    state = cluster(*gpu_nodes(1))
    scheduler = make_scheduler()
    info = member("w0", gpu="1")
    decision = scheduler.schedule_one(info, state)
    scheduler.assume(state, info, decision)
    placed, failed = trial(scheduler, state, [info, member("w1", gpu="1")])
    assert [i.name for i, _ in placed] == ["w1"] and not failed
    assert set(state.pod_nodes) == {"default/w0"}
