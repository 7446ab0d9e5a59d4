"""What a controller's plan asks for, as data, and the one executor that does it.

A plan returns a list of actions; `execute` applies them in order against the API with the
error rules written once: a create that finds its object already there and a delete or
patch that finds it gone are done (the next pass sees fresh state); a delete whose uid
precondition fails (409) was aimed at an object since replaced, so it is done too; any other
error stops the list and is raised, so the key is retried with back-off. A create refused
because its namespace is terminating is done too (kube's controllers ignore that refusal),
and a status write that finds the reconciled object gone ends the pass. A create that fails
records its `on_failed` Event first, as kube's controllers do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Union

from orchestrator.api import errors
from orchestrator.client.api import Client
from orchestrator.client.events import EventRecorder
from orchestrator.client.reconcile import Result

log = logging.getLogger(__name__)

Obj = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    """A resource type by apiVersion and kind: the one way controllers name one."""

    api_version: str
    kind: str


@dataclass(frozen=True)
class Record:
    """An Event on the reconciled object. In `on_created`/`on_deleted`/`on_failed`,
    `{name}` is replaced by the object's name and `{error}` by the failure's message."""

    type: str
    reason: str
    message: str

    def render(self, name: str = "", error: str = "") -> "Record":
        message = self.message.replace("{name}", name).replace("{error}", error)
        return Record(self.type, self.reason, message)


@dataclass(frozen=True)
class Create:
    kind: Kind
    obj: Obj
    namespace: str | None = None
    on_created: Record | None = None
    on_failed: Record | None = None


@dataclass(frozen=True)
class Delete:
    kind: Kind
    name: str
    namespace: str | None = None
    uid: str | None = None  # precondition: delete only the object that was observed
    propagation: str | None = None
    on_deleted: Record | None = None


@dataclass(frozen=True)
class Patch:
    kind: Kind
    name: str
    patch: Any
    namespace: str | None = None
    patch_type: str = "merge"
    subresource: str = ""


@dataclass(frozen=True)
class WriteStatus:
    """Replace the reconciled object's status (PUT .../status, with its resourceVersion, so
    a stale view is refused with a Conflict and retried). `created_refs` names a status
    list that gains an ObjectReference to each object this pass created (a CronJob's
    `active`); with `only_if_created` the write happens only when there is one to add."""

    status: Obj
    created_refs: str = ""
    only_if_created: bool = False


@dataclass(frozen=True)
class RequeueAfter:
    seconds: float


Action = Union[Create, Delete, Patch, WriteStatus, Record, RequeueAfter]


async def execute(client: Client, recorder: EventRecorder, obj: Obj, kind: Kind,
                  actions: list[Action], *, field_manager: str = "") -> Result | None:
    """Apply `actions` in order for the reconciled `obj` (of `kind`); the smallest
    RequeueAfter asked for becomes the Result. Writes name `field_manager` when given."""
    requeue: float | None = None
    created: list[Obj] = []
    for action in actions:
        if isinstance(action, RequeueAfter):
            requeue = action.seconds if requeue is None else min(requeue, action.seconds)
        elif isinstance(action, Record):
            await recorder.record(obj, action.type, action.reason, action.message)
        elif isinstance(action, WriteStatus):
            if action.only_if_created and not created:
                continue
            status = action.status
            if action.created_refs and created:
                status = {**status, action.created_refs: list(
                    status.get(action.created_refs) or []) + [_reference(o) for o in created]}
            try:
                # Later actions (Events, another status write) see the object as written.
                obj = await client.replace(client.resource(kind.api_version, kind.kind),
                                           {**obj, "status": status}, "status",
                                           field_manager=field_manager)
            except errors.NotFound:
                return None  # the reconciled object is gone: nothing left to do for it
        elif isinstance(action, Create):
            made = await _create(client, recorder, obj, action, field_manager)
            if made is not None:
                created.append(made)
        elif isinstance(action, Delete):
            await _delete(client, recorder, obj, action)
        else:
            await _patch(client, obj, action, field_manager)
    return Result(requeue_after=requeue) if requeue is not None else None


def _namespace(obj: Obj, namespace: str | None) -> str | None:
    return namespace if namespace is not None else (obj.get("metadata") or {}).get("namespace")


def _reference(obj: Obj) -> Obj:
    md = obj["metadata"]
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "name": md["name"],
            "namespace": md.get("namespace"), "uid": md.get("uid"),
            "resourceVersion": md.get("resourceVersion")}


async def _create(client: Client, recorder: EventRecorder, owner: Obj,
                  action: Create, field_manager: str) -> Obj | None:
    rt = client.resource(action.kind.api_version, action.kind.kind)
    try:
        created = await client.create(rt, action.obj, _namespace(owner, action.namespace),
                                      field_manager=field_manager)
    except errors.AlreadyExists:
        return None
    except errors.Forbidden as exc:
        if "because it is being terminated" in str(exc):
            return None  # the namespace is going away: nothing to make there any more
        if action.on_failed is not None:
            event = action.on_failed.render(error=str(exc))
            await recorder.record(owner, event.type, event.reason, event.message)
        raise
    except errors.APIError as exc:
        if action.on_failed is not None:
            event = action.on_failed.render(error=str(exc))
            await recorder.record(owner, event.type, event.reason, event.message)
        raise
    if action.on_created is not None:
        event = action.on_created.render(name=str(created["metadata"]["name"]))
        await recorder.record(owner, event.type, event.reason, event.message)
    return created


async def _delete(client: Client, recorder: EventRecorder, owner: Obj, action: Delete) -> None:
    rt = client.resource(action.kind.api_version, action.kind.kind)
    try:
        await client.delete(rt, action.name, _namespace(owner, action.namespace),
                            propagation=action.propagation, uid=action.uid)
    except errors.NotFound:
        return
    except errors.Conflict:
        if action.uid is None:
            raise
        return  # the uid precondition failed: the observed object is already gone
    if action.on_deleted is not None:
        event = action.on_deleted.render(name=action.name)
        await recorder.record(owner, event.type, event.reason, event.message)


async def _patch(client: Client, owner: Obj, action: Patch, field_manager: str) -> None:
    rt = client.resource(action.kind.api_version, action.kind.kind)
    try:
        await client.patch(rt, action.name, action.patch, _namespace(owner, action.namespace),
                           patch_type=action.patch_type, subresource=action.subresource,
                           field_manager=field_manager)
    except errors.NotFound:
        return
