"""The DaemonSet controller's pure half (kube's daemon controller semantics).

One pod per eligible node: the node must match the template's nodeSelector and required
node affinity and its NoSchedule/NoExecute taints must be tolerated, counting the
tolerations kube adds to every daemon pod. Pods are pinned with a required node affinity
on `metadata.name` (not `spec.nodeName`), so the scheduler places them, as upstream.
Rolling updates honour maxUnavailable and maxSurge.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orchestrator.api.nodeaffinity import RequiredNodeAffinity
from orchestrator.api.taints import taints_of, tolerations_of, untolerated_taint
from orchestrator.api.workloads import (
    owner_reference, pod_from_template, pod_is_available, pod_is_ready, template_hash,
)
from orchestrator.client import Action, Create, Delete, Kind, Record, RequeueAfter, WriteStatus

Obj = dict[str, Any]

DAEMONSET = Kind("apps/v1", "DaemonSet")
POD = Kind("v1", "Pod")
NODE = Kind("v1", "Node")
REVISION = Kind("apps/v1", "ControllerRevision")

REVISION_LABEL = "controller-revision-hash"
GENERATION_LABEL = "pod-template-generation"
# Added to every daemon pod by kube's daemon controller (util.AddOrUpdateDaemonPodTolerations).
DAEMON_TOLERATIONS: list[Obj] = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]
HOST_NETWORK_TOLERATION = {"key": "node.kubernetes.io/network-unavailable",
                           "operator": "Exists", "effect": "NoSchedule"}


@dataclass(frozen=True)
class Observed:
    nodes: list[Obj]
    pods: list[Obj]  # the pods this DaemonSet controls
    have_revision: bool  # its current ControllerRevision exists


@dataclass
class DsPlan:
    revision: Obj | None = None  # ControllerRevision to create
    create_pods: list[Obj] = field(default_factory=list)
    delete_pods: list[str] = field(default_factory=list)
    status: Obj | None = None
    events: list[tuple[str, str, str]] = field(default_factory=list)


# -- node eligibility ---------------------------------------------------------------------

def _same_toleration(a: Obj, b: Obj) -> bool:
    # kube's Toleration.MatchToleration: the same key, effect, operator and value.
    return all((a.get(f) or "") == (b.get(f) or "") for f in ("key", "effect", "operator", "value"))


def daemon_tolerations(pod_spec: Obj) -> list[Obj]:
    """The template's tolerations plus kube's daemon ones (AddOrUpdateTolerationInPodSpec): a
    user entry of the same key and effect but another operator or value does not replace
    them, or a cordoned node would be "eligible" to the controller and refused by the scheduler."""
    tolerations = [dict(t) for t in pod_spec.get("tolerations") or []]
    extra = DAEMON_TOLERATIONS + ([HOST_NETWORK_TOLERATION] if pod_spec.get("hostNetwork") else [])
    for add in extra:
        if not any(_same_toleration(t, add) for t in tolerations):
            tolerations.append(dict(add))
    return tolerations


def should_run(ds: Obj, node: Obj) -> bool:
    """kube's daemon predicates: the node's name, required node affinity and taints, decided
    by the same code as the scheduler's filters (so a daemon pod never waits forever)."""
    pod_spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
    name = str(node["metadata"]["name"])
    if pod_spec.get("nodeName") and pod_spec["nodeName"] != name:
        return False
    labels = node["metadata"].get("labels") or {}
    if not RequiredNodeAffinity.from_pod_spec(pod_spec).matches(labels, name):
        return False
    tolerations = tolerations_of(daemon_tolerations(pod_spec))
    return untolerated_taint(taints_of((node.get("spec") or {}).get("taints")), tolerations) is None


# -- pods ---------------------------------------------------------------------------------

def new_pod(ds: Obj, node_name: str, revision_hash: str) -> Obj:
    template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
    pod = pod_from_template(template, ds, extra_labels={
        REVISION_LABEL: revision_hash,
        GENERATION_LABEL: str(ds["metadata"].get("generation", 1))})
    spec = pod["spec"]
    spec["tolerations"] = daemon_tolerations(spec)
    # As upstream: pin with node affinity on the node's name and let the scheduler bind.
    affinity = spec.setdefault("affinity", {})
    affinity.setdefault("nodeAffinity", {})["requiredDuringSchedulingIgnoredDuringExecution"] = {
        "nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}
    return pod


def pod_node(pod: Obj) -> str | None:
    """The node a daemon pod is for: its binding, else the name in its pinning affinity."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    return RequiredNodeAffinity.from_pod_spec(spec).pinned_node()


def _int_or_percent(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        raw = float(value[:-1]) * total / 100
        return math.ceil(raw) if round_up else math.floor(raw)
    return int(value or 0)


def revision_hash(ds: Obj) -> str:
    collisions = int((ds.get("status") or {}).get("collisionCount") or 0)
    return template_hash((ds.get("spec") or {}).get("template") or {}, collisions)


def plan(ds: Obj, nodes: list[Obj], pods: list[Obj], now: datetime,
         have_revision: bool = True) -> DsPlan:
    spec = ds.get("spec") or {}
    result = DsPlan()
    current = revision_hash(ds)
    if not have_revision:
        labels = dict((spec.get("selector") or {}).get("matchLabels") or {})
        labels[REVISION_LABEL] = current
        result.revision = {
            "apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": f"{ds['metadata']['name']}-{current}",
                         "namespace": ds["metadata"].get("namespace"), "labels": labels,
                         "ownerReferences": [owner_reference(ds)]},
            "data": {"spec": {"template": {**copy.deepcopy(spec.get("template") or {}),
                                           "$patch": "replace"}}},
            "revision": int(ds["metadata"].get("generation", 1))}
    min_ready = int(spec.get("minReadySeconds") or 0)
    by_node: dict[str, list[Obj]] = {}
    for pod in pods:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        node = pod_node(pod)
        if node is not None:
            by_node.setdefault(node, []).append(pod)
    eligible = {n["metadata"]["name"] for n in nodes if should_run(ds, n)}
    known_nodes = {n["metadata"]["name"] for n in nodes}

    desired = current_sched = misscheduled = ready = available = updated = 0
    old_pods: list[tuple[str, Obj, Obj | None]] = []  # (node, old pod, new pod on node)
    for node_name in sorted(known_nodes | set(by_node)):
        node_pods = sorted(by_node.get(node_name, []),
                           key=lambda p: p["metadata"].get("creationTimestamp", ""))
        runnable = [p for p in node_pods if (p.get("status") or {}).get("phase") != "Failed"]
        for failed in (p for p in node_pods if p not in runnable):
            result.delete_pods.append(failed["metadata"]["name"])
            result.events.append(("Warning", "FailedDaemonPod",
                                  f"Found failed daemon pod {ds['metadata'].get('namespace')}/"
                                  f"{failed['metadata']['name']} on node {node_name}, will "
                                  "try to kill it"))
        if node_name not in eligible:
            if runnable:
                misscheduled += 1
                result.delete_pods += [p["metadata"]["name"] for p in runnable]
            continue
        desired += 1
        if not runnable:
            result.create_pods.append(new_pod(ds, node_name, current))
            continue
        current_sched += 1
        new = [p for p in runnable if p["metadata"].get("labels", {}).get(REVISION_LABEL)
               == current]
        old = [p for p in runnable if p not in new]
        # More than one pod of a revision on a node: keep the oldest.
        for extra in new[1:] + old[1:]:
            result.delete_pods.append(extra["metadata"]["name"])
        keep = new[0] if new else old[0]
        if new:
            updated += 1
        if pod_is_ready(keep):
            ready += 1
        if pod_is_available(keep, min_ready, now):
            available += 1
        if old:
            old_pods.append((node_name, old[0], new[0] if new else None))

    # -- rolling update -----------------------------------------------------------------
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") == "RollingUpdate" and old_pods:
        rolling = strategy.get("rollingUpdate") or {}
        max_surge = _int_or_percent(rolling.get("maxSurge", 0), desired, True)
        max_unavailable = _int_or_percent(rolling.get("maxUnavailable", 1), desired, False)
        if max_surge == 0 and max_unavailable == 0:
            max_unavailable = 1
        unavailable = desired - available
        surging = 0
        for node_name, stale, fresh in old_pods:
            if fresh is not None:
                if pod_is_available(fresh, min_ready, now):
                    result.delete_pods.append(stale["metadata"]["name"])  # surge done here
                else:
                    surging += 1
                continue
            if max_surge > 0:
                if surging < max_surge:
                    result.create_pods.append(new_pod(ds, node_name, current))
                    surging += 1
            elif not pod_is_available(stale, min_ready, now):
                result.delete_pods.append(stale["metadata"]["name"])  # already down: no cost
            elif unavailable < max_unavailable:
                result.delete_pods.append(stale["metadata"]["name"])
                unavailable += 1

    status = {
        "desiredNumberScheduled": desired, "currentNumberScheduled": current_sched,
        "numberMisscheduled": misscheduled, "numberReady": ready,
        "numberAvailable": available, "numberUnavailable": max(0, desired - available),
        "updatedNumberScheduled": updated,
        "observedGeneration": ds["metadata"].get("generation", 1),
    }
    old_status = ds.get("status") or {}
    if old_status.get("collisionCount"):
        status["collisionCount"] = old_status["collisionCount"]
    if old_status.get("conditions"):
        status["conditions"] = old_status["conditions"]
    if status != old_status:
        result.status = status
    return result


def actions(ds: Obj, observed: Observed, now: datetime) -> list[Action]:
    """The plan as the controller builder's actions, in the order they are applied:
    the revision, deletions, creations, status, then the plan's own Events."""
    decision = plan(ds, observed.nodes, observed.pods, now, observed.have_revision)
    uids = {p["metadata"]["name"]: p["metadata"].get("uid") for p in observed.pods}
    out: list[Action] = []
    if decision.revision is not None:
        out.append(Create(REVISION, decision.revision))
    out += [Delete(POD, name, uid=uids.get(name),
                   on_deleted=Record("Normal", "SuccessfulDelete", "Deleted pod: {name}"))
            for name in decision.delete_pods]
    out += [Create(POD, pod, on_created=Record("Normal", "SuccessfulCreate", "Created pod: {name}"),
                   on_failed=Record("Warning", "FailedCreate", "Error creating: {error}"))
            for pod in decision.create_pods]
    if decision.status is not None:
        out.append(WriteStatus(decision.status))
    out += [Record(etype, reason, message) for etype, reason, message in decision.events]
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
    if min_ready and decision.status and decision.status["numberAvailable"] < \
            decision.status["numberReady"]:
        out.append(RequeueAfter(1.0))  # availability changes with time alone
    return out
