"""The SQLite store: revisions, history, compaction and persistence across reopen."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from orchestrator.api import errors
from orchestrator.store import Change, Store
from orchestrator.store.sqlite import StoreFailed


def _cm(name: str, value: str = "v") -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": {"k": value}}


def test_each_change_gets_the_next_revision() -> None:
    store = Store(None)
    events = store.commit([Change("/configmaps", "default", "a", _cm("a")),
                           Change("/configmaps", "default", "b", _cm("b"))])
    assert [e.revision for e in events] == [1, 2]
    assert [e.type for e in events] == ["ADDED", "ADDED"]
    assert store.get("/configmaps", "default", "a")["metadata"]["resourceVersion"] == "1"
    (mod,) = store.commit([Change("/configmaps", "default", "a", _cm("a", "w"))])
    assert mod.type == "MODIFIED" and mod.prev is not None and mod.prev["data"] == {"k": "v"}
    (gone,) = store.commit([Change("/configmaps", "default", "a", None)])
    assert gone.type == "DELETED" and gone.obj["metadata"]["resourceVersion"] == "4"
    assert store.get("/configmaps", "default", "a") is None
    assert store.revision == 4


def test_deleting_a_missing_object_writes_nothing() -> None:
    store = Store(None)
    assert store.commit([Change("/configmaps", "default", "nope", None)]) == []
    assert store.revision == 0


def test_list_is_ordered_and_scoped() -> None:
    store = Store(None)
    for ns, name in [("b", "x"), ("a", "z"), ("a", "y")]:
        store.commit([Change("/configmaps", ns, name, _cm(name))])
    assert [o["metadata"]["name"] for o in store.objects("/configmaps")] == ["y", "z", "x"]
    assert [o["metadata"]["name"] for o in store.objects("/configmaps", "a")] == ["y", "z"]
    assert store.objects("/secrets") == []


def test_events_since_and_compaction() -> None:
    store = Store(None, history=10)
    for i in range(30):
        store.commit([Change("/configmaps", "default", f"c{i}", _cm(f"c{i}"))])
    oldest = store.oldest_revision
    assert 0 < oldest < 30
    tail = store.events_since(oldest)
    assert [e.revision for e in tail] == list(range(oldest + 1, 31))
    assert store.events_since(30) == []
    with pytest.raises(errors.Gone) as err:
        store.events_since(oldest - 1)
    assert err.value.code == 410


def test_state_and_history_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = Store(path)
    for i in range(5):
        store.commit([Change("/configmaps", "default", f"c{i}", _cm(f"c{i}"))])
    store.close()
    again = Store(path)
    assert again.revision == 5
    assert len(again.objects("/configmaps")) == 5
    assert [e.revision for e in again.events_since(2)] == [3, 4, 5]
    (ev,) = again.commit([Change("/configmaps", "default", "c9", _cm("c9"))])
    assert ev.revision == 6


def test_listeners_see_commits_in_order_and_failures_are_contained() -> None:
    store = Store(None)
    seen: list[int] = []
    store.subscribe(lambda ev: (_ for _ in ()).throw(RuntimeError("broken watcher")))
    unsubscribe = store.subscribe(lambda ev: seen.append(ev.revision))
    store.commit([Change("/configmaps", "default", "a", _cm("a"))])
    unsubscribe()
    store.commit([Change("/configmaps", "default", "b", _cm("b"))])
    assert seen == [1]


# -- the writer thread ------------------------------------------------------------------

def test_with_a_writer_watchers_hear_only_of_durable_commits(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = Store(tmp_path / "s.db")
        store.start_writer(asyncio.get_running_loop())
        heard: list[int] = []
        store.subscribe(lambda ev: heard.append(ev.revision))
        for i in range(50):
            store.commit([Change("/configmaps", "default", f"c{i}", _cm(f"c{i}"))])
        assert store.revision == 50 and store.get("/configmaps", "default", "c49") is not None
        assert heard == [] and store.durable_revision < 50  # published only once on disk
        await store.wait_durable()
        assert store.durable_revision == 50
        await asyncio.sleep(0)
        assert heard == list(range(1, 51))
        assert [e.revision for e in store.events_since(45)] == [46, 47, 48, 49, 50]
        other = sqlite3.connect(tmp_path / "s.db")
        assert other.execute("SELECT count(*) FROM objects").fetchone() == (50,)
        other.close()
        store.commit([Change("/configmaps", "default", "last", _cm("last"))])
        store.close()  # writes what is pending before it returns

    asyncio.run(scenario())
    again = Store(tmp_path / "s.db")
    assert again.revision == 51 and again.get("/configmaps", "default", "last") is not None


def test_a_failed_disk_write_stops_the_store(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = Store(tmp_path / "s.db")
        store.start_writer(asyncio.get_running_loop())
        store.commit([Change("/configmaps", "default", "a", _cm("a"))])
        await store.wait_durable()
        # Another process breaks the database under the store: the next write fails.
        other = sqlite3.connect(tmp_path / "s.db")
        other.execute("DROP TABLE events")
        other.commit()
        other.close()
        store.commit([Change("/configmaps", "default", "b", _cm("b"))])
        with pytest.raises(StoreFailed, match="failed disk write"):
            await store.wait_durable()
        with pytest.raises(StoreFailed):
            store.commit([Change("/configmaps", "default", "c", _cm("c"))])
        assert isinstance(StoreFailed("x"), errors.InternalError)  # a 500 Status for clients
        store.close()

    asyncio.run(scenario())
