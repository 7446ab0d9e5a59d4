"""ServiceAccounts controller: every active namespace has a `default` ServiceAccount.

As kube's serviceaccounts controller, it also re-creates the account when someone deletes it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from orchestrator.api import errors
from orchestrator.client import (
    Action, Client, Controller, Create, Declaration, Informer, Kind, Watch,
)

Obj = dict[str, Any]
Key = tuple[str, str]
NAMESPACE = Kind("v1", "Namespace")
SERVICEACCOUNT = Kind("v1", "ServiceAccount")
DEFAULT = "default"


def needs_default(namespace: Obj | None, accounts: list[Obj]) -> bool:
    """Pure plan: create `default` in a live namespace that lacks it."""
    if namespace is None or namespace["metadata"].get("deletionTimestamp"):
        return False
    if (namespace.get("status") or {}).get("phase") == "Terminating":
        return False
    return not any(a["metadata"].get("name") == DEFAULT for a in accounts)


def _account_deleted(old: Obj | None, new: Obj | None, namespaces: Informer) -> Iterable[Key]:
    if old is not None and new is None:
        return [("", old["metadata"].get("namespace", ""))]
    return []


# Only `default` accounts matter: watch those, not every account in the cluster.
DECLARATION = Declaration("serviceaccounts", "serviceaccount-controller", NAMESPACE, watches=(
    Watch(SERVICEACCOUNT, _account_deleted, field_selector=f"metadata.name={DEFAULT}"),))


class ServiceAccountsLogic:
    async def observe(self, client: Client, namespace: Obj) -> list[Obj]:
        try:
            return [await client.get(client.resource(SERVICEACCOUNT.api_version,
                                                     SERVICEACCOUNT.kind),
                                     DEFAULT, namespace["metadata"]["name"])]
        except errors.NotFound:
            return []

    def plan(self, namespace: Obj, accounts: list[Obj], now: datetime) -> list[Action]:
        if not needs_default(namespace, accounts):
            return []
        name = namespace["metadata"]["name"]
        return [Create(SERVICEACCOUNT, {"apiVersion": "v1", "kind": "ServiceAccount",
                                        "metadata": {"name": DEFAULT, "namespace": name}},
                       namespace=name)]


class ServiceAccountsController(Controller[list[Obj]]):
    def __init__(self, client: Client) -> None:
        super().__init__(client, DECLARATION, ServiceAccountsLogic())
