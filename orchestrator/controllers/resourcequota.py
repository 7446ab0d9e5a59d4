"""ResourceQuota controller: keeps each quota's `status.hard` equal to `spec.hard` and its
`status.used` equal to what the namespace's objects use (kube's resourcequota controller).

Admission charges a create at once; this controller is what gives usage back (a pod
deleted or finished, a claim deleted) and what fills in a new quota, which admission does not
enforce until `status.hard` is set. A reconcile reads the quota, then lists the objects it
counts (so the list is at least as new as the quota, and every charge the quota carries is
in it), and writes the status with the quota's resourceVersion: a charge made meanwhile makes
the write conflict and the key is retried, so the controller never undoes a charge.

Informers on the kinds the quotas count (pods, services, claims, configmaps, secrets, and
whatever `count/<resource>.<group>` names, started when a quota first names it) only say
which quotas to recount; `plan` is pure.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping

from orchestrator.api import errors
from orchestrator.api.kinds import BUILTIN_TYPES, ResourceType
from orchestrator.api.quota import pods as pod_usage
from orchestrator.api.quota.usage import desired_status, status_current, tracked
from orchestrator.client import Client, Informer, Result, WorkQueue, run_workers

log = logging.getLogger(__name__)

Obj = dict[str, Any]
QUOTAS = next(rt for rt in BUILTIN_TYPES if rt.group == "" and rt.plural == "resourcequotas")
# kube's controller recounts every quota this often even with nothing to tell it.
RESYNC_SECONDS = 300.0


def plan(quota: Mapping[str, Any], objects: Mapping[str, Iterable[Mapping[str, Any]]],
         now: datetime) -> dict[str, Any] | None:
    """The status to write, or None when the stored one is current. Pure."""
    desired = desired_status(quota, objects, now)
    return None if status_current(quota, desired) else desired


def usage_changed(group_resource: str, old: Mapping[str, Any] | None,
                  new: Mapping[str, Any] | None, now: datetime) -> bool:
    """Whether a change to an object can change what it charges (creates and deletes can;
    most updates, such as a pod's readiness, cannot)."""
    if old is None or new is None:
        return True
    if group_resource == "pods":
        return pod_usage.usage(old, now) != pod_usage.usage(new, now) or \
            pod_usage.terminating(old) != pod_usage.terminating(new)
    return group_resource in ("services", "persistentvolumeclaims")


def _builtin(group_resource: str) -> ResourceType | None:
    plural, _, group = group_resource.partition(".")
    return next((rt for rt in BUILTIN_TYPES if rt.plural == plural and rt.group == group
                 and rt.namespaced), None)


class ResourceQuotaController:
    def __init__(self, client: Client,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.client = client
        self.clock = clock
        self.quotas = Informer.shared(client, QUOTAS)
        self.queue: WorkQueue[str] = WorkQueue()
        self.quotas.add_handler(self._on_quota)
        # group resource -> its informer (only to learn which quotas to recount)
        self._watching: dict[str, Informer] = {}
        self._types: dict[str, ResourceType] = {}
        self._tasks: list[asyncio.Task[None]] = []

    # -- event handlers (in the loop, never block) --

    def _on_quota(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        if new is None:
            return
        md = new["metadata"]
        self.queue.add(f"{md.get('namespace', '')}/{md['name']}")
        for group_resource in tracked(new):
            rt = self._types.get(group_resource) or _builtin(group_resource)
            if rt is not None:
                self._watch(group_resource, rt)

    def _watch(self, group_resource: str, rt: ResourceType) -> None:
        self._types[group_resource] = rt
        if group_resource in self._watching:
            return
        informer = Informer.shared(self.client, rt)
        informer.add_handler(lambda etype, old, new: self._on_object(group_resource, old, new))
        self._watching[group_resource] = informer
        self._tasks.append(asyncio.ensure_future(informer.run()))

    def _on_object(self, group_resource: str, old: Obj | None, new: Obj | None) -> None:
        ns = ((new or old or {}).get("metadata") or {}).get("namespace", "")
        quotas = [q for q in self.quotas.items(ns) if group_resource in tracked(q)]
        if quotas and usage_changed(group_resource, old, new, self.clock()):
            for quota in quotas:
                self.queue.add(f"{ns}/{quota['metadata']['name']}")

    # -- running --

    async def wait_ready(self) -> None:
        await self.quotas.wait_synced()

    async def run(self) -> None:
        self._tasks.append(asyncio.ensure_future(self.quotas.run()))
        try:
            await self.wait_ready()
            await run_workers("resourcequota", self, self.queue, 2)
        finally:
            for task in self._tasks:
                task.cancel()
            self.queue.shutdown()

    async def _resolve(self, group_resource: str) -> ResourceType | None:
        """The type behind `deployments.apps` or `daskclusters.kubernetes.dask.org`, from
        the built-in kinds or discovery (a custom resource may be installed later)."""
        known = self._types.get(group_resource) or _builtin(group_resource)
        if known is not None:
            return known
        plural, _, group = group_resource.partition(".")
        if not group:
            return None
        try:
            preferred = (await self.client.request("GET", f"/apis/{group}"))["preferredVersion"]
            listing = await self.client.request("GET", f"/apis/{preferred['groupVersion']}")
        except (errors.APIError, KeyError, TypeError):
            return None
        for resource in listing.get("resources") or []:
            if resource.get("name") == plural and resource.get("namespaced"):
                return ResourceType(group=group, version=str(preferred["version"]),
                                    kind=str(resource.get("kind")), plural=plural,
                                    singular=str(resource.get("singularName") or ""),
                                    namespaced=True)
        return None

    async def reconcile(self, key: str) -> Result | None:
        ns, _, name = key.partition("/")
        try:
            quota = await self.client.get(QUOTAS, name, ns)
        except errors.NotFound:
            return None
        objects: dict[str, list[Obj]] = {}
        for group_resource in sorted(tracked(quota)):
            rt = await self._resolve(group_resource)
            if rt is None:
                continue  # nothing of that kind exists: it counts zero
            self._watch(group_resource, rt)
            objects[group_resource], _ = await self.client.list(rt, ns)
        status = plan(quota, objects, self.clock())
        if status is not None:
            try:
                await self.client.replace(QUOTAS, {**quota, "status": status}, "status")
            except errors.NotFound:
                return None
            log.debug("resourcequota %s/%s: used %s", ns, name, status["used"])
        return Result(requeue_after=RESYNC_SECONDS)
