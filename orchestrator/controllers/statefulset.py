"""The StatefulSet controller: `statefulset_plan` on the controller builder (fresh reads
each pass)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from orchestrator.client import Action, Client, Controller, Declaration, list_owned, utc_now
from orchestrator.controllers.statefulset_plan import (
    POD, PVC, REVISION, STATEFULSET, Observed, actions,
)

Obj = dict[str, Any]

DECLARATION = Declaration("statefulset", "statefulset-controller", STATEFULSET, owns=(POD,))


class StatefulSetLogic:
    async def observe(self, client: Client, sts: Obj) -> Observed:
        selector = (sts.get("spec") or {}).get("selector")
        pods = await list_owned(client, POD, sts, selector)
        revisions = await list_owned(client, REVISION, sts, selector)
        pvcs, _ = await client.list(client.resource(PVC.api_version, PVC.kind),
                                    sts["metadata"].get("namespace"))
        return Observed(pods=pods, pvcs=pvcs, revisions=revisions)

    def plan(self, sts: Obj, observed: Observed, now: datetime) -> list[Action]:
        return actions(sts, observed, now)


class StatefulSetController(Controller[Observed]):
    def __init__(self, client: Client, *, now: Callable[[], datetime] = utc_now,
                 workers: int = 2) -> None:
        super().__init__(client, DECLARATION, StatefulSetLogic(), now=now, workers=workers)
