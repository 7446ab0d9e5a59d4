"""ClusterRole aggregation controller: a ClusterRole with an `aggregationRule` (`admin`,
`edit`, `view`, or anyone's) keeps the union of the rules of the ClusterRoles it selects.

As kube-controller-manager's clusterrole-aggregation controller: any ClusterRole change
requeues every aggregating role, and a reconcile writes the rules only when they differ.
The pure plan is `orchestrator.api.rbac_aggregation.plan` (the API server's bootstrap
uses it too, so `edit` is whole before this controller first runs).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from orchestrator.api.rbac_aggregation import is_aggregated, plan
from orchestrator.client import (
    Action, Client, Controller, Declaration, Informer, Kind, Patch, object_key,
)

Obj = dict[str, Any]
Key = tuple[str, str]
CLUSTER_ROLE = Kind("rbac.authorization.k8s.io/v1", "ClusterRole")
FIELD_MANAGER = "clusterrole-aggregation-controller"


def _aggregating(old: Obj | None, new: Obj | None, roles: Informer) -> Iterable[Key]:
    # Any role may be selected by any aggregating role: requeue them all.
    return [object_key(role) for role in roles.items() if is_aggregated(role)]


DECLARATION = Declaration("clusterrole-aggregation", FIELD_MANAGER, CLUSTER_ROLE,
                          primary_keys=_aggregating, field_manager=FIELD_MANAGER)


class AggregationLogic:
    def __init__(self, roles: Informer) -> None:
        self.roles = roles

    async def observe(self, client: Client, role: Obj) -> list[Obj]:
        return self.roles.items()  # every role, from the watch cache

    def plan(self, role: Obj, roles: list[Obj], now: datetime) -> list[Action]:
        rules = plan(role, roles)
        if rules is None:
            return []
        # The resourceVersion makes the patch refuse a role changed since it was read.
        return [Patch(CLUSTER_ROLE, role["metadata"]["name"], {
            "metadata": {"resourceVersion": role["metadata"]["resourceVersion"]},
            "rules": rules})]


class ClusterRoleAggregationController(Controller[list[Obj]]):
    def __init__(self, client: Client) -> None:
        roles = Informer.shared(client, client.resource(CLUSTER_ROLE.api_version,
                                                        CLUSTER_ROLE.kind))
        super().__init__(client, DECLARATION, AggregationLogic(roles), workers=1)
