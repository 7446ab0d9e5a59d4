"""The controller builder and its executor against a real API server: the error rules of
each action, Events on success and failure, the opening of a pass, owner-enqueue by uid."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from orchestrator import ControlPlane
from orchestrator.api import errors
from orchestrator.client import (
    Action, Client, Controller, Create, Declaration, Delete, EventRecorder, Kind, Patch,
    Record, RequeueAfter, execute,
)

CM = Kind("v1", "ConfigMap")
EVENT = Kind("v1", "Event")
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(data_dir=tmp_path_factory.mktemp("cp"), components=()) as cp:
        yield cp


def cm(name: str, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default", **meta}}


def run(kubeconfig: str, body: Any) -> Any:
    async def main() -> Any:
        async with Client.from_kubeconfig(kubeconfig) as client:
            return await body(client)
    return asyncio.run(main())


async def events_of(client: Client, name: str) -> list[tuple[str, str]]:
    items, _ = await client.list(client.resource("v1", "Event"), "default")
    return sorted((e["reason"], e["message"]) for e in items
                  if e["involvedObject"]["name"] == name)


def test_executor_rules(control_plane: ControlPlane) -> None:
    async def body(client: Client) -> None:
        rt = client.resource("v1", "ConfigMap")
        owner = await client.create(rt, cm("owner"))
        recorder = EventRecorder(client, "test-controller")
        actions: list[Action] = [
            Create(CM, cm("child"), on_created=Record("Normal", "SuccessfulCreate",
                                                      "Created: {name}")),
            Create(CM, cm("child")),  # already there: done, no Event
            Delete(CM, "gone"),  # not found: done
            Patch(CM, "gone", {"data": {"a": "b"}}),  # not found: done
            Patch(CM, "child", {"data": {"a": "b"}}),
            Delete(CM, "owner", uid="not-its-uid"),  # precondition fails: done, kept
            Record("Normal", "Planned", "a plain Event"),
            RequeueAfter(5.0), RequeueAfter(2.0),
        ]
        result = await execute(client, recorder, owner, CM, actions)
        assert result is not None and result.requeue_after == 2.0
        assert (await client.get(rt, "child", "default"))["data"] == {"a": "b"}
        await client.get(rt, "owner", "default")
        await execute(client, recorder, owner, CM, [
            Delete(CM, "child", uid=(await client.get(rt, "child", "default"))[
                "metadata"]["uid"], on_deleted=Record("Normal", "SuccessfulDelete",
                                                      "Deleted: {name}"))])
        with pytest.raises(errors.NotFound):
            await client.get(rt, "child", "default")
        failing = Create(CM, cm("Bad_Name"), on_failed=Record("Warning", "FailedCreate",
                                                              "Error creating: {error}"))
        with pytest.raises(errors.APIError):
            await execute(client, recorder, owner, CM, [failing, Record("Normal", "X", "y")])
        got = await events_of(client, "owner")
        assert [r for r, _ in got] == ["FailedCreate", "Planned", "SuccessfulCreate",
                                       "SuccessfulDelete"]
        assert ("SuccessfulCreate", "Created: child") in got
        assert ("SuccessfulDelete", "Deleted: child") in got
        assert dict(got)["FailedCreate"].startswith("Error creating: ")
    run(control_plane.kubeconfig, body)


class Mirror:
    """A toy controller: each ConfigMap labelled `mirror` gets an owned copy."""

    async def observe(self, client: Client, obj: dict[str, Any]) -> bool:
        try:
            await client.get(client.resource("v1", "ConfigMap"),
                             obj["metadata"]["name"] + "-copy", "default")
        except errors.NotFound:
            return False
        return True

    def plan(self, obj: dict[str, Any], observed: bool, now: datetime) -> list[Action]:
        assert now == NOW
        if observed or obj["metadata"]["name"].endswith("-copy"):
            return []
        owner = {"apiVersion": "v1", "kind": "ConfigMap", "name": obj["metadata"]["name"],
                 "uid": obj["metadata"]["uid"], "controller": True}
        return [Create(CM, cm(obj["metadata"]["name"] + "-copy", ownerReferences=[owner])),
                RequeueAfter(1.0)]


def test_reconcile_opening_and_owner_enqueue(control_plane: ControlPlane) -> None:
    async def body(client: Client) -> None:
        rt = client.resource("v1", "ConfigMap")
        ctrl = Controller(client, Declaration("mirror", "mirror-controller", CM, owns=(CM,)),
                          Mirror(), now=lambda: NOW)
        assert await ctrl.reconcile(("default", "missing")) is None
        src = await client.create(rt, cm("src"))
        result = await ctrl.reconcile(("default", "src"))
        assert result is not None and result.requeue_after == 1.0
        copy = await client.get(rt, "src-copy", "default")
        assert await ctrl.reconcile(("default", "src")) is None  # level-based: nothing left
        # Owned changes enqueue the owner unless the cached one of that name has another uid.
        for cached in (None, src):
            if cached is not None:
                ctrl.primaries.cache[("default", "src")] = cached
            ctrl._on_owned("MODIFIED", None, copy)
            assert await asyncio.wait_for(ctrl.queue.get(), 1) == ("default", "src")
            ctrl.queue.done(("default", "src"))
        ctrl._on_owned("MODIFIED", None, {**copy, "metadata": {**copy["metadata"],
                       "ownerReferences": [{**copy["metadata"]["ownerReferences"][0],
                                            "apiVersion": "example.com/v1"}]}})
        assert len(ctrl.queue) == 0  # a ConfigMap kind of another group
        ctrl.primaries.cache[("default", "src")] = {**src, "metadata": {
            **src["metadata"], "uid": "another"}}
        ctrl._on_owned("MODIFIED", None, copy)
        assert len(ctrl.queue) == 0
        # Being deleted: the pass does nothing.
        await client.patch(rt, "src", {"metadata": {"finalizers": ["test/hold"]}}, "default")
        await client.delete(rt, "src", "default")
        await client.delete(rt, "src-copy", "default")
        assert await ctrl.reconcile(("default", "src")) is None
        with pytest.raises(errors.NotFound):
            await client.get(rt, "src-copy", "default")
        await client.patch(rt, "src", {"metadata": {"finalizers": None}}, "default")
        ctrl.queue.shutdown()
    run(control_plane.kubeconfig, body)
