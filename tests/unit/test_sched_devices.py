"""GPU device bookkeeping: the annotation format, and properties that must hold after any mix
of placements and removals (no device over-committed; free shares always equal what the bound
pods' annotations say; cached decisions equal fresh ones)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.scheduler import devices as dev
from orchestrator.scheduler.nodeinfo import NodeInfo
from orchestrator.scheduler.podinfo import PodInfo
from orchestrator.scheduler.policies import make_scheduler
from orchestrator.scheduler.state import ClusterState

from .test_sched_helpers import cluster, node, pod


def test_annotation_round_trip() -> None:
    assert dev.parse_device_annotation("0:1000,1:1000") == ((0, 1000), (1, 1000))
    assert dev.parse_device_annotation("3:460") == ((3, 460),)
    assert dev.format_device_annotation(((0, 1000), (1, 1000))) == "0:1000,1:1000"


@pytest.mark.parametrize("text", ["x:1", "0:0", "0:1001", "1:5,1:5", "-1:10", "0:abc"])
def test_malformed_annotations_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        dev.parse_device_annotation(text)


def test_free_shares_are_derived_from_bound_pods() -> None:
    assert dev.derive_free(3, [((0, 1000),), ((1, 460),), ((1, 320),)]) == [0, 220, 1000]


def test_bound_pods_restore_device_state_after_a_restart() -> None:
    state = cluster(node("g", gpus=2))
    state.add_bound_pod(PodInfo.from_pod(pod("a", gpu_milli="460", annotations={
        "daskhub-lite.io/gpu-devices": "1:460"})), "g")
    state.add_bound_pod(PodInfo.from_pod(pod("b", gpu="1")), "g")  # no annotation: chosen for it
    assert state.nodes["g"].gpu_free == [0, 540]
    assert state.placement_of("default/b") == ("g", ((0, 1000),))


def test_a_garbled_annotation_on_a_bound_pod_still_accounts_its_gpus() -> None:
    state = cluster(node("g", gpus=2))
    raw = pod("a", gpu="1", annotations={"daskhub-lite.io/gpu-devices": "zero"})
    state.add_bound_pod(PodInfo.from_pod(raw), "g")
    assert state.nodes["g"].gpu_free == [0, 1000]


requests = st.one_of(
    st.tuples(st.just("gpu"), st.integers(1, 3).map(str)),
    st.tuples(st.just("gpu_milli"), st.integers(1, 1000).map(str)),
    st.tuples(st.just("cpu_only"), st.just("")),
)
operations = st.lists(st.one_of(
    st.tuples(st.just("place"), requests),
    st.tuples(st.just("forget"), st.integers(0, 50)),
), min_size=1, max_size=40)


def _pod_dict(index: int, request: tuple[str, str]) -> dict[str, object]:
    kind, amount = request
    resources = {} if kind == "cpu_only" else {kind: amount}
    return pod(f"p{index}", cpu="100m", memory="64Mi", **resources)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gpu_counts=st.lists(st.integers(0, 4), min_size=1, max_size=3), ops=operations,
       policy=st.sampled_from(["hybrid", "fgd", "bestfit"]))
def test_devices_are_never_overcommitted_and_match_annotations(
        gpu_counts: list[int], ops: list[tuple[str, object]], policy: str) -> None:
    nodes = [node(f"n{i}", gpus=count) for i, count in enumerate(gpu_counts)]
    state = cluster(*nodes)
    scheduler = make_scheduler(policy)
    bound: dict[str, tuple[dict[str, object], str, str]] = {}  # key -> (pod dict, node, annotation)
    for index, (op, arg) in enumerate(ops):
        if op == "place":
            raw = _pod_dict(index, arg)  # type: ignore[arg-type]
            info = PodInfo.from_pod(raw)
            decision = scheduler.schedule_one(info, state)
            if decision.node is not None:
                scheduler.assume(state, info, decision)
                bound[info.key] = (raw, decision.node, decision.device_annotation)
                assert len(decision.devices) == info.gpu.count
                assert all(m == info.gpu.milli for _, m in decision.devices)
        elif bound:
            key = sorted(bound)[int(arg) % len(bound)]  # type: ignore[call-overload]
            scheduler.forget(state, key)
            del bound[key]
        # No device over-committed, and free shares equal the bound pods' annotations.
        for name, node_state in state.nodes.items():
            assert all(0 <= f <= 1000 for f in node_state.gpu_free)
            annotations = [dev.parse_device_annotation(a) for _, n, a in bound.values() if n == name and a]
            assert node_state.gpu_free == dev.derive_free(len(node_state.info.gpus), annotations)
        # A restart rebuilds exactly this state from the API's objects.
        rebuilt = ClusterState()
        for raw_node in nodes:
            rebuilt.add_node(NodeInfo.from_node(raw_node))
        for raw, name, annotation in bound.values():
            with_annotation = dict(raw)
            with_annotation["metadata"] = {**raw["metadata"],  # type: ignore[dict-item]
                                           "annotations": {"daskhub-lite.io/gpu-devices": annotation}}
            rebuilt.add_bound_pod(PodInfo.from_pod(with_annotation), name)
        for name in state.nodes:
            assert rebuilt.nodes[name].gpu_free == state.nodes[name].gpu_free
            assert rebuilt.nodes[name].class_key == state.nodes[name].class_key
        # Every node sits in exactly the class its state says.
        members = {n: key for key, cls in state.classes.items() for n in cls.members}
        assert members == {n: s.class_key for n, s in state.nodes.items()}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gpu_counts=st.lists(st.integers(0, 4), min_size=1, max_size=4), ops=operations)
def test_cached_decisions_equal_fresh_ones(gpu_counts: list[int], ops: list[tuple[str, object]]) -> None:
    """A long-lived scheduler (warm caches) decides as a brand-new one would on the same state
    (best fit: a policy that does not learn, so both see the same scores)."""
    state = cluster(*(node(f"n{i}", cpu="2", gpus=c) for i, c in enumerate(gpu_counts)))
    warm = make_scheduler("bestfit")
    placed: list[str] = []
    for index, (op, arg) in enumerate(ops):
        if op == "place":
            info = PodInfo.from_pod(_pod_dict(index, arg))  # type: ignore[arg-type]
            decision = warm.schedule_one(info, state)
            assert decision == make_scheduler("bestfit").schedule_one(info, state)
            if decision.node is not None:
                warm.assume(state, info, decision)
                placed.append(info.key)
        elif placed:
            warm.forget(state, placed.pop(int(arg) % len(placed)))  # type: ignore[call-overload]
