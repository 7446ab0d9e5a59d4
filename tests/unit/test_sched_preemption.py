"""Preemption planning: victims of lower priority, on one node, PDBs respected, least
fragmentation."""

from __future__ import annotations

from typing import Any

from orchestrator.scheduler.podinfo import PodInfo
from orchestrator.scheduler.policies import make_scheduler
from orchestrator.scheduler.preemption import (
    plan_gang_preemption,
    plan_preemption,
    waiting_on_terminating,
)
from orchestrator.scheduler.scheduler import Scheduler
from orchestrator.scheduler.state import ClusterState
from tests.unit.test_sched_helpers import GPU_TAINT, cluster, node, pod


def prio(name: str, priority: int, **resources: str) -> dict[str, Any]:
    return pod(name, spec={"priority": priority}, **resources)


def put(state: ClusterState, raw: dict[str, Any], node_name: str, devices: str = "") -> PodInfo:
    if devices:
        raw["metadata"].setdefault("annotations", {})["daskhub-lite.io/gpu-devices"] = devices
    info = PodInfo.from_pod(raw)
    state.add_bound_pod(info, node_name)
    return info


def gpu_node(name: str, gpus: int = 2) -> dict[str, Any]:
    return node(name, gpus=gpus, taints=[GPU_TAINT])


def test_no_plan_when_nothing_of_lower_priority_is_in_the_way() -> None:
    state = cluster(gpu_node("g0"))
    put(state, prio("a", 100, gpu="2"), "g0", "0:1000,1:1000")
    sched = make_scheduler()
    assert plan_preemption(sched, state, PodInfo.from_pod(prio("p", 100, gpu="1"))) is None
    assert plan_preemption(sched, state, PodInfo.from_pod(prio("p", 50, gpu="1"))) is None


def test_the_fewest_lowest_priority_victims_are_chosen() -> None:
    state = cluster(gpu_node("g0"))
    put(state, prio("low", 1, gpu="1"), "g0", "0:1000")
    put(state, prio("mid", 5, gpu="1"), "g0", "1:1000")
    plan = plan_preemption(make_scheduler(), state, PodInfo.from_pod(prio("p", 10, gpu="1")))
    assert plan is not None
    assert plan.node == "g0" and plan.victim_keys == ("default/low",)
    assert plan.decision.devices == ((0, 1000),)
    # Planning leaves the state alone.
    assert set(state.pod_nodes) == {"default/low", "default/mid"}


def test_the_node_with_the_least_important_victims_wins() -> None:
    state = cluster(gpu_node("g0", 1), gpu_node("g1", 1))
    put(state, prio("a", 5, gpu="1"), "g0", "0:1000")
    put(state, prio("b", 1, gpu="1"), "g1", "0:1000")
    plan = plan_preemption(make_scheduler(), state, PodInfo.from_pod(prio("p", 10, gpu="1")))
    assert plan is not None and (plan.node, plan.victim_keys) == ("g1", ("default/b",))


def test_shared_gpu_victims_free_one_whole_device() -> None:
    # Device 0 holds two halves, device 1 one 300-milli share: a whole-GPU preemptor needs one
    # device emptied; emptying device 1 costs one victim and keeps the halves together.
    state = cluster(gpu_node("g0"))
    put(state, prio("h1", 0, gpu_milli="500"), "g0", "0:500")
    put(state, prio("h2", 0, gpu_milli="500"), "g0", "0:500")
    put(state, prio("s", 0, gpu_milli="300"), "g0", "1:300")
    plan = plan_preemption(make_scheduler(), state, PodInfo.from_pod(prio("p", 10, gpu="1")))
    assert plan is not None
    assert plan.victim_keys == ("default/s",)
    assert plan.decision.devices == ((1, 1000),)


def test_fragmentation_decides_between_otherwise_equal_nodes() -> None:
    # One victim of priority 0 either way. On g0 the preemptor's 500 milli leaves half a
    # device; on g1 evicting a 600 share next to another one leaves [500, 400] free, which
    # the 600-milli workload could not use either: the measure weighs both, and the plan
    # picked must be the one with the smaller increase.
    def build(*names: str) -> ClusterState:
        state = cluster(*[gpu_node(n, 1 if n == "g0" else 2) for n in names])
        if "g0" in names:
            put(state, prio("whole", 0, gpu="1"), "g0", "0:1000")
        if "g1" in names:
            put(state, prio("x", 0, gpu_milli="600"), "g1", "0:600")
            put(state, prio("y", 0, gpu_milli="600"), "g1", "1:600")
        return state

    sched = make_scheduler()
    for i in range(5):  # teach the workload model that 600-milli shares are common
        sched.schedule_one(PodInfo.from_pod(prio(f"t{i}", 0, gpu_milli="600")), build("g0"))
    preemptor = PodInfo.from_pod(prio("p", 10, gpu_milli="500"))
    both = plan_preemption(sched, build("g0", "g1"), preemptor)
    alone = {n: plan_preemption(sched, build(n), preemptor) for n in ("g0", "g1")}
    assert both is not None and all(p is not None for p in alone.values())
    deltas = {n: p.fragmentation_delta for n, p in alone.items() if p is not None}
    assert deltas["g0"] != deltas["g1"]
    assert both.node == min(deltas, key=lambda n: deltas[n])
    assert len(both.victims) == 1


def test_pdbs_are_respected() -> None:
    state = cluster(gpu_node("g0", 1), gpu_node("g1", 1))
    put(state, prio("guarded", 0, gpu="1"), "g0", "0:1000")
    put(state, prio("free", 3, gpu="1"), "g1", "0:1000")
    budgets = {"default/guarded": ["default/pdb"]}

    def budgets_of(key: str) -> list[str]:
        return budgets.get(key, [])

    sched = make_scheduler()
    preemptor = PodInfo.from_pod(prio("p", 10, gpu="1"))
    plan = plan_preemption(sched, state, preemptor, budgets_of=budgets_of,
                           allowed={"default/pdb": 0})
    assert plan is not None and plan.victim_keys == ("default/free",)
    plan = plan_preemption(sched, state, preemptor, budgets_of=budgets_of,
                           allowed={"default/pdb": 1})
    assert plan is not None and plan.victim_keys == ("default/guarded",)


def test_unresolvable_nodes_are_not_candidates() -> None:
    state = cluster(node("cpu0"))
    put(state, prio("c", 0, cpu="8"), "cpu0")
    # A GPU pod cannot land on a CPU node however many pods go.
    assert plan_preemption(make_scheduler(), state, PodInfo.from_pod(prio("p", 10, gpu="1"))) is None
    # A CPU pod can.
    plan = plan_preemption(make_scheduler(), state, PodInfo.from_pod(prio("p", 10, cpu="2")))
    assert plan is not None and plan.victim_keys == ("default/c",)


def test_terminating_pods_count_as_gone_and_are_waited_for() -> None:
    state = cluster(gpu_node("g0", 1))
    put(state, prio("leaving", 0, gpu="1"), "g0", "0:1000")
    preemptor = PodInfo.from_pod(prio("p", 10, gpu="1"))
    assert plan_preemption(make_scheduler(), state, preemptor,
                           terminating={"default/leaving"}) is None
    assert waiting_on_terminating(state, preemptor, "g0", {"default/leaving"})
    assert not waiting_on_terminating(state, preemptor, "g0", set())


def test_bad_requests_never_preempt() -> None:
    state = cluster(gpu_node("g0", 1))
    put(state, prio("a", 0, gpu="1"), "g0", "0:1000")
    sched: Scheduler = make_scheduler()
    bad = PodInfo.from_pod(prio("p", 10, gpu_milli="1500"))
    assert bad.request_error and plan_preemption(sched, state, bad) is None


# -- the disruption controller's status, which pods/eviction (and so preemption) reads --------

def _ready(name: str, app: str, ready: bool = True) -> dict[str, Any]:
    raw = pod(name, labels={"app": app})
    raw["status"] = {"phase": "Running",
                     "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    return raw


def test_pdb_status_min_available_and_max_unavailable() -> None:
    from orchestrator.controllers.disruption import plan_status

    pods = [_ready("a", "web"), _ready("b", "web"), _ready("c", "web", ready=False),
            _ready("d", "other")]
    pdb = {"metadata": {"name": "web", "generation": 2},
           "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}}
    status = plan_status(pdb, pods)
    assert (status["expectedPods"], status["currentHealthy"], status["desiredHealthy"],
            status["disruptionsAllowed"]) == (3, 2, 1, 1)
    assert status["conditions"][0]["reason"] == "SufficientPods"
    pdb["spec"] = {"maxUnavailable": "50%", "selector": {"matchLabels": {"app": "web"}}}
    status = plan_status(pdb, pods)  # 50% of 3 rounds up to 2 unavailable: 1 must stay
    assert (status["desiredHealthy"], status["disruptionsAllowed"]) == (1, 1)
    pdb["spec"] = {"minAvailable": "100%", "selector": {"matchLabels": {"app": "web"}}}
    status = plan_status(pdb, pods)
    assert status["disruptionsAllowed"] == 0
    assert status["conditions"][0]["status"] == "False"


# -- nominated pods: the node a preemptor evicted on is held for it ----------------------

HELD = "node(s) were held for a preempting pod of equal or higher priority"


def test_a_held_node_turns_away_pods_of_equal_or_lower_priority_only() -> None:
    sched = make_scheduler()
    state = cluster(gpu_node("g0"), gpu_node("g1"))
    state.nominate("default/preemptor", "g0", 100)
    for priority, expected in ((0, "g1"), (100, "g1"), (200, "g0")):
        info = PodInfo.from_pod(prio(f"p{priority}", priority, gpu="1"))
        assert sched.schedule_one(info, state).node == expected, priority
    only = cluster(gpu_node("g0"))
    only.nominate("default/preemptor", "g0", 100)
    decision = sched.schedule_one(PodInfo.from_pod(prio("low", 10, gpu="1")), only)
    assert decision.node is None
    assert decision.message == f"0/1 nodes are available: 1 {HELD}."


def test_dropping_the_nomination_frees_the_node_and_node_updates_keep_it() -> None:
    sched = make_scheduler()
    state = cluster(gpu_node("g0"))
    state.nominate("default/preemptor", "g0", 100)
    state.add_node(state.nodes["g0"].info)  # a node update (heartbeat, label change)
    low = PodInfo.from_pod(prio("low", 10, gpu="1"))
    assert sched.schedule_one(low, state).node is None
    assert state.unnominate("default/preemptor") is True
    assert state.unnominate("default/preemptor") is False
    assert sched.schedule_one(low, state).node == "g0"


def test_nominating_again_moves_the_hold() -> None:
    state = cluster(gpu_node("g0"), gpu_node("g1"))
    state.nominate("default/preemptor", "g0", 100)
    state.nominate("default/preemptor", "g1", 100)
    assert state.nodes["g0"].reserved_for is None
    assert state.nodes["g1"].reserved_for == 100
    state.remove_node("g1")
    assert state.unnominate("default/preemptor") is False


def test_a_held_node_is_not_a_preemption_candidate_for_lower_priority_pods() -> None:
    sched = make_scheduler()
    state = cluster(gpu_node("g0"), gpu_node("g1"))
    put(state, prio("a", 0, gpu="2"), "g0", "0:1000,1:1000")
    put(state, prio("b", 0, gpu="2"), "g1", "0:1000,1:1000")
    state.nominate("default/first", "g0", 100)
    plan = plan_preemption(sched, state, PodInfo.from_pod(prio("second", 50, gpu="1")))
    assert plan is not None and plan.node == "g1"
    assert plan_preemption(sched, state, PodInfo.from_pod(prio("third", 200, gpu="1"))) is not None


# -- pod groups preempt as a whole -------------------------------------------------------

def snapshot(state: ClusterState) -> tuple[dict[str, str], dict[str, list[int]]]:
    return dict(state.pod_nodes), {n: list(s.gpu_free) for n, s in state.nodes.items()}


def members(count: int, priority: int, gpus: str) -> list[PodInfo]:
    return [PodInfo.from_pod(prio(f"m{i}", priority, gpu=gpus)) for i in range(count)]


def test_a_group_evicts_enough_for_all_its_members_at_once() -> None:
    state = cluster(gpu_node("g0"), gpu_node("g1"))
    for n in ("g0", "g1"):
        put(state, prio(f"{n}-a", 0, gpu="1"), n, "0:1000")
        put(state, prio(f"{n}-b", 0, gpu="1"), n, "1:1000")
    before = snapshot(state)
    plan = plan_gang_preemption(make_scheduler(), state, members(2, 100, "2"), 2)
    assert plan is not None
    assert sorted(v.name for v, _ in plan.victims) == ["g0-a", "g0-b", "g1-a", "g1-b"]
    assert sorted(d.node or "" for _, d in plan.placements) == ["g0", "g1"]
    assert snapshot(state) == before  # tried, then undone


def test_a_group_evicts_only_where_it_must() -> None:
    state = cluster(gpu_node("g0"), gpu_node("g1"))
    put(state, prio("busy-a", 0, gpu="1"), "g1", "0:1000")
    put(state, prio("busy-b", 0, gpu="1"), "g1", "1:1000")
    plan = plan_gang_preemption(make_scheduler(), state, members(2, 100, "2"), 2)
    assert plan is not None
    assert sorted(v.name for v, _ in plan.victims) == ["busy-a", "busy-b"]


def test_no_group_plan_when_not_enough_members_can_fit_or_budgets_forbid() -> None:
    state = cluster(gpu_node("g0"), gpu_node("g1"))
    put(state, prio("low-a", 0, gpu="1"), "g0", "0:1000")
    put(state, prio("low-b", 0, gpu="1"), "g0", "1:1000")
    put(state, prio("high", 500, gpu="2"), "g1", "0:1000,1:1000")
    before = snapshot(state)
    sched = make_scheduler()
    assert plan_gang_preemption(sched, state, members(2, 100, "2"), 2) is None
    assert snapshot(state) == before
    assert plan_gang_preemption(sched, state, members(2, 100, "2"), 1) is not None
    # One disruption allowed by the budget covering both low pods: not enough for a member.
    assert plan_gang_preemption(sched, state, members(2, 100, "2"), 1,
                                budgets_of=lambda key: ["pdb"] if "low" in key else [],
                                allowed={"pdb": 1}) is None


def test_terminating_pods_are_counted_gone_for_a_group_too() -> None:
    state = cluster(gpu_node("g0"))
    put(state, prio("leaving", 0, gpu="1"), "g0", "0:1000")
    put(state, prio("staying", 0, gpu="1"), "g0", "1:1000")
    plan = plan_gang_preemption(make_scheduler(), state, members(1, 100, "2"), 1,
                                terminating={"default/leaving"})
    assert plan is not None and [v.name for v, _ in plan.victims] == ["staying"]
    assert "default/leaving" in state.pod_nodes  # set aside during the trial only
