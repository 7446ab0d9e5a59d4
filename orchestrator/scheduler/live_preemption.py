"""The live side of preemption: what the planner needs from the API, and acting on its plan.

`Preemptor.attempt(pod)` runs after a pod found no node. It asks `preemption.plan_preemption`
for a node and victims (PodDisruptionBudgets read from an informer), then does what
kube-scheduler does: sets `status.nominatedNodeName` on the preemptor, evicts each victim
through `pods/eviction` (graceful; the API server refuses to break a budget), and records a
`Preempted` Event on each victim (`Preempted by pod <uid> on node <node>`). The preemptor
binds when the victims are gone, like any pod retried after the cluster changed.
`attempt_group` does the same for a pod group that does not fit, with
`preemption.plan_gang_preemption`: every member it makes room for is nominated.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from orchestrator.api import errors
from orchestrator.api.kinds import BUILTIN_TYPES
from orchestrator.api.selectors import label_selector_from_dict
from orchestrator.client import Client, EventRecorder, Informer

from . import gang, preemption
from .podinfo import PodInfo
from .scheduler import Scheduler
from .state import ClusterState

log = logging.getLogger(__name__)

PODS = next(rt for rt in BUILTIN_TYPES if rt.group == "" and rt.plural == "pods")
PDBS = next(rt for rt in BUILTIN_TYPES if rt.group == "policy"
            and rt.plural == "poddisruptionbudgets")


def _key(obj: dict[str, Any]) -> str:
    md = obj.get("metadata") or {}
    return f"{md.get('namespace', '')}/{md.get('name', '')}"


class Preemptor:
    """Evicts lower-priority pods for pods that fit nowhere, when that is the only way."""

    def __init__(self, client: Client, scheduler: Scheduler, state: ClusterState,
                 pods: Informer, events: EventRecorder) -> None:
        self.client = client
        self.scheduler = scheduler
        self.state = state
        self.pods = pods
        self.events = events
        self.budgets = Informer.shared(client, PDBS)
        self.terminating: set[str] = set()  # pods with a deletionTimestamp

    def observe_pod(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        if new is not None and (new.get("metadata") or {}).get("deletionTimestamp"):
            self.terminating.add(_key(new))
        elif new is None and old is not None:
            self.terminating.discard(_key(old))

    # -- what the planner reads ----------------------------------------------------------

    def _budgets_of(self, pod_key: str) -> list[str]:
        ns, _, name = pod_key.partition("/")
        pod = self.pods.get(ns, name)
        if pod is None:
            return []
        labels = (pod.get("metadata") or {}).get("labels") or {}
        out = []
        for pdb in self.budgets.items(ns):
            selector = (pdb.get("spec") or {}).get("selector")
            if isinstance(selector, dict) and label_selector_from_dict(selector).matches(labels):
                out.append(_key(pdb))
        return out

    def _allowed(self) -> dict[str, int]:
        return {_key(pdb): int((pdb.get("status") or {}).get("disruptionsAllowed") or 0)
                for pdb in self.budgets.items()}

    # -- acting ----------------------------------------------------------------------------

    async def attempt(self, pod: dict[str, Any], info: PodInfo) -> bool:
        """True when the pod now waits for victims to go (evicted now or earlier)."""
        spec = pod.get("spec") or {}
        if spec.get("preemptionPolicy") == "Never" or info.request_error:
            return False
        nominated = (pod.get("status") or {}).get("nominatedNodeName")
        if nominated and preemption.waiting_on_terminating(self.state, info, nominated,
                                                           self.terminating):
            return True
        plan = preemption.plan_preemption(
            self.scheduler, self.state, info, terminating=self.terminating,
            budgets_of=self._budgets_of, allowed=self._allowed())
        if plan is None:
            return False
        md = pod["metadata"]
        log.info("preempting %s on %s for %s/%s", ", ".join(plan.victim_keys), plan.node,
                 md.get("namespace"), md.get("name"))
        if not await self._nominate(pod, plan.node):
            return False
        results = await asyncio.gather(*(self._evict(v.key, info, plan.node)
                                         for v in plan.victims))
        return any(results)

    async def attempt_group(self, pending: list[tuple[dict[str, Any], PodInfo]],
                            needed: int) -> bool:
        """`attempt` for a pod group that does not fit: evict for `needed` members at once
        (`preemption.plan_gang_preemption`), nominate each to its node, and let the group
        planner place them all when the victims are gone. True when the group now waits for
        victims. A member with `preemptionPolicy: Never` keeps the whole group from it."""
        infos = sorted((info for _, info in pending), key=gang.member_order)
        if needed <= 0 or any((raw.get("spec") or {}).get("preemptionPolicy") == "Never"
                              or info.request_error for raw, info in pending):
            return False
        for raw, info in pending:
            nominated = (raw.get("status") or {}).get("nominatedNodeName")
            if nominated and preemption.waiting_on_terminating(self.state, info, nominated,
                                                               self.terminating):
                return True  # evicted for already; wait, as a single pod does
        plan = preemption.plan_gang_preemption(
            self.scheduler, self.state, infos, needed, terminating=self.terminating,
            budgets_of=self._budgets_of, allowed=self._allowed())
        if plan is None:
            return False
        raws = {info.key: raw for raw, info in pending}
        log.info("preempting %s for pod group of %s",
                 ", ".join(v.key for v, _ in plan.victims), infos[0].key)
        for member, decision in plan.placements:
            assert decision.node is not None
            if not await self._nominate(raws[member.key], decision.node):
                return False
        # Each victim's Event names the first member placed on its node.
        beneficiary = {d.node: m for m, d in reversed(plan.placements)}
        results = await asyncio.gather(*(self._evict(v.key, beneficiary[node], node)
                                         for v, node in plan.victims))
        return any(results)

    async def _nominate(self, pod: dict[str, Any], node: str) -> bool:
        """Set `status.nominatedNodeName`, as kube-scheduler does before evicting."""
        md = pod["metadata"]
        try:
            await self.client.patch(PODS, md["name"], {"status": {"nominatedNodeName": node}},
                                    md["namespace"], subresource="status")
        except errors.APIError as exc:
            log.debug("could not nominate %s: %s", _key(pod), exc)
            return False
        return True

    async def _evict(self, victim_key: str, preemptor: PodInfo, node: str) -> bool:
        ns, _, name = victim_key.partition("/")
        victim = self.pods.get(ns, name)
        if victim is None:
            return True  # already gone: its space is free
        body = {"apiVersion": "policy/v1", "kind": "Eviction",
                "metadata": {"name": name, "namespace": ns}}
        try:
            await self.client.request(
                "POST", f"/api/v1/namespaces/{ns}/pods/{name}/eviction", body=body)
        except errors.NotFound:
            return True
        except errors.APIError as exc:
            log.info("could not evict %s for %s: %s", victim_key, preemptor.key, exc)
            return False
        self.terminating.add(victim_key)
        await self.events.record(victim, "Normal", "Preempted",
                                 f"Preempted by pod {preemptor.uid} on node {node}")
        return True
