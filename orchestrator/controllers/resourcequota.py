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
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping

from orchestrator.api import errors
from orchestrator.api.kinds import BUILTIN_TYPES, ResourceType
from orchestrator.api.quota import pods as pod_usage
from orchestrator.api.quota.usage import desired_status, status_current, tracked
from orchestrator.client import (
    Action, Client, Controller, Declaration, Informer, Kind, RequeueAfter, WriteStatus, utc_now,
)

Obj = dict[str, Any]
QUOTA = Kind("v1", "ResourceQuota")
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


def actions(quota: Obj, objects: Mapping[str, Iterable[Mapping[str, Any]]],
            now: datetime) -> list[Action]:
    """The status write when the stored one is not current, then the periodic recount."""
    status = plan(quota, objects, now)
    out: list[Action] = [WriteStatus(status)] if status is not None else []
    return out + [RequeueAfter(RESYNC_SECONDS)]


DECLARATION = Declaration("resourcequota", "resourcequota-controller", QUOTA,
                          skip_deleting=False)


class QuotaLogic:
    """Observes the objects each quota counts, resolving `count/<resource>.<group>` names
    through the built-in kinds or discovery; `watch` is told of each kind so its changes
    requeue the quotas."""

    def __init__(self, watch: Callable[[str, ResourceType], None]) -> None:
        self.watch = watch
        self.types: dict[str, ResourceType] = {}

    async def _resolve(self, client: Client, group_resource: str) -> ResourceType | None:
        """The type behind `deployments.apps` or `daskclusters.kubernetes.dask.org`, from
        the built-in kinds or discovery (a custom resource may be installed later)."""
        known = self.types.get(group_resource) or _builtin(group_resource)
        if known is not None:
            return known
        plural, _, group = group_resource.partition(".")
        if not group:
            return None
        try:
            preferred = (await client.request("GET", f"/apis/{group}"))["preferredVersion"]
            listing = await client.request("GET", f"/apis/{preferred['groupVersion']}")
        except (errors.APIError, KeyError, TypeError):
            return None
        for resource in listing.get("resources") or []:
            if resource.get("name") == plural and resource.get("namespaced"):
                return ResourceType(group=group, version=str(preferred["version"]),
                                    kind=str(resource.get("kind")), plural=plural,
                                    singular=str(resource.get("singularName") or ""),
                                    namespaced=True)
        return None

    async def observe(self, client: Client, quota: Obj) -> dict[str, list[Obj]]:
        ns = quota["metadata"].get("namespace", "")
        objects: dict[str, list[Obj]] = {}
        for group_resource in sorted(tracked(quota)):
            rt = await self._resolve(client, group_resource)
            if rt is None:
                continue  # nothing of that kind exists: it counts zero
            self.watch(group_resource, rt)
            objects[group_resource], _ = await client.list(rt, ns)
        return objects

    def plan(self, quota: Obj, objects: dict[str, list[Obj]], now: datetime) -> list[Action]:
        return actions(quota, objects, now)


class ResourceQuotaController(Controller[dict[str, list[Obj]]]):
    def __init__(self, client: Client, clock: Callable[[], datetime] = utc_now) -> None:
        self.logic_ = QuotaLogic(self._watch)
        # group resource -> its informer (only to learn which quotas to recount), started
        # when a quota first names its kind.
        self._watching: dict[str, Informer] = {}
        self._tasks: list[asyncio.Future[None]] = []
        super().__init__(client, DECLARATION, self.logic_, now=clock)
        self.clock = clock

    def _on_primary(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        if new is None:
            return
        super()._on_primary(etype, old, new)
        for group_resource in tracked(new):
            rt = self.logic_.types.get(group_resource) or _builtin(group_resource)
            if rt is not None:
                self._watch(group_resource, rt)

    def _watch(self, group_resource: str, rt: ResourceType) -> None:
        self.logic_.types[group_resource] = rt
        if group_resource in self._watching:
            return
        informer = Informer.shared(self.client, rt)
        informer.add_handler(lambda etype, old, new: self._on_object(group_resource, old, new))
        self._watching[group_resource] = informer
        self._tasks.append(asyncio.ensure_future(informer.run()))

    def _on_object(self, group_resource: str, old: Obj | None, new: Obj | None) -> None:
        ns = ((new or old or {}).get("metadata") or {}).get("namespace", "")
        quotas = [q for q in self.primaries.items(ns) if group_resource in tracked(q)]
        if quotas and usage_changed(group_resource, old, new, self.clock()):
            for quota in quotas:
                self.queue.add((ns, quota["metadata"]["name"]))

    async def wait_ready(self) -> None:
        await self.primaries.wait_synced()

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            for task in self._tasks:
                task.cancel()
