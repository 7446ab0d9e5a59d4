"""Deployment controller: rolls a Deployment's template out through ReplicaSets.

The arithmetic (surge, availability, proportional scaling, conditions) lives in
`deployment_rollout` as pure functions; this module reads the caches, applies one step and
lets the next watch event drive the next step, as kube's controller does. Every write to a
ReplicaSet carries the resourceVersion it was computed from, so a decision made on a stale
cache fails with a Conflict and is recomputed rather than applied.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from datetime import datetime
from typing import Any, Callable

from orchestrator.api import errors
from orchestrator.api.kinds import builtin_type
from orchestrator.api.selectors import label_selector_from_dict
from orchestrator.api.workloads import (
    TEMPLATE_HASH_LABEL, claim, condition, controller_of, is_controlled_by, owner_reference,
    set_condition, template_hash,
)
from orchestrator.client import (
    Client, EventRecorder, Informer, Result, WorkQueue, object_key, run_controller, utc_now,
)
from orchestrator.controllers import deployment_rollout as ro

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Key = tuple[str, str]

PODS = builtin_type("", "pods")
REPLICASETS = builtin_type("apps", "replicasets")
DEPLOYMENTS = builtin_type("apps", "deployments")


class DeploymentController:
    """Component: informers on Deployments, ReplicaSets and pods, plus reconcile workers."""

    def __init__(self, client: Client, *, now: Callable[[], datetime] = utc_now,
                 workers: int = 5) -> None:
        self.client = client
        self.now = now
        self.workers = workers
        self.deployments = Informer.shared(client, DEPLOYMENTS)
        self.sets = Informer.shared(client, REPLICASETS)
        self.pods = Informer.shared(client, PODS)
        self.queue: WorkQueue[Key] = WorkQueue()
        self.events = EventRecorder(client, "deployment-controller")
        self.deployments.add_handler(self._on_deployment)
        self.sets.add_handler(self._on_set)
        self.pods.add_handler(self._on_pod)

    async def wait_ready(self) -> None:
        await asyncio.gather(self.deployments.wait_synced(), self.sets.wait_synced(),
                             self.pods.wait_synced())

    async def run(self) -> None:
        await run_controller("deployment", self, self.queue, [self.deployments, self.sets, self.pods], self.workers)

    # -- event handlers --

    def _on_deployment(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        assert obj is not None
        self.queue.add(object_key(obj))

    def _deployment_of(self, obj: Obj) -> Key | None:
        ref = controller_of(obj)
        if ref is None or ref.get("kind") != "Deployment":
            return None
        ns = obj["metadata"].get("namespace", "")
        d = self.deployments.get(ns, ref.get("name", ""))
        if d is None or d["metadata"].get("uid") != ref.get("uid"):
            return None
        return (ns, ref["name"])

    def _on_set(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        rs = new or old
        assert rs is not None
        key = self._deployment_of(rs)
        if old is not None and new is not None:
            old_key = self._deployment_of(old)
            if old_key is not None and old_key != key:
                self.queue.add(old_key)
        if key is not None:
            self.queue.add(key)
            return
        if controller_of(rs) is None and etype != "DELETED":
            labels = rs["metadata"].get("labels") or {}
            for d in self.deployments.items(rs["metadata"].get("namespace", "")):
                try:
                    if label_selector_from_dict(ro.spec(d).get("selector")).matches(labels):
                        self.queue.add(object_key(d))
                except errors.APIError:
                    continue

    def _on_pod(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        # Only Recreate waits on pods themselves (old pods must be gone before new ones).
        if etype != "DELETED":
            return
        pod = old
        assert pod is not None
        ref = controller_of(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.sets.get(pod["metadata"].get("namespace", ""), ref.get("name", ""))
        key = self._deployment_of(rs) if rs is not None else None
        if key is not None:
            self.queue.add(key)

    # -- reconcile --

    async def reconcile(self, key: Key) -> Result | None:
        ns, name = key
        cached = self.deployments.get(ns, name)
        if cached is None:
            return None
        d = copy.deepcopy(cached)
        selector = ro.spec(d).get("selector")
        if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
            await self.events.record(d, "Warning", "SelectingAll",
                                     "This deployment is selecting all pods. A non-empty "
                                     "selector is required.")
            return None
        sets = await self._claim(d)
        if d["metadata"].get("deletionTimestamp"):
            new, old = ro.find_new_and_old(d, sets)
            await self._write_status(d, ro.calculate_status(d, old + _one(new), new))
            return None
        status = copy.deepcopy(d.get("status") or {})
        if ro.paused_condition(d, status):
            await self._write_status(d, status)
        new, old = ro.find_new_and_old(d, sets)
        if ro.spec(d).get("paused") or ro.is_scaling_event(d, old + _one(new)):
            return await self._sync(d, sets)
        if ro.is_rolling(d):
            return await self._rolling(d, sets)
        return await self._recreate(d, sets)

    async def _claim(self, d: Obj) -> list[Obj]:
        ns = d["metadata"]["namespace"]
        owned, adopt, release = claim(d, self.sets.items(ns))
        if adopt or release:
            try:
                fresh = await self.client.get(DEPLOYMENTS, d["metadata"]["name"], ns)
            except errors.NotFound:
                return owned
            current = fresh["metadata"].get("uid") == d["metadata"]["uid"] and not fresh[
                "metadata"].get("deletionTimestamp")
            for rs in adopt if current else []:
                refs = [r for r in rs["metadata"].get("ownerReferences") or []
                        if r.get("uid") != d["metadata"]["uid"]] + [owner_reference(d)]
                try:
                    owned.append(await self._patch_rs(rs, {"metadata": {"ownerReferences": refs}}))
                except (errors.NotFound, errors.Conflict):
                    continue
            for rs in release:
                refs = [r for r in rs["metadata"].get("ownerReferences") or []
                        if r.get("uid") != d["metadata"]["uid"]]
                try:
                    await self._patch_rs(rs, {"metadata": {"ownerReferences": refs or None}})
                except (errors.NotFound, errors.Conflict):
                    continue
        return owned

    # -- strategies --

    async def _sync(self, d: Obj, sets: list[Obj]) -> Result | None:
        """Scaling or paused: resize without rolling anything out (kube's sync)."""
        new, old = await self._new_and_old(d, sets, create=False)
        plan = ro.scale_plan(d, new, old)
        new, old = await self._apply_sizes(d, plan, new, old)
        if ro.spec(d).get("paused"):
            await self._cleanup(d, old)
        status = ro.calculate_status(d, old + _one(new), new)
        await self._write_status(d, status)
        return None

    async def _rolling(self, d: Obj, sets: list[Obj]) -> Result | None:
        new, old = await self._new_and_old(d, sets, create=True)
        assert new is not None
        all_sets = old + [new]
        want = ro.desired(d)
        target = want if ro.rs_replicas(new) > want else ro.new_rs_replicas(d, all_sets, new)
        if target != ro.rs_replicas(new):
            new = await self._scale(d, new, target)
            return await self._sync_rollout(d, old + [new], new)
        plan = ro.old_scale_down(d, all_sets, old, new)
        if plan:
            new, old = await self._apply_sizes(d, plan, new, old)
            return await self._sync_rollout(d, old + _one(new), new)
        if ro.complete(d, d.get("status") or {}):
            await self._cleanup(d, old)
        return await self._sync_rollout(d, all_sets, new)

    async def _recreate(self, d: Obj, sets: list[Obj]) -> Result | None:
        new, old = await self._new_and_old(d, sets, create=False)
        live_old = ro.active(old)
        if live_old:
            _, old = await self._apply_sizes(d, {rs["metadata"]["name"]: 0 for rs in live_old},
                                             new, old)
            return await self._sync_rollout(d, old + _one(new), new)
        if self._old_pods_running(new, old):
            return await self._sync_rollout(d, old + _one(new), new)
        if new is None:
            new, old = await self._new_and_old(d, sets, create=True)
            assert new is not None
        if ro.rs_replicas(new) != ro.desired(d):
            new = await self._scale(d, new, ro.desired(d))
        if ro.complete(d, d.get("status") or {}):
            await self._cleanup(d, old)
        return await self._sync_rollout(d, old + [new], new)

    def _old_pods_running(self, new: Obj | None, old: list[Obj]) -> bool:
        if sum(ro.rs_status(rs, "replicas") for rs in old):
            return True
        uids = {rs["metadata"]["uid"] for rs in old}
        ns = (old[0] if old else new or {}).get("metadata", {}).get("namespace")
        for pod in self.pods.items(ns):
            if (controller_of(pod) or {}).get("uid") in uids and (
                    pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                return True
        return False

    # -- the new ReplicaSet and revisions --

    async def _new_and_old(self, d: Obj, sets: list[Obj], create: bool
                           ) -> tuple[Obj | None, list[Obj]]:
        """kube's getAllReplicaSetsAndSyncRevision."""
        new, old = ro.find_new_and_old(d, sets)
        next_revision = ro.max_revision(old) + 1
        if new is not None:
            return await self._sync_existing_new(d, new, next_revision), old
        if not create:
            return None, old
        return await self._create_new(d, old, next_revision), old

    async def _sync_existing_new(self, d: Obj, new: Obj, next_revision: int) -> Obj:
        current = ro.annotations_of(new)
        wanted = ro.new_rs_annotations(d, current, next_revision, exists=True)
        min_ready = ro.spec(d).get("minReadySeconds", 0)
        if wanted != current or ro.spec(new).get("minReadySeconds", 0) != min_ready:
            patch: Obj = {"metadata": {"annotations": wanted},
                          "spec": {"minReadySeconds": min_ready}}
            new = await self._patch_rs(new, patch)
        await self._set_deployment_revision(d, ro.annotations_of(new).get(ro.REVISION, ""))
        status = copy.deepcopy(d.get("status") or {})
        if ro.deadline(d) is not None and condition({"status": status}, "Progressing") is None:
            set_condition(status, "Progressing", "True", ro.FOUND_NEW_RS,
                          f'Found new replica set "{new["metadata"]["name"]}"')
            await self._write_status(d, status)
        return new

    async def _create_new(self, d: Obj, old: list[Obj], next_revision: int) -> Obj:
        md = d["metadata"]
        status = copy.deepcopy(d.get("status") or {})
        collisions = int(status.get("collisionCount") or 0)
        template = copy.deepcopy(ro.spec(d).get("template") or {})
        pod_hash = template_hash(template, collisions)
        template.setdefault("metadata", {}).setdefault("labels", {})[TEMPLATE_HASH_LABEL] = \
            pod_hash
        selector = copy.deepcopy(ro.spec(d).get("selector") or {})
        selector.setdefault("matchLabels", {})[TEMPLATE_HASH_LABEL] = pod_hash
        rs: Obj = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {
                "name": f"{md['name']}-{pod_hash}", "namespace": md["namespace"],
                "labels": dict(template["metadata"]["labels"]),
                "ownerReferences": [owner_reference(d)],
                "annotations": ro.new_rs_annotations(d, {}, next_revision, exists=False),
            },
            "spec": {"replicas": 0, "minReadySeconds": ro.spec(d).get("minReadySeconds", 0),
                     "selector": selector, "template": template},
        }
        size = ro.new_rs_replicas(d, old + [rs], rs)
        rs["spec"]["replicas"] = size
        try:
            created = await self.client.create(REPLICASETS, rs, md["namespace"])
        except errors.AlreadyExists:
            existing = await self.client.get(REPLICASETS, rs["metadata"]["name"], md["namespace"])
            if is_controlled_by(existing, md["uid"]) and ro.equal_ignore_hash(
                    ro.spec(existing).get("template") or {}, ro.spec(d).get("template") or {}):
                return existing
            # A different template hashed to the same name: retry with another hash.
            status["collisionCount"] = collisions + 1
            await self._write_status(d, status)
            raise
        except errors.APIError as exc:
            msg = f"Failed to create new replica set \"{rs['metadata']['name']}\": {exc}"
            await self.events.record(d, "Warning", "FailedCreate", msg)
            if ro.deadline(d) is not None:
                set_condition(status, "ReplicaFailure", "True", ro.FAILED_RS_CREATE, msg)
                await self._write_status(d, status)
            raise
        if size > 0:
            await self.events.record(d, "Normal", "ScalingReplicaSet",
                                     f"Scaled up replica set {created['metadata']['name']} "
                                     f"from 0 to {size}")
        await self._set_deployment_revision(d, str(next_revision))
        if ro.deadline(d) is not None:
            set_condition(status, "Progressing", "True", ro.NEW_RS_CREATED,
                          f'Created new replica set "{created["metadata"]["name"]}"')
            await self._write_status(d, status)
        return created

    async def _set_deployment_revision(self, d: Obj, value: str) -> None:
        if not value or ro.annotations_of(d).get(ro.REVISION) == value:
            return
        md = d["metadata"]
        try:
            fresh = await self.client.patch(DEPLOYMENTS, md["name"], {
                "metadata": {"annotations": {ro.REVISION: value}}}, md["namespace"])
        except errors.NotFound:
            return
        d["metadata"] = fresh["metadata"]

    # -- writes --

    async def _patch_rs(self, rs: Obj, patch: Obj) -> Obj:
        md = rs["metadata"]
        patch.setdefault("metadata", {})["resourceVersion"] = md.get("resourceVersion")
        return await self.client.patch(REPLICASETS, md["name"], patch, md["namespace"])

    async def _scale(self, d: Obj, rs: Obj, size: int) -> Obj:
        """Resize a ReplicaSet and stamp it with the Deployment size it was sized for."""
        before = ro.rs_replicas(rs)
        wanted = ro.replicas_annotations(d)
        if before == size and all(ro.annotations_of(rs).get(k) == v for k, v in wanted.items()):
            return rs
        scaled = await self._patch_rs(rs, {"metadata": {"annotations": wanted},
                                           "spec": {"replicas": size}})
        if before != size:
            direction = "up" if size > before else "down"
            await self.events.record(d, "Normal", "ScalingReplicaSet",
                                     f"Scaled {direction} replica set {rs['metadata']['name']} "
                                     f"from {before} to {size}")
        return scaled

    async def _apply_sizes(self, d: Obj, plan: dict[str, int], new: Obj | None,
                           old: list[Obj]) -> tuple[Obj | None, list[Obj]]:
        out_old = []
        for rs in old:
            name = rs["metadata"]["name"]
            out_old.append(await self._scale(d, rs, plan[name]) if name in plan else rs)
        if new is not None and new["metadata"]["name"] in plan:
            new = await self._scale(d, new, plan[new["metadata"]["name"]])
        return new, out_old

    async def _cleanup(self, d: Obj, old: list[Obj]) -> None:
        for rs in ro.history_to_delete(d, old):
            md = rs["metadata"]
            try:
                await self.client.delete(REPLICASETS, md["name"], md["namespace"], uid=md["uid"])
            except (errors.NotFound, errors.Conflict):
                continue

    async def _sync_rollout(self, d: Obj, all_sets: list[Obj], new: Obj | None
                            ) -> Result | None:
        now = self.now()
        status = ro.rollout_status(d, all_sets, new, now)
        await self._write_status(d, status)
        wait = ro.seconds_to_deadline(d, status, now)
        return Result(requeue_after=wait) if wait is not None else None

    async def _write_status(self, d: Obj, status: Obj) -> None:
        current = d.get("status") or {}
        if status == current:
            return
        md = d["metadata"]
        try:
            fresh = await self.client.patch(DEPLOYMENTS, md["name"], {"status": status},
                                            md["namespace"], subresource="status")
        except errors.NotFound:
            return
        d["status"] = fresh.get("status") or {}
        d["metadata"] = fresh["metadata"]


def _one(rs: Obj | None) -> list[Obj]:
    return [rs] if rs is not None else []
