"""Keeps every APIService's `Available` condition: kube-aggregator's local and remote
availability controllers, inside the API server as in kube-apiserver.

Decisions are `orchestrator.api.apiservice_availability`'s; the discovery request of a
Service-backed APIService goes through the aggregator's client (TLS not verified, as
kube's check does, with the front-proxy certificate, as system:masters), five seconds at
most. APIServices are looked at again whenever an APIService, Service or EndpointSlice
changes, and every `RESYNC_SECONDS` in any case. Status is written only when it changes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from orchestrator.api import errors, meta
from orchestrator.api.apiservice_availability import (
    PROBE,
    SERVICE_NAME_LABEL,
    check,
    probe_result,
    service_ref,
    with_condition,
)
from orchestrator.server.aggregator import APISERVICES, Aggregator
from orchestrator.server.objects import ObjectService, WriteOptions
from orchestrator.server.service_dial import Unreachable
from orchestrator.store import Event

log = logging.getLogger(__name__)

RESYNC_SECONDS = 10.0
SLICES = "discovery.k8s.io/endpointslices"
_WATCHED = frozenset({APISERVICES, "/services", SLICES})
MANAGER = "kube-aggregator"


async def keep_available(service: ObjectService, aggregator: Aggregator) -> None:
    """Run until cancelled."""
    wake = asyncio.Event()

    def on_change(event: Event) -> None:
        if event.resource in _WATCHED:
            wake.set()

    stop = service.store.subscribe(on_change)
    try:
        while True:
            wake.clear()
            try:
                await sync_all(service, aggregator)
            except errors.APIError as exc:  # a conflict or a full disk: next round
                log.debug("apiservice availability: %s", exc)
            try:
                await asyncio.wait_for(wake.wait(), RESYNC_SECONDS)
            except asyncio.TimeoutError:
                pass
            await asyncio.sleep(0.1)  # changes come in bursts (a pod, its endpoints, ...)
    finally:
        stop()


async def sync_all(service: ObjectService, aggregator: Aggregator) -> None:
    api_services = service.store.objects(APISERVICES)
    wanted = await asyncio.gather(*(_condition(service, aggregator, a) for a in api_services))
    rt = service.registry.lookup("apiregistration.k8s.io", "v1", "apiservices")
    if rt is None:
        return
    for api_service, condition in zip(api_services, wanted):
        name = api_service["metadata"]["name"]
        current = service.store.get(APISERVICES, "", name)
        if current is None:
            continue
        status = with_condition(current.get("status"), condition, meta.now_rfc3339())
        if status == (current.get("status") or {}):
            continue
        if _transition(current, status):
            log.info("apiservice %s: Available=%s (%s)", name,
                     condition["status"], condition["message"])
        service.update(rt, "", name, {**current, "status": status},
                       WriteOptions(field_manager=MANAGER), "status")


def _transition(current: dict[str, Any], status: dict[str, Any]) -> bool:
    def available(s: Any) -> Any:
        return next((c.get("status") for c in (s or {}).get("conditions") or []
                     if c.get("type") == "Available"), None)
    return bool(available(current.get("status")) != available(status))


async def _condition(service: ObjectService, aggregator: Aggregator,
                     api_service: dict[str, Any]) -> dict[str, Any]:
    ref = service_ref(api_service) or {}
    namespace, name = str(ref.get("namespace") or ""), str(ref.get("name") or "")
    svc = service.store.get("/services", namespace, name) if ref else None
    slices = [s for s in service.store.objects(SLICES, namespace)
              if ((s.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL)
              == name] if ref else []
    decided = check(api_service, svc, slices)
    if decided != PROBE:
        assert isinstance(decided, dict)
        return decided
    spec = api_service.get("spec") or {}
    group, version = str(spec.get("group") or ""), str(spec.get("version") or "")
    port = int(ref.get("port") or 443)
    url = f"https://{name}.{namespace}.svc:{port}/apis/{group}/{version}"
    try:
        status, _ = await aggregator.get(api_service, f"/apis/{group}/{version}",
                                         insecure=True)
    except (asyncio.TimeoutError, TimeoutError):
        return probe_result(f"failing or missing response from {url}: Get \"{url}\": "
                            "context deadline exceeded")
    except (aiohttp.ClientError, OSError, Unreachable) as exc:
        return probe_result(f"failing or missing response from {url}: Get \"{url}\": {exc}")
    if not 200 <= status < 300:
        return probe_result(f"failing or missing response from {url}: bad status from "
                            f"{url}: {status}")
    return probe_result("")
