"""The SQLite store: revisions, history, compaction and persistence across reopen."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.api import errors
from orchestrator.store import Change, Store


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
