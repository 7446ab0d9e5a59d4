"""The live scheduler: watches pods and nodes through the API, decides with the same
`Scheduler.schedule_one` the replay tool uses, and binds through `pods/binding`.

Decisions are made one pod at a time against the in-memory `ClusterState`; the pod is
*assumed* onto its node at once (so the next decision sees it) and bound asynchronously, a
bounded number of binds in flight. A failed bind forgets the assumption and retries the pod.
Pods that fit nowhere get `PodScheduled=False` with kube-scheduler's message and wait until
the cluster changes (a node added or changed, a pod gone), or a periodic retry.

Pod groups are planned whole (`gang`): no member is assumed until enough members fit, and
while they wait each member says why. A pod, or a group, that fits nowhere may preempt
lower-priority pods (`live_preemption`); it is then nominated to the node(s) it evicted on,
which other pods of its priority or lower leave alone (`state.ClusterState.nominate`), and
binds once the victims are gone.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from typing import Any

from orchestrator.api import errors
from orchestrator.api.kinds import BUILTIN_TYPES
from orchestrator.api.meta import now_rfc3339
from orchestrator.client import Client, EventRecorder, Informer

from . import gang, names
from .framework import Decision
from .live_preemption import Preemptor
from .nodeinfo import NodeInfo
from .podinfo import PodInfo
from .policies import DEFAULT_POLICY, make_scheduler
from .state import ClusterState

log = logging.getLogger(__name__)

PODS = next(rt for rt in BUILTIN_TYPES if rt.group == "" and rt.plural == "pods")
NODES = next(rt for rt in BUILTIN_TYPES if rt.group == "" and rt.plural == "nodes")
DEFAULT_SCHEDULER_NAME = "default-scheduler"
RETRY_UNSCHEDULABLE_SECONDS = 10.0
MAX_BINDS_IN_FLIGHT = 64


def _key(pod: dict[str, Any]) -> str:
    md = pod.get("metadata") or {}
    return f"{md.get('namespace', '')}/{md.get('name', '')}"


def _is_terminal(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


class LiveScheduler:
    """A scheduler for pods whose `spec.schedulerName` is `scheduler_name`."""

    def __init__(self, client: Client, scheduler_name: str = DEFAULT_SCHEDULER_NAME,
                 policy: str = DEFAULT_POLICY) -> None:
        self.client = client
        self.scheduler_name = scheduler_name
        self.scheduler = make_scheduler(policy)
        self.state = ClusterState()
        self.nodes = Informer.shared(client, NODES)
        self.pods = Informer.shared(client, PODS)
        self.events = EventRecorder(client, scheduler_name)
        self._node_infos: dict[str, NodeInfo] = {}
        self._queue: list[tuple[int, int, str]] = []  # (-priority, seq, key)
        self._queued: set[str] = set()
        self._parked: set[str] = set()  # unschedulable until the cluster changes
        self._last_message: dict[str, str] = {}
        self._seq = itertools.count()
        self._wakeup = asyncio.Event()
        self._binds = asyncio.Semaphore(MAX_BINDS_IN_FLIGHT)
        self._bind_tasks: set[asyncio.Task[None]] = set()
        self._groups: dict[str, set[str]] = {}  # "ns/group" -> member pod keys
        self._before_node: dict[str, set[str]] = {}  # node -> pods bound before it was known
        self.preemptor = Preemptor(client, self.scheduler, self.state, self.pods, self.events)
        self.nodes.add_handler(self._on_node)
        self.pods.add_handler(self._on_pod)

    # -- cluster mirror ------------------------------------------------------------------

    def _on_node(self, etype: str, old: dict[str, Any] | None,
                 new: dict[str, Any] | None) -> None:
        if new is None:
            name = (old or {}).get("metadata", {}).get("name", "")
            self._node_infos.pop(name, None)
            self.state.remove_node(name)
            return
        info = NodeInfo.from_node(new)
        if self._node_infos.get(info.name) == info:
            return  # a heartbeat: nothing the scheduler looks at changed
        self._node_infos[info.name] = info
        self.state.add_node(info)
        # Pods bound to this node before it was known are accounted now (an index, not a
        # scan of every pod: registering 5,000 nodes must not cost nodes x pods).
        for key in sorted(self._before_node.pop(info.name, ())):
            ns, _, name = key.partition("/")
            pod = self.pods.get(ns, name)
            if pod is not None and (pod.get("spec") or {}).get("nodeName") == info.name:
                self._account_bound(pod)
        self._unpark()

    def _on_pod(self, etype: str, old: dict[str, Any] | None,
                new: dict[str, Any] | None) -> None:
        self.preemptor.observe_pod(old, new)
        self._track_group(old, new)
        if new is None or _is_terminal(new):
            key = _key(new or old or {})
            freed = self.state.forget(key) is not None
            released = self.state.unnominate(key)
            if freed or released:
                self._unpark()  # its resources (or the node it held) are free again
            self._queued.discard(key)
            self._parked.discard(key)
            self._last_message.pop(key, None)
            return
        key = _key(new)
        spec = new.get("spec") or {}
        if spec.get("nodeName"):
            self._parked.discard(key)
            if self.state.unnominate(key):
                self._unpark()
            self._account_bound(new)
            return
        if spec.get("schedulerName", DEFAULT_SCHEDULER_NAME) != self.scheduler_name:
            return
        self._sync_nomination(new)
        if (new.get("metadata") or {}).get("deletionTimestamp"):
            return
        if key in self.state.pod_nodes:
            return  # assumed; the bind is in flight
        if key not in self._parked:
            self._enqueue(new)

    def _sync_nomination(self, pod: dict[str, Any]) -> None:
        """Mirror `status.nominatedNodeName` (set when the pod preempted) into the state, so
        the node stays held for it; a nomination that went frees the node for others."""
        key = _key(pod)
        node = (pod.get("status") or {}).get("nominatedNodeName")
        if node and not (pod.get("metadata") or {}).get("deletionTimestamp"):
            self.state.nominate(key, node, int((pod.get("spec") or {}).get("priority") or 0))
        elif self.state.unnominate(key):
            self._unpark()

    def _track_group(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        pod = new or old or {}
        md = pod.get("metadata") or {}
        labels, annotations = md.get("labels") or {}, md.get("annotations") or {}
        name = labels.get(names.POD_GROUP_LABEL) or annotations.get(names.VOLCANO_GROUP_ANNOTATION)
        if not name:
            return
        group = f"{md.get('namespace', '')}/{name}"
        if new is None or _is_terminal(new):
            members = self._groups.get(group)
            if members is not None:
                members.discard(_key(pod))
                if not members:
                    del self._groups[group]
        else:
            self._groups.setdefault(group, set()).add(_key(pod))

    def _account_bound(self, pod: dict[str, Any]) -> None:
        key = _key(pod)
        node = pod["spec"]["nodeName"]
        placed = self.state.placement_of(key)
        if placed is not None and placed[0] == node:
            return
        if node not in self.state.nodes:
            self._before_node.setdefault(node, set()).add(key)
            return  # accounted once the node is known
        try:
            self.state.add_bound_pod(PodInfo.from_pod(pod), node)
        except (KeyError, ValueError) as exc:
            log.warning("cannot account pod %s on %s: %s", key, node, exc)

    def _enqueue(self, pod: dict[str, Any]) -> None:
        key = _key(pod)
        if key in self._queued:
            return
        priority = int((pod.get("spec") or {}).get("priority") or 0)
        heapq.heappush(self._queue, (-priority, next(self._seq), key))
        self._queued.add(key)
        self._wakeup.set()

    def _unpark(self) -> None:
        if not self._parked:
            return
        parked, self._parked = self._parked, set()
        for key in parked:
            ns, _, name = key.partition("/")
            pod = self.pods.get(ns, name)
            if pod is not None and not (pod.get("spec") or {}).get("nodeName"):
                self._enqueue(pod)

    # -- scheduling ----------------------------------------------------------------------

    async def wait_ready(self) -> None:
        await self.nodes.wait_synced()
        await self.pods.wait_synced()
        await self.preemptor.budgets.wait_synced()

    async def run(self) -> None:
        watchers = [asyncio.create_task(self.nodes.run()),
                    asyncio.create_task(self.pods.run()),
                    asyncio.create_task(self.preemptor.budgets.run()),
                    asyncio.create_task(self._retry_parked())]
        try:
            await self.wait_ready()
            while True:
                if not self._queue:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                _, _, key = heapq.heappop(self._queue)
                if key not in self._queued:
                    continue  # a stale entry: parked with its group, or already placed
                self._queued.discard(key)
                await self._schedule(key)
        finally:
            for task in watchers + list(self._bind_tasks):
                task.cancel()

    async def _retry_parked(self) -> None:
        while True:
            await asyncio.sleep(RETRY_UNSCHEDULABLE_SECONDS)
            self._unpark()

    async def _schedule(self, key: str) -> None:
        ns, _, name = key.partition("/")
        pod = self.pods.get(ns, name)
        if pod is None or (pod.get("spec") or {}).get("nodeName") or _is_terminal(pod):
            return
        if key in self.state.pod_nodes:
            return  # assumed with its group; the bind is in flight
        info = PodInfo.from_pod(pod)
        if info.group is not None:
            await self._schedule_group(info)
            return
        # The node a pod holds is held against others, not against itself.
        self.state.unnominate(key)
        decision = self.scheduler.schedule_one(info, self.state)
        if decision.node is None:
            self._sync_nomination(pod)  # still held while its victims terminate
            self._parked.add(key)
            await self._report_unschedulable(pod, decision.message)
            await self.preemptor.attempt(pod, info)
            return
        await self._assume_and_bind(pod, info, decision)

    async def _assume_and_bind(self, pod: dict[str, Any], info: PodInfo,
                               decision: Decision) -> None:
        self.scheduler.assume(self.state, info, decision)
        await self._binds.acquire()
        task = asyncio.create_task(self._bind(pod, info, decision))
        self._bind_tasks.add(task)
        task.add_done_callback(self._bind_tasks.discard)

    async def _schedule_group(self, info: PodInfo) -> None:
        """Plan every pending member of the pod's group at once; bind all or none."""
        group = gang.group_key(info)
        assert group is not None and info.group is not None
        pending: list[tuple[dict[str, Any], PodInfo]] = []
        bound = 0
        for key in sorted(self._groups.get(group, ())):
            ns, _, name = key.partition("/")
            raw = self.pods.get(ns, name)
            if raw is None or _is_terminal(raw) or (raw.get("metadata") or {}).get("deletionTimestamp"):
                continue
            if (raw.get("spec") or {}).get("nodeName") or key in self.state.pod_nodes:
                bound += 1
            elif (raw.get("spec") or {}).get("schedulerName", DEFAULT_SCHEDULER_NAME) == self.scheduler_name:
                pending.append((raw, PodInfo.from_pod(raw)))
        if not pending:
            return
        minimum = info.group.min_member or bound + len(pending)
        for _, member in pending:  # the nodes the group holds are held for it, not against it
            self.state.unnominate(member.key)
        plan = gang.plan_gang(self.scheduler, self.state, group, minimum,
                              [m for _, m in pending], bound)
        raws = {m.key: raw for raw, m in pending}
        if plan.placed:
            for member, decision in plan.decisions:
                self._queued.discard(member.key)
                self._parked.discard(member.key)
                await self._assume_and_bind(raws[member.key], member, decision)
            return
        for raw, member in pending:
            self._queued.discard(member.key)
            self._parked.add(member.key)
            self._sync_nomination(raw)
        for raw, _ in pending:
            await self._report_unschedulable(raw, plan.message)
        await self.preemptor.attempt_group(pending, minimum - bound)

    async def _bind(self, pod: dict[str, Any], info: PodInfo, decision: Decision) -> None:
        md = pod["metadata"]
        try:
            annotations = {}
            if decision.devices:
                annotations[names.GPU_DEVICES_ANNOTATION] = decision.device_annotation
            assert decision.node is not None
            await self.client.bind(md["namespace"], md["name"], decision.node, annotations)
            self._last_message.pop(_key(pod), None)
        except errors.APIError as exc:
            self.state.forget(info.key)
            if isinstance(exc, errors.NotFound):
                return
            if isinstance(exc, errors.Conflict):
                return  # bound by someone else, or being deleted: the watch tells us
            log.warning("binding %s to %s failed: %s", _key(pod), decision.node, exc)
            self._parked.add(_key(pod))
        except Exception as exc:
            self.state.forget(info.key)
            log.warning("binding %s failed: %s", _key(pod), exc)
            self._parked.add(_key(pod))
        finally:
            self._binds.release()

    async def _report_unschedulable(self, pod: dict[str, Any], message: str) -> None:
        key = _key(pod)
        message = message or "0/0 nodes are available"
        if self._last_message.get(key) == message:
            return
        self._last_message[key] = message
        conditions = [c for c in (pod.get("status") or {}).get("conditions") or []
                      if c.get("type") != "PodScheduled"]
        conditions.append({"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                           "message": message, "lastProbeTime": None,
                           "lastTransitionTime": now_rfc3339()})
        md = pod["metadata"]
        try:
            await self.client.patch(PODS, md["name"], {"status": {"conditions": conditions}},
                                    md["namespace"], subresource="status")
        except errors.APIError as exc:
            log.debug("could not mark %s unschedulable: %s", key, exc)
        await self.events.record(pod, "Warning", "FailedScheduling", message)


def build(client: Client) -> list[Any]:
    return [LiveScheduler(client)]
