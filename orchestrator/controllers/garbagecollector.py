"""Garbage collector: ownerReferences, cascading deletion (Background, Foreground, Orphan).

Like kube's garbage collector it keeps a graph of owner uid -> dependents and works on two
kinds of item:
- a *dependent*: if none of its owners is still there, delete it (with the policy its own
  finalizers ask for); if some are, drop references to vanished owners and to owners that
  wait for their dependents' deletion;
- an *owner being deleted* with the `orphan` finalizer (strip its uid from dependents'
  ownerReferences, then drop the finalizer) or the `foregroundDeletion` finalizer (delete
  its dependents; once none with `blockOwnerDeletion` remains, drop the finalizer).

The graph is fed by informers on the kinds that commonly carry owner references; a
periodic discovery finds every other listable kind (custom resources included) and starts
a watch on it, as kube's dynamic informers do.
An owner is declared gone only after a live GET says so: caches may lag behind.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Iterable

from orchestrator.api import errors
from orchestrator.api.kinds import BUILTIN_TYPES, ResourceType
from orchestrator.client import Client, Informer, Result, WorkQueue, run_workers

log = logging.getLogger(__name__)

Obj = dict[str, Any]
ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
SCAN_INTERVAL = 5.0  # how soon a new custom kind gets a watch
# Kinds watched continuously: where nearly all owner references live.
WATCHED = ("pods", "replicasets", "deployments", "statefulsets", "daemonsets", "jobs",
           "cronjobs", "controllerrevisions", "endpoints", "endpointslices", "services",
           "configmaps", "secrets", "persistentvolumeclaims")
_NEVER_SCANNED = {"events", "leases", "bindings", "tokenreviews", "subjectaccessreviews",
                  "selfsubjectaccessreviews", "selfsubjectrulesreviews", "localsubjectaccessreviews",
                  "componentstatuses"}


@dataclass(frozen=True)
class Item:
    """An object's identity in the graph."""

    api_version: str
    kind: str
    namespace: str
    name: str


# -- pure parts ------------------------------------------------------------------------------

@dataclass
class DependentPlan:
    """What to do with one dependent, given which of its owners are still there."""

    action: str  # "none" | "delete" | "remove-refs"
    remove_uids: tuple[str, ...] = ()
    propagation: str = "Background"


def plan_dependent(obj: Obj, owners: dict[str, Obj | None], has_dependents: bool
                   ) -> DependentPlan:
    """kube's attemptToDeleteItem. `owners` maps each ownerReference uid to the live owner
    (None when it is gone, or replaced by an object with another uid)."""
    md = obj.get("metadata") or {}
    refs = md.get("ownerReferences") or []
    if not refs or md.get("deletionTimestamp"):
        return DependentPlan("none")
    solid, dangling, waiting = [], [], []
    for ref in refs:
        owner = owners.get(ref.get("uid", ""), {})
        if owner is None:
            dangling.append(ref["uid"])
        elif is_deleting_dependents(owner):
            waiting.append(ref["uid"])
        else:
            solid.append(ref["uid"])
    if solid:
        if dangling or waiting:
            return DependentPlan("remove-refs", tuple(dangling + waiting))
        return DependentPlan("none")
    if waiting and has_dependents:
        # Our dependents must go first too: delete in the foreground so the chain blocks.
        return DependentPlan("delete", propagation="Foreground")
    finalizers = md.get("finalizers") or []
    policy = "Orphan" if ORPHAN in finalizers else (
        "Foreground" if FOREGROUND in finalizers else "Background")
    return DependentPlan("delete", propagation=policy)


def is_deleting_dependents(obj: Obj) -> bool:
    md = obj.get("metadata") or {}
    return bool(md.get("deletionTimestamp")) and FOREGROUND in (md.get("finalizers") or [])


def blocking(owner_uid: str, dependents: Iterable[Obj]) -> list[Obj]:
    """Dependents that hold a foreground-deleted owner back (blockOwnerDeletion: true)."""
    return [d for d in dependents
            if any(r.get("uid") == owner_uid and r.get("blockOwnerDeletion")
                   for r in (d.get("metadata") or {}).get("ownerReferences") or [])]


def without_owner(refs: list[Obj], uids: Iterable[str]) -> list[Obj]:
    gone = set(uids)
    return [r for r in refs if r.get("uid") not in gone]


# -- executor --------------------------------------------------------------------------------

WorkKey = tuple[str, Item]  # ("dependent" | "owner", item)


class GarbageCollector:
    def __init__(self, client: Client, *, scan_interval: float = SCAN_INTERVAL,
                 workers: int = 4) -> None:
        self.client = client
        self.scan_interval = scan_interval
        self.workers = workers
        self.queue: WorkQueue[WorkKey] = WorkQueue()
        self.informers: dict[str, Informer] = {}
        self._types: dict[tuple[str, str], ResourceType] = {
            (rt.api_version, rt.kind): rt for rt in BUILTIN_TYPES}
        self._missing_kinds: set[tuple[str, str]] = set()
        self._objects: dict[Item, Obj] = {}  # from watches and scans
        self._uids: dict[str, Item] = {}
        self._refs: dict[Item, set[str]] = {}
        self._dependents: dict[str, set[Item]] = {}
        self._dynamic: list[asyncio.Task[None]] = []  # informers started by `scan`
        for rt in BUILTIN_TYPES:
            if rt.plural in WATCHED and rt.group != "events.k8s.io":
                informer = Informer.shared(client, rt)
                informer.add_handler(self._handler(rt))
                self.informers[rt.plural] = informer

    async def wait_ready(self) -> None:
        await asyncio.gather(*(i.wait_synced() for i in self.informers.values()))

    async def run(self) -> None:
        tasks = [asyncio.create_task(i.run()) for i in self.informers.values()]
        try:
            await self.wait_ready()
            tasks.append(asyncio.create_task(self._scan_forever()))
            await run_workers("garbagecollector", self, self.queue, self.workers)
        finally:
            for t in tasks + self._dynamic:
                t.cancel()
            self.queue.shutdown()

    # -- the graph --

    def _handler(self, rt: ResourceType) -> Any:
        def handle(etype: str, old: Obj | None, new: Obj | None) -> None:
            obj = new or old
            assert obj is not None
            self._observe(rt, obj, deleted=etype == "DELETED", old=old)
        return handle

    def _item(self, rt: ResourceType, obj: Obj) -> Item:
        md = obj["metadata"]
        return Item(rt.api_version, rt.kind, md.get("namespace", "") if rt.namespaced else "",
                    md["name"])

    def _observe(self, rt: ResourceType, obj: Obj, *, deleted: bool,
                 old: Obj | None = None) -> None:
        item = self._item(rt, obj)
        md = obj["metadata"]
        uid = md.get("uid", "")
        old_refs = self._refs.get(item, set())
        if deleted:
            self._objects.pop(item, None)
            self._uids.pop(uid, None)
            self._set_refs(item, set())
            for dep in list(self._dependents.get(uid, ())):
                self.queue.add(("dependent", dep))  # they may be orphans now
            for owner_uid in old_refs:  # a foreground-deleted owner may be free now
                owner = self._uids.get(owner_uid)
                if owner is not None:
                    self.queue.add(("owner", owner))
            return
        self._objects[item] = obj
        self._uids[uid] = item
        refs = {r.get("uid", "") for r in md.get("ownerReferences") or []}
        self._set_refs(item, refs)
        if refs and (old is None or refs != old_refs):
            self.queue.add(("dependent", item))
        if md.get("deletionTimestamp") and {ORPHAN, FOREGROUND} & set(md.get("finalizers") or []):
            self.queue.add(("owner", item))
        for owner_uid in old_refs - refs:
            owner = self._uids.get(owner_uid)
            if owner is not None:
                self.queue.add(("owner", owner))

    def _set_refs(self, item: Item, refs: set[str]) -> None:
        for uid in self._refs.get(item, set()) - refs:
            deps = self._dependents.get(uid)
            if deps is not None:
                deps.discard(item)
                if not deps:
                    del self._dependents[uid]
        for uid in refs:
            self._dependents.setdefault(uid, set()).add(item)
        if refs:
            self._refs[item] = refs
        else:
            self._refs.pop(item, None)

    def dependents_of(self, uid: str) -> list[Obj]:
        return [self._objects[i] for i in self._dependents.get(uid, ()) if i in self._objects]

    # -- periodic scan of kinds without a watch --

    async def _scan_forever(self) -> None:
        while True:
            try:
                await self.scan()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("garbage collector scan failed: %s", exc)
            await asyncio.sleep(self.scan_interval)

    async def scan(self) -> None:
        """Find kinds without a watch (custom resources, rarer built-ins) and watch them
        from now on, as kube-controller-manager's dynamic informers do: owners and
        dependents of those kinds are then handled as soon as they change."""
        for rt in await self._discover():
            key = f"{rt.group}/{rt.plural}"
            if rt.plural in WATCHED and not rt.custom or rt.plural in _NEVER_SCANNED:
                continue
            if key in self.informers:
                continue
            informer = Informer.shared(self.client, rt)
            informer.add_handler(self._handler(rt))
            self.informers[key] = informer
            self._dynamic.append(asyncio.create_task(informer.run()))

    async def _discover(self) -> list[ResourceType]:
        """Every listable, deletable resource the server serves (preferred versions)."""
        out: list[ResourceType] = []
        paths = ["/api/v1"]
        groups = await self.client.request("GET", "/apis")
        for g in groups.get("groups") or []:
            preferred = (g.get("preferredVersion") or {}).get("groupVersion")
            if preferred:
                paths.append(f"/apis/{preferred}")
        for path in paths:
            try:
                doc = await self.client.request("GET", path)
            except errors.APIError:
                continue
            gv = doc.get("groupVersion", "v1")
            group, _, version = gv.rpartition("/")
            for r in doc.get("resources") or []:
                if "/" in r.get("name", "") or not {"list", "delete"} <= set(r.get("verbs") or []):
                    continue
                builtin = self._types.get((gv, r["kind"]))
                rt = builtin or ResourceType(
                    group=group, version=version, kind=r["kind"], plural=r["name"],
                    singular=r.get("singularName") or r["kind"].lower(),
                    namespaced=bool(r.get("namespaced")), custom=True)
                self._types[(gv, r["kind"])] = rt
                out.append(rt)
        return out

    async def _resource(self, api_version: str, kind: str) -> ResourceType | None:
        rt = self._types.get((api_version, kind))
        if rt is None and (api_version, kind) not in self._missing_kinds:
            await self._discover()
            rt = self._types.get((api_version, kind))
            if rt is None:
                self._missing_kinds.add((api_version, kind))
                asyncio.get_running_loop().call_later(
                    self.scan_interval, self._missing_kinds.discard, (api_version, kind))
        return rt

    # -- reconcile --

    async def reconcile(self, key: WorkKey) -> Result | None:
        role, item = key
        rt = await self._resource(item.api_version, item.kind)
        if rt is None:
            return None
        obj = await self._live(rt, item)
        if obj is None:
            return None
        if role == "owner":
            return await self._process_owner(rt, obj)
        return await self._process_dependent(rt, obj)

    async def _live(self, rt: ResourceType, item: Item) -> Obj | None:
        try:
            return await self.client.get(rt, item.name, item.namespace or None)
        except errors.NotFound:
            return None

    async def _owner(self, ref: Obj, namespace: str) -> Obj | None | Obj:
        """The live owner, None when gone; `{}` (treated as present) when unknowable."""
        rt = await self._resource(str(ref.get("apiVersion", "")), str(ref.get("kind", "")))
        if rt is None:
            return {}
        item = Item(rt.api_version, rt.kind, namespace if rt.namespaced else "",
                    str(ref.get("name", "")))
        cached = self._objects.get(item)
        if cached is not None and cached["metadata"].get("uid") == ref.get("uid") and not \
                cached["metadata"].get("deletionTimestamp"):
            return cached
        live = await self._live(rt, item)
        if live is None or live["metadata"].get("uid") != ref.get("uid"):
            return None
        return live

    async def _process_dependent(self, rt: ResourceType, obj: Obj) -> Result | None:
        md = obj["metadata"]
        if is_deleting_dependents(obj):
            return await self._process_owner(rt, obj)
        owners: dict[str, Obj | None] = {}
        for ref in md.get("ownerReferences") or []:
            owners[ref.get("uid", "")] = await self._owner(ref, md.get("namespace", ""))
        plan = plan_dependent(obj, owners, bool(self._dependents.get(md.get("uid", ""))))
        if plan.action == "remove-refs":
            refs = without_owner(md.get("ownerReferences") or [], plan.remove_uids)
            await self._patch_meta(rt, obj, {"ownerReferences": refs or None})
        elif plan.action == "delete":
            log.info("garbage collector: deleting %s %s/%s (%s)", rt.kind,
                     md.get("namespace", ""), md["name"], plan.propagation)
            try:
                await self.client.delete(rt, md["name"], md.get("namespace") or None,
                                         propagation=plan.propagation, uid=md.get("uid"))
            except (errors.NotFound, errors.Conflict):
                return None
        return None

    async def _process_owner(self, rt: ResourceType, owner: Obj) -> Result | None:
        md = owner["metadata"]
        if not md.get("deletionTimestamp"):
            return None
        finalizers = list(md.get("finalizers") or [])
        uid = md.get("uid", "")
        dependents = await self._fresh_dependents(uid)
        if ORPHAN in finalizers:
            for dep in dependents:
                dep_rt = await self._resource(dep.get("apiVersion", ""), dep.get("kind", ""))
                if dep_rt is None:
                    continue
                refs = without_owner(dep["metadata"].get("ownerReferences") or [], [uid])
                await self._patch_meta(dep_rt, dep, {"ownerReferences": refs or None})
            await self._patch_meta(rt, owner, {"finalizers": [f for f in finalizers
                                                              if f != ORPHAN]})
            return None
        if FOREGROUND in finalizers:
            for dep in dependents:
                if not dep["metadata"].get("deletionTimestamp"):
                    dep_rt = await self._resource(dep.get("apiVersion", ""), dep.get("kind", ""))
                    if dep_rt is not None:
                        self.queue.add(("dependent", self._item(dep_rt, dep)))
            if blocking(uid, dependents):
                return Result(requeue_after=2.0)  # dependents' deletion events also wake us
            await self._patch_meta(rt, owner, {"finalizers": [f for f in finalizers
                                                              if f != FOREGROUND]})
        return None

    async def _fresh_dependents(self, uid: str) -> list[Obj]:
        """The owner's dependents, re-read so that their current refs are acted on."""
        out = []
        for item in list(self._dependents.get(uid, ())):
            rt = await self._resource(item.api_version, item.kind)
            if rt is None:
                continue
            obj = await self._live(rt, item)
            if obj is None:
                continue
            obj.setdefault("apiVersion", rt.api_version)
            obj.setdefault("kind", rt.kind)
            if any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or []):
                out.append(obj)
        return out

    async def _patch_meta(self, rt: ResourceType, obj: Obj, meta: Obj) -> None:
        md = obj["metadata"]
        patch = {"metadata": dict(meta, resourceVersion=md.get("resourceVersion"))}
        try:
            await self.client.patch(rt, md["name"], patch, md.get("namespace") or None)
        except errors.NotFound:
            return
