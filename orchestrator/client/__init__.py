"""The one way components talk to the API: an async client, informers, a work queue, the
reconcile loop, an event recorder, and the controller builder with its actions."""

from orchestrator.client.actions import (
    Action,
    Create,
    Delete,
    Kind,
    Patch,
    Record,
    RequeueAfter,
    WriteStatus,
    execute,
)
from orchestrator.client.api import Client, Credentials, WatchEvent, error_from_status
from orchestrator.client.controller import (
    Controller,
    Declaration,
    Logic,
    Watch,
    all_primaries,
    list_owned,
    utc_now,
)
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
    "Action", "Controller", "Create", "Declaration", "Delete", "Kind", "Logic", "Patch",
    "Record", "RequeueAfter", "Watch", "WriteStatus", "all_primaries", "execute", "list_owned",
    "utc_now",
    "Client", "Credentials", "EventRecorder", "Informer", "Reconciler", "Result",
    "TerminalError", "WatchEvent", "WorkQueue", "error_from_status", "object_key",
    "run_controller", "run_workers",
]
