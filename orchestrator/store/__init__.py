"""Persistence: current objects, the global revision and the change history."""

from orchestrator.store.sqlite import Change, Event, Store

__all__ = ["Change", "Event", "Store"]
