"""ReplicaSet controller: keeps `spec.replicas` pods of the template running.

As kube-controller-manager's replicaset controller: pods are claimed by owner reference
(orphans matching the selector are adopted, owned pods that stop matching are released),
missing pods are created in slow-start batches, surplus pods are deleted in kube's order of
preference, and "expectations" stop a second pass from acting on a stale cache while the
pods it just created or deleted have not been observed yet.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable

from orchestrator.api import errors
from orchestrator.api.kinds import ResourceType, builtin_type
from orchestrator.api.meta import parse_time
from orchestrator.api.selectors import label_selector_from_dict
from orchestrator.api.workloads import (
    claim, condition, controller_of, owner_reference, pod_from_template, pod_is_active,
    pod_is_available, pod_is_ready, set_condition,
)
from orchestrator.client import (
    Client, EventRecorder, Informer, Result, WorkQueue, object_key, run_controller, utc_now,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Key = tuple[str, str]

PODS = builtin_type("", "pods")
REPLICASETS = builtin_type("apps", "replicasets")

BURST_REPLICAS = 500  # kube's burstReplicas: most pods created or deleted in one pass
SLOW_START_INITIAL_BATCH = 1
EXPECTATIONS_TIMEOUT = 60.0  # kube waits 5 minutes; a lost event should not stall us as long
DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_ORDER = {"Pending": 0, "Unknown": 1, "Running": 2}


# -- pure parts ------------------------------------------------------------------------------

@dataclass
class Claim:
    """What claiming pods for a ReplicaSet found and what must be patched."""

    owned: list[Obj] = field(default_factory=list)
    adopt: list[Obj] = field(default_factory=list)
    release: list[Obj] = field(default_factory=list)


def claim_pods(rs: Obj, pods: Iterable[Obj]) -> Claim:
    """kube's ClaimPods over the namespace's active pods (see `workloads.claim`)."""
    owned, adopt, release = claim(rs, pods)
    return Claim(owned, adopt, release)


def _time(value: str | None) -> float:
    if not value:
        return 0.0
    try:
        return parse_time(value).timestamp()
    except ValueError:
        return 0.0


def _ready_since(pod: Obj) -> float:
    c = condition(pod, "Ready") or {}
    return _time(c.get("lastTransitionTime"))


def _restarts(pod: Obj) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return max((int(s.get("restartCount") or 0) for s in statuses), default=0)


def _deletion_cost(pod: Obj) -> int:
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(DELETION_COST_ANNOTATION)
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        return 0


def _log_bucket(moment: float, now: float) -> int:
    """LogarithmicScaleDown: ages compare by power-of-two buckets, so pods of similar age
    tie and the other criteria (then randomness of names) decide."""
    age_ns = (now - moment) * 1e9
    return -1 if age_ns <= 0 else int(math.log2(age_ns))


def deletion_rank_key(pod: Obj, colocated: int, now: float) -> tuple[Any, ...]:
    """Sort key; the smallest keys are deleted first. kube's ActivePodsWithRanks order:
    unscheduled < scheduled; Pending < Unknown < Running; not ready < ready; lower
    pod-deletion-cost; more pods of the same owner on the node; ready for less time;
    more restarts; newer."""
    spec = pod.get("spec") or {}
    ready = pod_is_ready(pod)
    phase = str((pod.get("status") or {}).get("phase", "Pending"))
    created = _time((pod.get("metadata") or {}).get("creationTimestamp"))
    return (
        1 if spec.get("nodeName") else 0,
        _PHASE_ORDER.get(phase, 0),
        1 if ready else 0,
        _deletion_cost(pod),
        -colocated,
        _log_bucket(_ready_since(pod), now) if ready else 0,
        -_restarts(pod),
        _log_bucket(created, now),
        (pod.get("metadata") or {}).get("uid", ""),
    )


def pods_to_delete(pods: list[Obj], related: list[Obj], count: int,
                   now: float | None = None) -> list[Obj]:
    """The `count` pods to delete first. `related` are pods whose node placement counts
    toward a pod's rank (kube uses the pods of every ReplicaSet of the same owner)."""
    if count <= 0:
        return []
    now = time.time() if now is None else now
    per_node: dict[str, int] = {}
    for pod in related:
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            per_node[node] = per_node.get(node, 0) + 1
    def key(pod: Obj) -> tuple[Any, ...]:
        node = (pod.get("spec") or {}).get("nodeName")
        return deletion_rank_key(pod, per_node.get(node, 0) if node else 0, now)
    return sorted(pods, key=key)[:count]


def slow_start_batches(count: int, initial: int = SLOW_START_INITIAL_BATCH) -> list[int]:
    """Batch sizes for creating `count` pods: 1, 2, 4, ... so a failing template costs one
    failed call, not hundreds."""
    out: list[int] = []
    batch = min(count, max(1, initial))
    remaining = count
    while remaining > 0:
        out.append(batch)
        remaining -= batch
        batch = min(2 * batch, remaining)
    return out


@dataclass(frozen=True)
class Manage:
    """Toward spec.replicas: how many pods to create, or which to delete."""

    create: int = 0
    delete: tuple[Obj, ...] = ()


def plan_replicas(rs: Obj, owned: list[Obj], related: list[Obj], now: datetime) -> Manage:
    """kube's manageReplicas decision, at most BURST_REPLICAS either way. `related` are the
    pods whose node placement counts toward a victim's rank (see `pods_to_delete`). Pure."""
    want = int((rs.get("spec") or {}).get("replicas", 1))
    diff = len(owned) - want
    if diff < 0:
        return Manage(create=min(-diff, BURST_REPLICAS))
    if diff > 0:
        return Manage(delete=tuple(pods_to_delete(owned, related, min(diff, BURST_REPLICAS),
                                                  now.timestamp())))
    return Manage()


def calculate_status(rs: Obj, pods: list[Obj], now: datetime | None = None,
                     failure: str | None = None) -> Obj:
    """The ReplicaSet's status from its owned active pods (kube's calculateStatus)."""
    spec = rs.get("spec") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    fully = sum(1 for p in pods if all(
        ((p.get("metadata") or {}).get("labels") or {}).get(k) == v
        for k, v in template_labels.items()))
    status: Obj = {
        "replicas": len(pods),
        "fullyLabeledReplicas": fully,
        "readyReplicas": sum(1 for p in pods if pod_is_ready(p)),
        "availableReplicas": sum(1 for p in pods if pod_is_available(p, min_ready, now)),
        "observedGeneration": rs["metadata"].get("generation", 1),
    }
    conditions = [dict(c) for c in (rs.get("status") or {}).get("conditions") or []]
    if conditions or failure:
        status["conditions"] = conditions
        if failure:
            set_condition(status, "ReplicaFailure", "True", "FailedCreate", failure)
        else:
            status["conditions"] = [c for c in conditions if c.get("type") != "ReplicaFailure"]
    return status


def next_available_check(rs: Obj, pods: list[Obj], now: float) -> float | None:
    """Seconds until a ready pod passes minReadySeconds (so availability gets recounted)."""
    min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
    if min_ready <= 0:
        return None
    waits = [_ready_since(p) + min_ready - now for p in pods
             if pod_is_ready(p) and _ready_since(p) + min_ready > now]
    return max(0.5, min(waits) + 0.5) if waits else None


# -- expectations ----------------------------------------------------------------------------

class Expectations:
    """Creations and deletions a ReplicaSet made but has not seen in its pod cache yet."""

    def __init__(self, timeout: float = EXPECTATIONS_TIMEOUT) -> None:
        self.timeout = timeout
        self._adds: dict[Key, int] = {}
        self._deletes: dict[Key, set[str]] = {}
        self._since: dict[Key, float] = {}

    def expect(self, key: Key, adds: int = 0, deletes: Iterable[str] = ()) -> None:
        self._adds[key] = self._adds.get(key, 0) + adds
        self._deletes.setdefault(key, set()).update(deletes)
        self._since[key] = time.monotonic()

    def created(self, key: Key) -> None:
        if self._adds.get(key, 0) > 0:
            self._adds[key] -= 1

    def deleted(self, key: Key, uid: str) -> None:
        self._deletes.get(key, set()).discard(uid)

    def satisfied(self, key: Key) -> bool:
        if key not in self._since:
            return True
        if self._adds.get(key, 0) <= 0 and not self._deletes.get(key):
            return True
        return time.monotonic() - self._since[key] > self.timeout

    def forget(self, key: Key) -> None:
        self._adds.pop(key, None)
        self._deletes.pop(key, None)
        self._since.pop(key, None)


# -- executor --------------------------------------------------------------------------------

class ReplicaSetController:
    """Component: informers on ReplicaSets and pods, and workers that reconcile keys."""

    def __init__(self, client: Client, *, workers: int = 5, rt: ResourceType = REPLICASETS,
                 now: Callable[[], datetime] = utc_now) -> None:
        self.client = client
        self.now = now
        self.rt = rt
        self.workers = workers
        self.sets = Informer.shared(client, rt)
        self.pods = Informer.shared(client, PODS)
        self.queue: WorkQueue[Key] = WorkQueue()
        self.expectations = Expectations()
        self.events = EventRecorder(client, "replicaset-controller")
        self.sets.add_handler(self._on_set)
        self.pods.add_handler(self._on_pod)

    async def wait_ready(self) -> None:
        await asyncio.gather(self.sets.wait_synced(), self.pods.wait_synced())

    async def run(self) -> None:
        await run_controller("replicaset", self, self.queue, [self.sets, self.pods], self.workers)

    # -- event handlers (in the loop, never block) --

    def _on_set(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        assert obj is not None
        key = object_key(obj)
        if etype == "DELETED":
            self.expectations.forget(key)
        self.queue.add(key)

    def _owner_key(self, pod: Obj) -> Key | None:
        ref = controller_of(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return None
        ns = pod["metadata"].get("namespace", "")
        rs = self.sets.get(ns, ref.get("name", ""))
        if rs is None or rs["metadata"].get("uid") != ref.get("uid"):
            return None
        return (ns, ref["name"])

    def _matching_sets(self, pod: Obj) -> list[Key]:
        md = pod.get("metadata") or {}
        labels = md.get("labels") or {}
        out = []
        for rs in self.sets.items(md.get("namespace", "")):
            try:
                if label_selector_from_dict((rs.get("spec") or {}).get("selector")).matches(
                        labels):
                    out.append(object_key(rs))
            except errors.APIError:
                continue
        return out

    def _on_pod(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        pod = new or old
        assert pod is not None
        uid = pod["metadata"].get("uid", "")
        key = self._owner_key(pod)
        if etype == "ADDED" and key is not None:
            self.expectations.created(key)
        if key is not None and (etype == "DELETED" or pod["metadata"].get("deletionTimestamp")):
            self.expectations.deleted(key, uid)
        if old is not None and new is not None:
            old_key = self._owner_key(old)
            if old_key is not None and old_key != key:
                self.queue.add(old_key)
        if key is not None:
            self.queue.add(key)
        elif controller_of(pod) is None and etype != "DELETED":
            for k in self._matching_sets(pod):  # an orphan some ReplicaSet may adopt
                self.queue.add(k)

    # -- reconcile --

    async def reconcile(self, key: Key) -> Result | None:
        ns, name = key
        rs = self.sets.get(ns, name)
        if rs is None:
            self.expectations.forget(key)
            return None
        active = [p for p in self.pods.items(ns) if pod_is_active(p)]
        claim = claim_pods(rs, active)
        owned = list(claim.owned)
        owned += await self._adopt(rs, claim.adopt)
        await self._release(rs, claim.release)

        failure: str | None = None
        if self.expectations.satisfied(key) and not rs["metadata"].get("deletionTimestamp"):
            failure = await self._manage(key, rs, owned)
        await self._update_status(rs, owned, failure)
        wait = next_available_check(rs, owned, self.now().timestamp())
        return Result(requeue_after=wait) if wait is not None else None

    async def _adopt(self, rs: Obj, pods: list[Obj]) -> list[Obj]:
        if not pods:
            return []
        # Adopt only for a live, current owner: the cache may hold a deleted ReplicaSet.
        try:
            fresh = await self.client.get(self.rt, rs["metadata"]["name"],
                                          rs["metadata"]["namespace"])
        except errors.NotFound:
            return []
        if fresh["metadata"].get("uid") != rs["metadata"].get("uid") or fresh["metadata"].get(
                "deletionTimestamp"):
            return []
        adopted = []
        for pod in pods:
            md = pod["metadata"]
            refs = [r for r in md.get("ownerReferences") or []
                    if r.get("uid") != rs["metadata"]["uid"]] + [owner_reference(rs)]
            try:
                patched = await self.client.patch(PODS, md["name"], {"metadata": {
                    "ownerReferences": refs, "resourceVersion": md.get("resourceVersion")}},
                    md["namespace"])
            except (errors.NotFound, errors.Conflict):
                continue
            adopted.append(patched)
        return adopted

    async def _release(self, rs: Obj, pods: list[Obj]) -> None:
        uid = rs["metadata"]["uid"]
        for pod in pods:
            md = pod["metadata"]
            refs = [r for r in md.get("ownerReferences") or [] if r.get("uid") != uid]
            try:
                await self.client.patch(PODS, md["name"], {"metadata": {
                    "ownerReferences": refs or None,
                    "resourceVersion": md.get("resourceVersion")}}, md["namespace"])
            except (errors.NotFound, errors.Conflict):
                continue

    async def _manage(self, key: Key, rs: Obj, owned: list[Obj]) -> str | None:
        """Create or delete pods toward spec.replicas; returns a create failure message."""
        want = int((rs.get("spec") or {}).get("replicas", 1))
        related = owned + self._siblings_pods(rs) if len(owned) > want else owned
        decision = plan_replicas(rs, owned, related, self.now())
        if decision.create:
            return await self._create(key, rs, decision.create)
        if decision.delete:
            await self._delete(key, rs, list(decision.delete))
        return None

    def _siblings_pods(self, rs: Obj) -> list[Obj]:
        """Pods of other ReplicaSets with the same controller (a Deployment's old sets)."""
        owner = controller_of(rs)
        if owner is None:
            return []
        ns = rs["metadata"]["namespace"]
        siblings = {s["metadata"]["uid"] for s in self.sets.items(ns)
                    if s["metadata"]["uid"] != rs["metadata"]["uid"]
                    and (controller_of(s) or {}).get("uid") == owner.get("uid")}
        return [p for p in self.pods.items(ns)
                if pod_is_active(p) and (controller_of(p) or {}).get("uid") in siblings]

    async def _create(self, key: Key, rs: Obj, count: int) -> str | None:
        template = (rs.get("spec") or {}).get("template") or {}
        self.expectations.expect(key, adds=count)
        remaining = count
        for batch in slow_start_batches(count):
            results = await asyncio.gather(
                *(self._create_one(rs, template) for _ in range(batch)))
            remaining -= batch
            errs = [r for r in results if r is not None]
            for _ in errs:
                self.expectations.created(key)
            if errs:
                # Later batches are skipped: a failing template costs one failed call.
                for _ in range(remaining):
                    self.expectations.created(key)
                return errs[0]
        return None

    async def _create_one(self, rs: Obj, template: Obj) -> str | None:
        pod = pod_from_template(template, rs)
        try:
            created = await self.client.create(PODS, pod, rs["metadata"]["namespace"])
        except errors.APIError as exc:
            if isinstance(exc, errors.Forbidden) and "being terminated" in str(exc):
                return str(exc)  # the namespace is going away: no Event storm
            await self.events.record(rs, "Warning", "FailedCreate", f"Error creating: {exc}")
            return str(exc)
        await self.events.record(rs, "Normal", "SuccessfulCreate",
                                 f"Created pod: {created['metadata']['name']}")
        return None

    async def _delete(self, key: Key, rs: Obj, victims: list[Obj]) -> None:
        self.expectations.expect(key, deletes=[p["metadata"]["uid"] for p in victims])

        async def one(pod: Obj) -> None:
            md = pod["metadata"]
            try:
                await self.client.delete(PODS, md["name"], md["namespace"], uid=md["uid"])
            except errors.NotFound:
                self.expectations.deleted(key, md["uid"])
                return
            except errors.APIError as exc:
                self.expectations.deleted(key, md["uid"])
                await self.events.record(rs, "Warning", "FailedDelete",
                                         f"Error deleting: {exc}")
                raise
            await self.events.record(rs, "Normal", "SuccessfulDelete",
                                     f"Deleted pod: {md['name']}")

        results = await asyncio.gather(*(one(p) for p in victims), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r

    async def _update_status(self, rs: Obj, owned: list[Obj], failure: str | None) -> None:
        status = calculate_status(rs, owned, self.now(), failure)
        current = rs.get("status") or {}
        if all(current.get(k) == v for k, v in status.items()) and (
                "conditions" in status or not current.get("conditions")):
            return
        md = rs["metadata"]
        try:
            await self.client.patch(self.rt, md["name"], {"status": status}, md["namespace"],
                                    subresource="status")
        except errors.NotFound:
            return

