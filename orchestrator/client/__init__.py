"""The one way components talk to the API: an async client, informers, a work queue, the
reconcile loop and an event recorder."""

from orchestrator.client.api import Client, Credentials, WatchEvent, error_from_status
from orchestrator.client.events import EventRecorder
from orchestrator.client.informer import Informer, object_key
from orchestrator.client.reconcile import (
    Reconciler,
    Result,
    TerminalError,
    run_controller,
    run_workers,
)
from orchestrator.client.workqueue import WorkQueue

__all__ = [
    "Client", "Credentials", "EventRecorder", "Informer", "Reconciler", "Result",
    "TerminalError", "WatchEvent", "WorkQueue", "error_from_status", "object_key",
    "run_controller", "run_workers",
]
