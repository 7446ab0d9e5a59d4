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

import math
from datetime import datetime
from typing import Any, Iterable

from orchestrator.api.meta import now_rfc3339
from orchestrator.api.selectors import label_selector_from_dict
from orchestrator.client import (
    Action, Client, Controller, Declaration, Informer, Kind, Patch, Watch, object_key,
)

Obj = dict[str, Any]
Key = tuple[str, str]
POD = Kind("v1", "Pod")
PDB = Kind("policy/v1", "PodDisruptionBudget")


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


def plan(pdb: Obj, pods: list[Obj], now: datetime) -> list[Action]:
    """The status write a budget needs, if any: only when a count or a condition changed."""
    status = plan_status(pdb, pods)
    if _same(pdb.get("status") or {}, status):
        return []
    for condition in status["conditions"]:
        condition["lastTransitionTime"] = now_rfc3339(now)
    return [Patch(PDB, pdb["metadata"]["name"], {"status": status}, subresource="status")]


def _budgets_of_namespace(old: Obj | None, new: Obj | None, budgets: Informer) -> Iterable[Key]:
    ns = ((new or old or {}).get("metadata") or {}).get("namespace", "")
    return [object_key(pdb) for pdb in budgets.items(ns)]


DECLARATION = Declaration("disruption", "controllermanager", PDB,
                          watches=(Watch(POD, _budgets_of_namespace),), skip_deleting=False)


class DisruptionLogic:
    def __init__(self, pods: Informer) -> None:
        self.pods = pods

    async def observe(self, client: Client, pdb: Obj) -> list[Obj]:
        return self.pods.items(pdb["metadata"].get("namespace", ""))  # from the watch cache

    def plan(self, pdb: Obj, pods: list[Obj], now: datetime) -> list[Action]:
        return plan(pdb, pods, now)


class DisruptionController(Controller[list[Obj]]):
    def __init__(self, client: Client) -> None:
        pods = Informer.shared(client, client.resource(POD.api_version, POD.kind))
        super().__init__(client, DECLARATION, DisruptionLogic(pods))
