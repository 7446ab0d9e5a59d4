"""The DaemonSet controller: `daemonset_plan` on the controller builder (fresh reads each pass)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Iterable

from orchestrator.api import errors
from orchestrator.client import (
    Action, Client, Controller, Declaration, Informer, Watch, list_owned, utc_now,
)
from orchestrator.controllers.daemonset_plan import (
    DAEMONSET, NODE, POD, REVISION, Observed, actions, revision_hash,
)

Obj = dict[str, Any]
Key = tuple[str, str]


def _on_node(old: Obj | None, new: Obj | None, sets: Informer) -> Iterable[Key]:
    # Heartbeats change status only; labels, taints and membership change eligibility.
    if old is not None and new is not None and (
            old["metadata"].get("labels"), old.get("spec")) == (
            new["metadata"].get("labels"), new.get("spec")):
        return []
    return list(sets.cache)


DECLARATION = Declaration("daemonset", "daemonset-controller", DAEMONSET, owns=(POD,),
                          watches=(Watch(NODE, _on_node),))


class DaemonSetLogic:
    async def observe(self, client: Client, ds: Obj) -> Observed:
        pods = await list_owned(client, POD, ds, (ds.get("spec") or {}).get("selector"))
        nodes, _ = await client.list(client.resource(NODE.api_version, NODE.kind))
        try:
            await client.get(client.resource(REVISION.api_version, REVISION.kind),
                             f"{ds['metadata']['name']}-{revision_hash(ds)}",
                             ds["metadata"].get("namespace"))
            have_revision = True
        except errors.NotFound:
            have_revision = False
        return Observed(nodes=nodes, pods=pods, have_revision=have_revision)

    def plan(self, ds: Obj, observed: Observed, now: datetime) -> list[Action]:
        return actions(ds, observed, now)


class DaemonSetController(Controller[Observed]):
    def __init__(self, client: Client, *, now: Callable[[], datetime] = utc_now,
                 workers: int = 2) -> None:
        super().__init__(client, DECLARATION, DaemonSetLogic(), now=now, workers=workers)
