"""Namespace deletion, finished by the server itself.

Kubernetes does this in the namespace controller; doing it here keeps `kubectl delete
namespace` working with or without controllers. Objects held by finalizers keep the
namespace in Terminating until they are gone.

A deletion cut short (kill -9 half-way, a full disk) is resumed: at start-up and then every
`RETRY_SECONDS`, as the namespace controller requeues, each Terminating namespace is
finalized again until it is empty and gone.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from orchestrator.api import errors
from orchestrator.api.kinds import ResourceType
from orchestrator.store import Change

if TYPE_CHECKING:
    from orchestrator.server.objects import ObjectService

log = logging.getLogger(__name__)

NAMESPACE_KEY = "/namespaces"
RETRY_SECONDS = 5.0
# Finalizers the server itself handles for a namespace.
_OWN_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")


def namespaced_types(service: "ObjectService") -> list[ResourceType]:
    seen: dict[str, ResourceType] = {}
    for rt in service.registry.all():
        if rt.namespaced and rt.key not in seen:
            seen[rt.key] = service.registry.storage_type(rt)
    return list(seen.values())


def finalize(service: "ObjectService", name: str) -> None:
    """Delete what a terminating namespace holds; it goes once it is empty."""
    from orchestrator.server.objects import DeleteOptions

    for rt in namespaced_types(service):
        for obj in list(service.store.objects(rt.key, name)):
            if obj["metadata"].get("deletionTimestamp"):
                continue
            try:
                service.delete(rt, name, obj["metadata"]["name"], DeleteOptions(grace_period=0))
            except errors.NotFound:
                continue
    maybe_finish(service, name)


def maybe_finish(service: "ObjectService", name: str) -> None:
    ns_obj = service.store.get(NAMESPACE_KEY, "", name)
    if ns_obj is None or not ns_obj["metadata"].get("deletionTimestamp"):
        return
    if any(service.store.objects(rt.key, name) for rt in namespaced_types(service)):
        return
    if [f for f in ns_obj["metadata"].get("finalizers") or [] if f not in _OWN_FINALIZERS]:
        return
    service.store.commit([Change(NAMESPACE_KEY, "", name, None)])


def terminating(service: "ObjectService") -> list[str]:
    return [ns["metadata"]["name"] for ns in service.store.objects(NAMESPACE_KEY)
            if ns["metadata"].get("deletionTimestamp")]


def resume(service: "ObjectService") -> None:
    """Finalize every Terminating namespace once more; a failure waits for the next try."""
    for name in terminating(service):
        try:
            finalize(service, name)
        except errors.APIError as exc:
            log.warning("namespace %s: deletion not finished yet: %s", name, exc)


async def keep_finalizing(service: "ObjectService", interval: float = RETRY_SECONDS) -> None:
    """Resume at once (what a killed server left), then retry until each is gone."""
    while True:
        resume(service)
        await asyncio.sleep(interval)
