"""The DaemonSet controller and the scheduler give the same answer for a node.

If the controller thinks a daemon pod belongs on a node the scheduler will not place it on,
the pod stays Pending forever; if the other way round, a node silently goes without. Both now
decide with orchestrator.api.nodeaffinity and orchestrator.api.taints; these tests generate
node selectors, node-affinity terms (valid and not), taints, cordons and tolerations, and
compare `should_run` with the scheduler's verdict for the same node.
"""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from orchestrator.controllers.daemonset_plan import daemon_tolerations, new_pod, should_run
from orchestrator.scheduler.filters import NodeName
from orchestrator.scheduler.framework import Status
from orchestrator.scheduler.nodeinfo import NodeInfo
from orchestrator.scheduler.podinfo import PodInfo
from orchestrator.scheduler.policies import make_scheduler
from orchestrator.scheduler.state import ClusterState

Obj = dict[str, Any]

NODE_NAMES = ["n1", "n2"]
LABEL_KEYS = ["zone", "rank", "gpu", "kubernetes.io/hostname", "bad key"]
LABEL_VALUES = ["a", "b", "3", "10", "-1", "+2", " 7", "", "n1", "x y"]
NODE_OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", "Bogus", "in"]
TAINT_KEYS = ["gpu", "zone", "node.kubernetes.io/unschedulable", "node.kubernetes.io/not-ready",
              "node.kubernetes.io/network-unavailable", "node.kubernetes.io/disk-pressure"]
EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute", ""]

values = st.lists(st.sampled_from(LABEL_VALUES), max_size=3)
expression = st.fixed_dictionaries({"key": st.sampled_from(LABEL_KEYS),
                                    "operator": st.sampled_from(NODE_OPERATORS), "values": values})
name_field = st.fixed_dictionaries({
    "key": st.sampled_from(["metadata.name", "metadata.name", "spec.other"]),
    "operator": st.sampled_from(["In", "NotIn", "Exists"]),
    "values": st.lists(st.sampled_from(NODE_NAMES + ["n3"]), max_size=2)})
term = st.fixed_dictionaries({}, optional={"matchExpressions": st.lists(expression, max_size=2),
                                           "matchFields": st.lists(name_field, max_size=1)})
required = st.one_of(st.none(), st.just({}),
                     st.builds(lambda terms: {"nodeSelectorTerms": terms}, st.lists(term, max_size=3)))
toleration = st.fixed_dictionaries(
    {"key": st.sampled_from(TAINT_KEYS + [""])},
    optional={"operator": st.sampled_from(["Equal", "Exists", "", "exists"]),
              "value": st.sampled_from(["", "yes", "a"]), "effect": st.sampled_from(EFFECTS)})
taint = st.fixed_dictionaries({"key": st.sampled_from(TAINT_KEYS),
                               "value": st.sampled_from(["", "yes", "a"]),
                               "effect": st.sampled_from(EFFECTS[:3])})


@st.composite
def template_specs(draw: st.DrawFn) -> Obj:
    spec: Obj = {"containers": [{"name": "c", "image": "x",
                                 "resources": {"requests": {"cpu": "100m", "memory": "10Mi"}}}]}
    selector = draw(st.dictionaries(st.sampled_from(LABEL_KEYS), st.sampled_from(LABEL_VALUES),
                                    max_size=2))
    if selector:
        spec["nodeSelector"] = selector
    affinity = draw(required)
    if affinity is not None:
        spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                                             affinity}}
    tolerations = draw(st.lists(toleration, max_size=3))
    if tolerations:
        spec["tolerations"] = tolerations
    if draw(st.booleans()):
        spec["hostNetwork"] = True
    node_name = draw(st.sampled_from([None, None, None, "n1", "n3"]))
    if node_name:
        spec["nodeName"] = node_name
    return spec


@st.composite
def nodes(draw: st.DrawFn, name: str) -> Obj:
    labels = draw(st.dictionaries(st.sampled_from(LABEL_KEYS[:3]), st.sampled_from(LABEL_VALUES),
                                  max_size=3))
    spec: Obj = {"taints": draw(st.lists(taint, max_size=3, unique_by=lambda t: (t["key"], t["effect"])))}
    if draw(st.booleans()):
        spec["unschedulable"] = True
    allocatable = {"cpu": "8", "memory": "32Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}},
            "spec": spec, "status": {"capacity": allocatable, "allocatable": allocatable}}


def daemonset(template_spec: Obj) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "ns", "uid": "du", "generation": 1},
            "spec": {"selector": {"matchLabels": {"app": "a"}},
                     "template": {"metadata": {"labels": {"app": "a"}}, "spec": template_spec}}}


def feasible(pod: Obj, state: ClusterState, node_name: str) -> bool:
    """The scheduler's verdict for one node: its filters (NodeName first, as its per-node path
    runs it) with the default profile."""
    info, node = PodInfo.from_pod(pod), state.nodes[node_name]
    if NodeName().filter(info, node) is not None:
        return False
    return not isinstance(make_scheduler().evaluate(info, node), Status)


def verdicts(template_spec: Obj, raw_nodes: list[Obj]) -> None:
    ds = daemonset(template_spec)
    state = ClusterState()
    for raw in raw_nodes:
        state.add_node(NodeInfo.from_node(raw))
    # The template as the controller sees it, with the tolerations it adds to every daemon pod.
    template_pod = {"metadata": {"name": "t", "namespace": "ns"},
                    "spec": {**template_spec, "tolerations": daemon_tolerations(template_spec)}}
    for raw in raw_nodes:
        name = raw["metadata"]["name"]
        runs = should_run(ds, raw)
        assert runs == feasible(template_pod, state, name), (name, template_spec, raw)
        if runs and "nodeName" not in template_spec:
            # The pod the controller creates, pinned by node affinity: placeable there only.
            pinned = new_pod(ds, name, "h")
            assert feasible(pinned, state, name), (name, pinned, raw)
            assert not any(feasible(pinned, state, other["metadata"]["name"])
                           for other in raw_nodes if other is not raw)


@settings(max_examples=400, deadline=None)
@given(template_specs(), nodes("n1"), nodes("n2"))
@example(  # A cordoned node and a user toleration of the same key and effect but another
    # operator: kube still adds its own Exists toleration (AddOrUpdateTolerationInPodSpec).
    {"containers": [{"name": "c", "image": "x"}],
     "tolerations": [{"key": "node.kubernetes.io/unschedulable", "operator": "Equal",
                      "value": "yes", "effect": "NoSchedule"}]},
    {"metadata": {"name": "n1", "labels": {}}, "spec": {"unschedulable": True},
     "status": {"allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"}}},
    {"metadata": {"name": "n2", "labels": {}}, "spec": {},
     "status": {"allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"}}})
def test_daemonset_controller_and_scheduler_agree(template_spec: Obj, first: Obj, second: Obj) -> None:
    verdicts(template_spec, [first, second])


NODE: Obj = {"metadata": {"name": "n1", "labels": {"zone": "a", "rank": "5"}},
        "spec": {"taints": [{"key": "gpu", "value": "yes", "effect": "NoSchedule"}]},
        "status": {"allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"}}}


def test_named_cases_the_old_copies_got_wrong() -> None:
    """Each was decided differently by the controller and the scheduler, or by both unlike kube."""
    containers = [{"name": "c", "image": "x"}]
    required = "requiredDuringSchedulingIgnoredDuringExecution"
    cases: dict[str, Obj] = {
        # The controller's copy treated an empty term list as "nowhere", the scheduler's as
        # "anywhere"; kube: a present required affinity with no terms matches no node.
        "empty nodeSelectorTerms": {"affinity": {"nodeAffinity": {required: {
            "nodeSelectorTerms": []}}}},
        # Python's int() read " 4" as 4 in both copies; kube's ParseInt refuses it.
        "Gt with a padded value": {"affinity": {"nodeAffinity": {required: {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "rank", "operator": "Gt", "values": [" 4"]}]}]}}}},
        # matchFields with Exists matched in both copies; kube allows only In/NotIn there.
        "matchFields Exists": {"affinity": {"nodeAffinity": {required: {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "Exists"}]}]}}}},
        # An unknown toleration operator was read as Equal; kube tolerates nothing with it.
        "toleration operator 'exists'": {"tolerations": [{"key": "gpu", "operator": "exists",
                                                          "value": "yes"}]},
    }
    for name, extra in cases.items():
        spec = {"containers": containers, **extra}
        assert not should_run(daemonset(spec), NODE), name
        verdicts(spec, [NODE])
