"""ServiceAccounts controller: every active namespace has a `default` ServiceAccount.

As kube's serviceaccounts controller, it also re-creates the account when someone deletes it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from orchestrator.api import errors
from orchestrator.api.kinds import BUILTIN_TYPES
from orchestrator.client import Client, Informer, Result, WorkQueue, run_workers

log = logging.getLogger(__name__)

Obj = dict[str, Any]
NAMESPACES = next(rt for rt in BUILTIN_TYPES if rt.plural == "namespaces")
SERVICEACCOUNTS = next(rt for rt in BUILTIN_TYPES if rt.plural == "serviceaccounts")
DEFAULT = "default"


def needs_default(namespace: Obj | None, accounts: list[Obj]) -> bool:
    """Pure plan: create `default` in a live namespace that lacks it."""
    if namespace is None or namespace["metadata"].get("deletionTimestamp"):
        return False
    if (namespace.get("status") or {}).get("phase") == "Terminating":
        return False
    return not any(a["metadata"].get("name") == DEFAULT for a in accounts)


class ServiceAccountsController:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.namespaces = Informer.shared(client, NAMESPACES)
        # Only `default` accounts matter: watch those, not every account in the cluster.
        self.accounts = Informer.shared(client, SERVICEACCOUNTS,
                                 field_selector=f"metadata.name={DEFAULT}")
        self.queue: WorkQueue[str] = WorkQueue()
        self.namespaces.add_handler(
            lambda etype, old, new: self.queue.add((new or old or {})["metadata"]["name"]))
        self.accounts.add_handler(self._on_account)

    def _on_account(self, etype: str, old: Obj | None, new: Obj | None) -> None:
        if etype == "DELETED" and old is not None:
            self.queue.add(old["metadata"].get("namespace", ""))

    async def wait_ready(self) -> None:
        await asyncio.gather(self.namespaces.wait_synced(), self.accounts.wait_synced())

    async def run(self) -> None:
        tasks = [asyncio.create_task(self.namespaces.run()),
                 asyncio.create_task(self.accounts.run())]
        try:
            await self.wait_ready()
            await run_workers("serviceaccounts", self, self.queue, 2)
        finally:
            for t in tasks:
                t.cancel()
            self.queue.shutdown()

    async def reconcile(self, namespace: str) -> Result | None:
        ns = self.namespaces.get("", namespace)
        if not needs_default(ns, self.accounts.items(namespace)):
            return None
        try:
            await self.client.create(SERVICEACCOUNTS, {
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": DEFAULT, "namespace": namespace}}, namespace)
        except errors.AlreadyExists:
            return None
        except errors.Forbidden:
            return None  # the namespace started terminating meanwhile
        return None
