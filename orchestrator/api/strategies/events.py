"""Strategies of events.k8s.io/v1 (kept apart from core/v1 Event here)."""

from __future__ import annotations

from orchestrator.api import field_selectors as fields
from orchestrator.api import table_resources as resources
from orchestrator.api.strategy import Strategy

STRATEGIES: tuple[Strategy, ...] = (
    Strategy("events.k8s.io", "Event", "events", short_names=("ev",), printer=resources.EVENT,
             fields=fields.EVENT_FIELDS, field_labels=fields.EVENTS_V1_LABELS),
)
