"""Our own async client, informer and work queue against a live ControlPlane."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator import ControlPlane
from orchestrator.api import errors
from orchestrator.api.kinds import BUILTIN_TYPES
from orchestrator.client import Client, Informer, Result, WorkQueue, run_workers

CONFIGMAPS = next(rt for rt in BUILTIN_TYPES if rt.plural == "configmaps")


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_verbs_and_typed_errors(control_plane: ControlPlane) -> None:
    async def scenario() -> None:
        async with Client.from_kubeconfig(control_plane.kubeconfig) as c:
            made = await c.create(CONFIGMAPS, {"metadata": {"name": "cl-1"}, "data": {"a": "1"}},
                                  "default")
            assert made["metadata"]["uid"]
            with pytest.raises(errors.AlreadyExists):
                await c.create(CONFIGMAPS, {"metadata": {"name": "cl-1"}}, "default")
            patched = await c.patch(CONFIGMAPS, "cl-1", {"data": {"b": "2"}}, "default")
            assert patched["data"] == {"a": "1", "b": "2"}
            stale = dict(made, data={"c": "3"})
            with pytest.raises(errors.Conflict):
                await c.replace(CONFIGMAPS, stale)
            with pytest.raises(errors.Invalid) as err:
                await c.create(CONFIGMAPS, {"metadata": {"name": "Bad_Name"}}, "default")
            assert err.value.causes[0].field == "metadata.name"
            await c.delete(CONFIGMAPS, "cl-1", "default")
            with pytest.raises(errors.NotFound):
                await c.get(CONFIGMAPS, "cl-1", "default")

    run(scenario())


def test_informer_mirrors_changes(control_plane: ControlPlane) -> None:
    async def scenario() -> list[tuple[str, str]]:
        seen: list[tuple[str, str]] = []
        async with Client.from_kubeconfig(control_plane.kubeconfig) as c:
            inf = Informer(c, CONFIGMAPS, "default", label_selector="mirror=yes")
            inf.add_handler(lambda t, old, new: seen.append((t, (new or old or {})
                                                             ["metadata"]["name"])))
            task = asyncio.create_task(inf.run())
            await inf.wait_synced()
            await c.create(CONFIGMAPS, {"metadata": {"name": "m1", "labels": {"mirror": "yes"}}},
                           "default")
            await c.patch(CONFIGMAPS, "m1", {"data": {"x": "y"}}, "default")
            await c.patch(CONFIGMAPS, "m1", {"metadata": {"labels": {"mirror": "no"}}}, "default")
            for _ in range(100):
                if len(seen) >= 3:
                    break
                await asyncio.sleep(0.05)
            assert inf.get("default", "m1") is None
            task.cancel()
        return seen

    assert run(scenario()) == [("ADDED", "m1"), ("MODIFIED", "m1"), ("DELETED", "m1")]


def test_workqueue_retries_with_backoff_and_dedupes() -> None:
    calls: list[str] = []

    class Flaky:
        async def reconcile(self, key: str) -> Result | None:
            calls.append(key)
            if key == "bad" and calls.count("bad") < 3:
                raise RuntimeError("transient")
            return None

    async def scenario() -> None:
        q: WorkQueue[str] = WorkQueue(base_delay=0.01)
        for key in ["a", "a", "bad", "a"]:
            q.add(key)
        task = asyncio.create_task(run_workers("test", Flaky(), q, workers=2))
        for _ in range(100):
            if calls.count("bad") == 3:
                break
            await asyncio.sleep(0.01)
        task.cancel()

    run(scenario())
    assert calls.count("a") == 1
    assert calls.count("bad") == 3
