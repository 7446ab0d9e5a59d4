"""The StatefulSet controller's pure half (semantics of kube's stateful_set_control.go).

Pods are `<set>-<ordinal>` with hostname = pod name and subdomain = serviceName, each with
its own PVCs `<claim>-<set>-<ordinal>`. OrderedReady creates one pod at a time in ordinal
order, waiting for each to be Running and Ready, and removes pods from the highest ordinal
down; Parallel does both at once. Rolling updates replace pods from the highest ordinal
down to `partition`, one at a time, each waiting for the previous to be healthy.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orchestrator.api.workloads import (
    owner_reference, pod_from_template, pod_is_available, pod_is_ready, template_hash,
)
from orchestrator.client import (
    Action, Create, Delete, Kind, Patch, Record, RequeueAfter, WriteStatus,
)

Obj = dict[str, Any]

STATEFULSET = Kind("apps/v1", "StatefulSet")
POD = Kind("v1", "Pod")
PVC = Kind("v1", "PersistentVolumeClaim")
REVISION = Kind("apps/v1", "ControllerRevision")

REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


@dataclass(frozen=True)
class Observed:
    pods: list[Obj]  # the pods this StatefulSet controls
    pvcs: list[Obj]  # every claim of its namespace
    revisions: list[Obj]  # the ControllerRevisions it controls


@dataclass
class StsPlan:
    create_revision: Obj | None = None
    delete_revisions: list[str] = field(default_factory=list)
    create_pvcs: list[Obj] = field(default_factory=list)
    bind_pvcs: list[str] = field(default_factory=list)  # no provisioner: mark them Bound
    delete_pvcs: list[str] = field(default_factory=list)
    create_pods: list[Obj] = field(default_factory=list)
    delete_pods: list[str] = field(default_factory=list)
    status: Obj | None = None
    events: list[tuple[str, str, str]] = field(default_factory=list)


def ordinal(pod: Obj, set_name: str) -> int | None:
    name = str(pod["metadata"].get("name", ""))
    prefix = f"{set_name}-"
    if not name.startswith(prefix) or not name[len(prefix):].isdigit():
        return None
    return int(name[len(prefix):])


def revision_data(template: Obj) -> Obj:
    """What a ControllerRevision stores: the template as a replacing patch, as upstream."""
    return {"spec": {"template": {**copy.deepcopy(template), "$patch": "replace"}}}


def revision_template(rev: Obj) -> Obj:
    tmpl = copy.deepcopy(((rev.get("data") or {}).get("spec") or {}).get("template") or {})
    tmpl.pop("$patch", None)
    return tmpl


def new_revision(sts: Obj, revisions: list[Obj]) -> tuple[str, Obj]:
    """The name of the revision matching the current template, and that revision."""
    spec = sts.get("spec") or {}
    template = spec.get("template") or {}
    collisions = int((sts.get("status") or {}).get("collisionCount") or 0)
    digest = template_hash(template, collisions)
    name = f"{sts['metadata']['name']}-{digest}"
    for rev in revisions:
        if rev["metadata"]["name"] == name:
            return name, rev
    number = max([int(r.get("revision") or 0) for r in revisions] + [0]) + 1
    labels = dict((spec.get("selector") or {}).get("matchLabels") or {})
    labels[REVISION_LABEL] = name
    rev = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
           "metadata": {"name": name, "namespace": sts["metadata"].get("namespace"),
                        "labels": labels, "ownerReferences": [owner_reference(sts)]},
           "data": revision_data(template), "revision": number}
    return name, rev


def _claim_name(claim: Obj, set_name: str, ordinal_: int) -> str:
    return f"{claim['metadata']['name']}-{set_name}-{ordinal_}"


def new_pod(sts: Obj, template: Obj, revision: str, ordinal_: int) -> Obj:
    spec = sts.get("spec") or {}
    set_name = sts["metadata"]["name"]
    name = f"{set_name}-{ordinal_}"
    pod = pod_from_template(template, sts, name=name, extra_labels={
        REVISION_LABEL: revision, POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal_)})
    pod_spec = pod["spec"]
    pod_spec["hostname"] = name
    if spec.get("serviceName"):
        pod_spec["subdomain"] = spec["serviceName"]
    volumes = [v for v in pod_spec.get("volumes") or []
               if v.get("name") not in {c["metadata"]["name"]
                                        for c in spec.get("volumeClaimTemplates") or []}]
    for claim in spec.get("volumeClaimTemplates") or []:
        volumes.append({"name": claim["metadata"]["name"], "persistentVolumeClaim": {
            "claimName": _claim_name(claim, set_name, ordinal_)}})
    if volumes:
        pod_spec["volumes"] = volumes
    return pod


def new_pvc(sts: Obj, claim: Obj, ordinal_: int) -> Obj:
    spec = sts.get("spec") or {}
    md = claim.get("metadata") or {}
    labels = dict(md.get("labels") or {})
    labels.update((spec.get("selector") or {}).get("matchLabels") or {})
    pvc_md: Obj = {"name": _claim_name(claim, sts["metadata"]["name"], ordinal_),
                   "namespace": sts["metadata"].get("namespace"), "labels": labels}
    if md.get("annotations"):
        pvc_md["annotations"] = dict(md["annotations"])
    policy = spec.get("persistentVolumeClaimRetentionPolicy") or {}
    if policy.get("whenDeleted") == "Delete":
        pvc_md["ownerReferences"] = [owner_reference(sts)]
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": pvc_md,
            "spec": copy.deepcopy(claim.get("spec") or {})}


def _healthy(pod: Obj) -> bool:
    return ((pod.get("status") or {}).get("phase") == "Running" and pod_is_ready(pod)
            and not pod["metadata"].get("deletionTimestamp"))


def _terminating(pod: Obj) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def plan(sts: Obj, pods: list[Obj], pvcs: list[Obj], revisions: list[Obj],
         now: datetime) -> StsPlan:
    spec = sts.get("spec") or {}
    set_name = sts["metadata"]["name"]
    old_status = sts.get("status") or {}
    result = StsPlan()
    update_name, update_rev = new_revision(sts, revisions)
    if update_rev not in revisions:
        result.create_revision = update_rev
    current_name = old_status.get("currentRevision") or update_name
    by_name = {r["metadata"]["name"]: r for r in revisions}
    current_template = (revision_template(by_name[current_name]) if current_name in by_name
                        else spec.get("template") or {})
    start = int((spec.get("ordinals") or {}).get("start") or 0)
    replicas = int(spec.get("replicas", 1))
    monotonic = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
    strategy = spec.get("updateStrategy") or {}
    rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
    partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
    min_ready = int(spec.get("minReadySeconds") or 0)

    slots: dict[int, Obj] = {}
    condemned: list[Obj] = []
    for member in pods:
        ord_ = ordinal(member, set_name)
        if ord_ is None:
            continue
        if start <= ord_ < start + replicas:
            slots[ord_] = member
        else:
            condemned.append(member)
    condemned.sort(key=lambda p: -(ordinal(p, set_name) or 0))

    # -- claims: every replica's PVCs exist (and are Bound) before its pod ---------------
    existing_pvcs = {p["metadata"]["name"]: p for p in pvcs}
    for ord_ in range(start, start + replicas):
        for claim in spec.get("volumeClaimTemplates") or []:
            name = _claim_name(claim, set_name, ord_)
            pvc = existing_pvcs.get(name)
            if pvc is None:
                result.create_pvcs.append(new_pvc(sts, claim, ord_))
                result.bind_pvcs.append(name)
            elif (pvc.get("status") or {}).get("phase") != "Bound":
                result.bind_pvcs.append(name)

    # -- replicas: create missing, replace failed, in ordinal order ----------------------
    blocked = False
    created_or_deleted = 0
    for ord_ in range(start, start + replicas):
        pod: Obj | None = slots.get(ord_)
        if pod is not None and (pod.get("status") or {}).get("phase") == "Failed" \
                and not _terminating(pod):
            result.delete_pods.append(pod["metadata"]["name"])
            result.events.append(("Warning", "RecreatingFailedPod",
                                  f"StatefulSet {set_name} is recreating failed Pod "
                                  f"{pod['metadata']['name']}"))
            blocked = blocked or monotonic
            continue
        if pod is None:
            use_current = rolling and ord_ < partition and current_name != update_name
            template = current_template if use_current else spec.get("template") or {}
            revision = current_name if use_current else update_name
            result.create_pods.append(new_pod(sts, template, revision, ord_))
            created_or_deleted += 1
            if monotonic:
                blocked = True
                break
            continue
        if monotonic and not _healthy(pod):
            blocked = True  # OrderedReady: wait for this one before going on
            break

    # -- condemned: highest ordinal first, one at a time unless Parallel -----------------
    if not blocked:
        for pod in condemned:
            if _terminating(pod):
                if monotonic:
                    blocked = True
                    break
                continue
            result.delete_pods.append(pod["metadata"]["name"])
            created_or_deleted += 1
            if monotonic:
                blocked = True
                break

    # -- rolling update: highest ordinal down to the partition ---------------------------
    if rolling and not blocked and created_or_deleted == 0 and not result.delete_pods:
        for ord_ in range(start + replicas - 1, max(start, partition) - 1, -1):
            target = slots.get(ord_)
            if target is None:
                break
            if target["metadata"].get("labels", {}).get(REVISION_LABEL) != update_name:
                if not _terminating(target):
                    result.delete_pods.append(target["metadata"]["name"])
                break
            if not _healthy(target):
                break  # wait for the replaced pod to come back

    # -- PVCs of removed replicas under whenScaled: Delete --------------------------------
    policy = spec.get("persistentVolumeClaimRetentionPolicy") or {}
    if policy.get("whenScaled") == "Delete":
        live = {ordinal(p, set_name) for p in pods}
        for pvc_name in existing_pvcs:
            for claim in spec.get("volumeClaimTemplates") or []:
                prefix = f"{claim['metadata']['name']}-{set_name}-"
                tail = pvc_name[len(prefix):]
                if pvc_name.startswith(prefix) and tail.isdigit() and not (
                        start <= int(tail) < start + replicas) and int(tail) not in live:
                    result.delete_pvcs.append(pvc_name)

    # -- history: keep revisionHistoryLimit old revisions besides those in use -----------
    in_use = {current_name, update_name} | {
        p["metadata"].get("labels", {}).get(REVISION_LABEL) for p in pods}
    old = sorted((r for r in revisions if r["metadata"]["name"] not in in_use),
                 key=lambda r: int(r.get("revision") or 0))
    limit = int(spec.get("revisionHistoryLimit", 10))
    result.delete_revisions = [r["metadata"]["name"] for r in old[: max(0, len(old) - limit)]]

    # -- status --------------------------------------------------------------------------
    counted = [p for p in slots.values() if not _terminating(p)] + [
        p for p in condemned if not _terminating(p)]
    counted = [p for p in counted if p["metadata"]["name"] not in result.delete_pods]
    counted_plus_new = counted + result.create_pods

    def at(rev: str) -> int:
        return sum(1 for p in counted_plus_new
                   if p["metadata"].get("labels", {}).get(REVISION_LABEL) == rev)

    status: Obj = {
        "observedGeneration": sts["metadata"].get("generation", 1),
        "replicas": len(counted_plus_new),
        "readyReplicas": sum(1 for p in counted if pod_is_ready(p)),
        "availableReplicas": sum(1 for p in counted if pod_is_available(p, min_ready, now)),
        "currentReplicas": at(current_name),
        "updatedReplicas": at(update_name),
        "currentRevision": current_name,
        "updateRevision": update_name,
        "collisionCount": int(old_status.get("collisionCount") or 0),
    }
    # The rollout is complete once every replica runs the update revision and is ready.
    if rolling and status["updatedReplicas"] == replicas and status["readyReplicas"] == replicas \
            and status["replicas"] == replicas:
        status["currentRevision"] = update_name
        status["currentReplicas"] = status["updatedReplicas"]
    if old_status.get("conditions"):
        status["conditions"] = old_status["conditions"]
    if status != old_status:
        result.status = status
    return result


def actions(sts: Obj, observed: Observed, now: datetime) -> list[Action]:
    """The plan as the controller builder's actions, in the order they are applied:
    the revision, claims, pods created then deleted, old claims and revisions, status,
    the plan's own Events."""
    decision = plan(sts, observed.pods, observed.pvcs, observed.revisions, now)
    name = sts["metadata"]["name"]
    pod_uids = {p["metadata"]["name"]: p["metadata"].get("uid") for p in observed.pods}
    out: list[Action] = []
    if decision.create_revision is not None:
        out.append(Create(REVISION, decision.create_revision))
    out += [Create(PVC, pvc, on_created=Record(
                "Normal", "SuccessfulCreate",
                f"create Claim {pvc['metadata']['name']} Pod in StatefulSet {name} success"))
            for pvc in decision.create_pvcs]
    # No provisioner: the node runtime backs claims with local folders.
    out += [Patch(PVC, pvc_name, {"status": {"phase": "Bound"}}, subresource="status")
            for pvc_name in decision.bind_pvcs]
    out += [Create(POD, pod, on_created=Record(
                "Normal", "SuccessfulCreate",
                f"create Pod {pod['metadata']['name']} in StatefulSet {name} successful"),
                on_failed=Record("Warning", "FailedCreate",
                                 f"create Pod {pod['metadata']['name']} in StatefulSet {name} "
                                 "failed error: {error}"))
            for pod in decision.create_pods]
    out += [Delete(POD, pod_name, uid=pod_uids.get(pod_name), on_deleted=Record(
                "Normal", "SuccessfulDelete",
                f"delete Pod {pod_name} in StatefulSet {name} successful"))
            for pod_name in decision.delete_pods]
    out += [Delete(PVC, pvc_name) for pvc_name in decision.delete_pvcs]
    out += [Delete(REVISION, rev_name) for rev_name in decision.delete_revisions]
    if decision.status is not None:
        out.append(WriteStatus(decision.status))
    out += [Record(etype, reason, message) for etype, reason, message in decision.events]
    min_ready = int((sts.get("spec") or {}).get("minReadySeconds") or 0)
    if min_ready and decision.status and decision.status.get("availableReplicas", 0) < \
            decision.status.get("readyReplicas", 0):
        out.append(RequeueAfter(1.0))  # availability changes with time alone
    return out
