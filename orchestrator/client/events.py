"""Recording core/v1 Events about objects, aggregated the way kubectl shows them."""

from __future__ import annotations

import logging
import time
from typing import Any

from orchestrator.api import errors, meta
from orchestrator.api.kinds import BUILTIN_TYPES
from orchestrator.client.api import Client

log = logging.getLogger(__name__)
EVENTS = next(rt for rt in BUILTIN_TYPES if rt.group == "" and rt.plural == "events")
_AGGREGATE_WINDOW = 600.0  # seconds: a repeat within this window bumps `count`


class EventRecorder:
    """`record(obj, "Warning", "BackOff", "...")`: creates an Event, or counts a repeat."""

    def __init__(self, client: Client, component: str, host: str = "") -> None:
        self.client = client
        self.component = component
        self.host = host
        self._recent: dict[tuple[str, str, str, str], tuple[str, int, float]] = {}

    async def record(self, obj: dict[str, Any], event_type: str, reason: str,
                     message: str) -> None:
        md = obj.get("metadata") or {}
        namespace = md.get("namespace") or "default"
        key = (md.get("uid", ""), event_type, reason, message)
        now = meta.now_rfc3339()
        recent = self._recent.get(key)
        try:
            if recent and time.monotonic() - recent[2] < _AGGREGATE_WINDOW:
                name, count, _ = recent
                await self.client.patch(EVENTS, name, {"count": count + 1, "lastTimestamp": now},
                                        namespace)
                self._recent[key] = (name, count + 1, time.monotonic())
                return
            name = f"{md.get('name', 'object')}.{time.time_ns():x}"
            await self.client.create(EVENTS, {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": {
                    "apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"),
                    "name": md.get("name"), "namespace": md.get("namespace"),
                    "uid": md.get("uid"), "resourceVersion": md.get("resourceVersion"),
                },
                "reason": reason, "message": message, "type": event_type, "count": 1,
                "firstTimestamp": now, "lastTimestamp": now,
                "source": {"component": self.component, "host": self.host},
                "reportingComponent": self.component, "reportingInstance": self.host,
            }, namespace)
            self._recent[key] = (name, 1, time.monotonic())
        except errors.APIError as exc:
            # Events are best effort, as in Kubernetes: losing one must not fail the caller.
            log.debug("could not record event %s for %s: %s", reason, md.get("name"), exc)
            self._recent.pop(key, None)
