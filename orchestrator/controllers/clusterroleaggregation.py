"""ClusterRole aggregation controller: a ClusterRole with an `aggregationRule` (`admin`,
`edit`, `view`, or anyone's) keeps the union of the rules of the ClusterRoles it selects.

As kube-controller-manager's clusterrole-aggregation controller: any ClusterRole change
requeues every aggregating role, and a reconcile writes the rules only when they differ.
The pure plan is `orchestrator.api.rbac_aggregation.plan` (the API server's bootstrap
uses it too, so `edit` is whole before this controller first runs).
"""

from __future__ import annotations

import logging
from typing import Any

from orchestrator.api import errors
from orchestrator.api.kinds import BUILTIN_TYPES
from orchestrator.api.rbac_aggregation import is_aggregated, plan
from orchestrator.client import Client, Informer, Result, WorkQueue, run_controller

log = logging.getLogger(__name__)

Obj = dict[str, Any]
CLUSTER_ROLES = next(rt for rt in BUILTIN_TYPES
                     if rt.group == "rbac.authorization.k8s.io" and rt.plural == "clusterroles")
FIELD_MANAGER = "clusterrole-aggregation-controller"


class ClusterRoleAggregationController:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.roles = Informer.shared(client, CLUSTER_ROLES)
        self.queue: WorkQueue[str] = WorkQueue()
        self.roles.add_handler(self._on_role)

    def _on_role(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        # Any role may be selected by any aggregating role: requeue them all.
        for role in self.roles.items():
            if is_aggregated(role):
                self.queue.add(role["metadata"]["name"])

    async def wait_ready(self) -> None:
        await self.roles.wait_synced()

    async def run(self) -> None:
        await run_controller("clusterrole-aggregation", self, self.queue, [self.roles])

    async def reconcile(self, name: str) -> Result | None:
        role = self.roles.get("", name)
        if role is None:
            return None
        rules = plan(role, self.roles.items())
        if rules is None:
            return None
        try:
            await self.client.patch(CLUSTER_ROLES, name, {
                "metadata": {"resourceVersion": role["metadata"]["resourceVersion"]},
                "rules": rules}, field_manager=FIELD_MANAGER)
        except errors.NotFound:
            return None
        log.info("clusterrole %s: aggregated %d rules", name, len(rules))
        return None
