"""Leader election through a coordination.k8s.io Lease, as client-go's leaderelection does.

A candidate takes the Lease when it is free or its holder stopped renewing for
`lease_seconds`; the leader renews every `renew_seconds`; a leader that cannot renew in
time stops leading (its work is cancelled) before anyone else may take over. Optimistic
concurrency on the Lease's resourceVersion makes the take-over race safe.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any, Callable, Coroutine

from orchestrator.api import errors
from orchestrator.api.kinds import BUILTIN_TYPES
from orchestrator.client.api import Client

log = logging.getLogger(__name__)
LEASES = next(rt for rt in BUILTIN_TYPES if rt.plural == "leases")


def _micro_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(ts: str | None) -> datetime | None:
    if not ts:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(ts, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


class LeaderElector:
    def __init__(self, client: Client, name: str, namespace: str, identity: str, *,
                 lease_seconds: int = 15, renew_seconds: float = 5.0,
                 retry_seconds: float = 2.0) -> None:
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self.retry_seconds = retry_seconds

    async def run(self, lead: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Wait to become leader, then run `lead()` until leadership is lost; repeat."""
        while True:
            while not await self.try_acquire():
                await asyncio.sleep(self.retry_seconds)
            log.info("%s became leader of %s/%s", self.identity, self.namespace, self.name)
            work = asyncio.create_task(lead())
            try:
                while not work.done():
                    done, _ = await asyncio.wait({work}, timeout=self.renew_seconds)
                    if done:
                        break
                    if not await self.try_acquire():
                        log.warning("%s lost the lease %s", self.identity, self.name)
                        break
            finally:
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)

    async def try_acquire(self) -> bool:
        """Take or renew the Lease; False when someone else holds a live one."""
        now = _micro_now()
        try:
            lease: dict[str, Any] = await self.client.get(LEASES, self.name, self.namespace)
        except errors.NotFound:
            try:
                await self.client.create(LEASES, {
                    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": self._spec(now, now, transitions=0),
                }, self.namespace)
                return True
            except errors.AlreadyExists:
                return False
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        renewed = _parse(spec.get("renewTime"))
        duration = int(spec.get("leaseDurationSeconds") or self.lease_seconds)
        expired = renewed is None or (
            datetime.now(timezone.utc) - renewed).total_seconds() > duration
        if holder and holder != self.identity and not expired:
            return False
        transitions = int(spec.get("leaseTransitions") or 0)
        acquired = spec.get("acquireTime") or now
        if holder != self.identity:
            transitions += 1
            acquired = now
        lease["spec"] = self._spec(acquired, now, transitions)
        try:
            await self.client.replace(LEASES, lease)
        except errors.Conflict:
            return False  # someone else wrote first: they win this round
        return True

    def _spec(self, acquired: str, renewed: str, transitions: int) -> dict[str, Any]:
        return {"holderIdentity": self.identity, "leaseDurationSeconds": self.lease_seconds,
                "acquireTime": acquired, "renewTime": renewed,
                "leaseTransitions": transitions}
