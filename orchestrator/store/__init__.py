"""Persistence: current objects, the global revision and the change history."""

from orchestrator.store.diskfull import DiskFull
from orchestrator.store.integrity import StoreCorrupt
from orchestrator.store.sqlite import DEFAULT_HISTORY_BYTES, Change, Event, Store

__all__ = ["DEFAULT_HISTORY_BYTES", "Change", "DiskFull", "Event", "Store", "StoreCorrupt"]
