"""Disruption controller: PodDisruptionBudget status, which the `pods/eviction` subresource
reads to decide whether a pod may go (kube's disruption controller, simplified).

For each budget: the pods its selector matches in its namespace are expected; those Ready
and not being deleted are healthy; `minAvailable` / `maxUnavailable` (integer or percent of
the expected pods, percentages rounded up as kube does) give the healthy count wanted, and
`disruptionsAllowed` is how many more pods may go now. Kube takes the expected count from
the owning controllers' scale; counting matched pods is the same for the pods our
controllers own once they are all created.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from orchestrator.api import errors
from orchestrator.api.kinds import BUILTIN_TYPES
from orchestrator.api.meta import now_rfc3339
from orchestrator.api.selectors import label_selector_from_dict
from orchestrator.client import Client, Informer, Result, WorkQueue, run_workers

log = logging.getLogger(__name__)

Obj = dict[str, Any]
PODS = next(rt for rt in BUILTIN_TYPES if rt.group == "" and rt.plural == "pods")
PDBS = next(rt for rt in BUILTIN_TYPES if rt.group == "policy"
            and rt.plural == "poddisruptionbudgets")


def _healthy(pod: Obj) -> bool:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _scaled(value: Any, expected: int) -> int:
    """An IntOrString: 3 or "30%" of `expected`, rounded up."""
    if isinstance(value, str) and value.endswith("%"):
        try:
            return math.ceil(float(value[:-1]) * expected / 100)
        except ValueError:
            return expected
    try:
        return int(value)
    except (TypeError, ValueError):
        return expected


def plan_status(pdb: Obj, pods: list[Obj]) -> Obj:
    """The status a budget should have, given every pod in its namespace. Pure."""
    spec = pdb.get("spec") or {}
    selector = spec.get("selector")
    matcher = label_selector_from_dict(selector) if isinstance(selector, dict) else None
    matched = [p for p in pods if matcher is not None and matcher.matches(
        (p.get("metadata") or {}).get("labels") or {})
        and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    expected = len(matched)
    healthy = sum(1 for p in matched if _healthy(p))
    if spec.get("maxUnavailable") is not None:
        desired = max(0, expected - _scaled(spec["maxUnavailable"], expected))
    elif spec.get("minAvailable") is not None:
        desired = _scaled(spec["minAvailable"], expected)
    else:
        desired = expected
    allowed = max(0, healthy - desired)
    ok = allowed > 0
    return {
        "observedGeneration": (pdb.get("metadata") or {}).get("generation", 1),
        "expectedPods": expected,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "disruptionsAllowed": allowed,
        "conditions": [{
            "type": "DisruptionAllowed", "status": "True" if ok else "False",
            "reason": "SufficientPods" if ok else "InsufficientPods",
            "message": f"{healthy} healthy pod(s), {desired} needed: {allowed} may be disrupted",
            "observedGeneration": (pdb.get("metadata") or {}).get("generation", 1),
        }],
    }


def _same(old: Obj, new: Obj) -> bool:
    keys = ("expectedPods", "currentHealthy", "desiredHealthy", "disruptionsAllowed",
            "observedGeneration")
    if any(old.get(k) != new.get(k) for k in keys):
        return False
    old_status = [(c.get("type"), c.get("status")) for c in old.get("conditions") or []]
    return old_status == [(c["type"], c["status"]) for c in new["conditions"]]


class DisruptionController:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.budgets = Informer.shared(client, PDBS)
        self.pods = Informer.shared(client, PODS)
        self.queue: WorkQueue[str] = WorkQueue()
        self.budgets.add_handler(self._on_budget)
        self.pods.add_handler(self._on_pod)

    def _on_budget(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        if new is not None:
            md = new["metadata"]
            self.queue.add(f"{md.get('namespace', '')}/{md['name']}")

    def _on_pod(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        ns = ((new or old or {}).get("metadata") or {}).get("namespace", "")
        for pdb in self.budgets.items(ns):
            self.queue.add(f"{ns}/{pdb['metadata']['name']}")

    async def wait_ready(self) -> None:
        await asyncio.gather(self.budgets.wait_synced(), self.pods.wait_synced())

    async def run(self) -> None:
        tasks = [asyncio.create_task(self.budgets.run()), asyncio.create_task(self.pods.run())]
        try:
            await self.wait_ready()
            await run_workers("disruption", self, self.queue, 2)
        finally:
            for t in tasks:
                t.cancel()
            self.queue.shutdown()

    async def reconcile(self, key: str) -> Result | None:
        ns, _, name = key.partition("/")
        pdb = self.budgets.get(ns, name)
        if pdb is None:
            return None
        status = plan_status(pdb, self.pods.items(ns))
        if _same(pdb.get("status") or {}, status):
            return None
        for condition in status["conditions"]:
            condition["lastTransitionTime"] = now_rfc3339()
        try:
            await self.client.patch(PDBS, name, {"status": status}, ns, subresource="status")
        except errors.NotFound:
            return None
        return None
