"""The store under a tenant's pressure: a watch history bounded by bytes, a full disk
reported (507) and recovered from, and a damaged file refused at open."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from orchestrator.api import errors
from orchestrator.store import Change, DiskFull, Store, StoreCorrupt


def _cm(name: str, value: str = "v") -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": {"k": value}}


def _put(store: Store, name: str, value: str = "v") -> None:
    store.commit([Change("/configmaps", "default", name, _cm(name, value))])


def test_history_is_bounded_by_bytes_as_well_as_count(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", history=1000, history_bytes=1 << 20)
    big = "x" * (100 * 1024)
    for i in range(40):  # each change keeps its object and its previous one: ~200 KiB
        _put(store, "big", big + str(i))
    assert store.oldest_revision > 30  # a handful of changes fit in 1 MiB
    with pytest.raises(errors.Gone):
        store.events_since(1)
    assert [e.revision for e in store.events_since(39)] == [40]
    store.close()
    # Reopened, the history loaded honours the bound too.
    again = Store(tmp_path / "s.db", history=1000, history_bytes=1 << 20)
    assert again.oldest_revision > 30
    rows = sqlite3.connect(tmp_path / "s.db").execute("SELECT count(*) FROM events").fetchone()
    assert rows[0] < 12


def test_history_count_bound_still_holds() -> None:
    store = Store(None, history=100)
    for i in range(300):
        _put(store, f"c{i}")
    assert store.oldest_revision >= 200
    assert len(store.events_since(store.oldest_revision)) <= 100


def test_a_full_disk_without_writer_is_507_and_changes_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    _put(store, "a")
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count={pages}")
    with pytest.raises(DiskFull) as info:
        _put(store, "b", "z" * 200_000)
    assert info.value.code == 507 and str(tmp_path) in info.value.message
    assert store.get("/configmaps", "default", "b") is None and store.revision == 1
    store._db.execute("PRAGMA max_page_count=1073741823")
    _put(store, "b", "z" * 200_000)  # space is back: the next write just works
    assert store.revision == 2


def test_a_full_disk_with_the_writer_rolls_memory_back_and_recovers(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = Store(tmp_path / "s.db")
        store.start_writer(asyncio.get_running_loop())
        _put(store, "kept")
        await store.wait_durable()
        epoch = store.epoch
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count={pages}")
        for i in range(5):  # queued together; the disk refuses them all
            _put(store, f"lost-{i}", "z" * 100_000)
        assert store.get("/configmaps", "default", "lost-4") is not None  # memory ran ahead
        with pytest.raises(DiskFull):
            await store.wait_durable()
        # Memory is back to what the file holds; nothing was published to watchers.
        assert store.get("/configmaps", "default", "lost-0") is None
        assert store.revision == store.durable_revision == 1 and store.epoch == epoch + 1
        with pytest.raises(DiskFull):  # an answer prepared across the rollback is void
            await store.wait_durable(epoch)
        store._db.execute("PRAGMA max_page_count=1073741823")
        _put(store, "after")
        await store.wait_durable(store.epoch)
        assert store.revision == 2
        store.close()

    asyncio.run(scenario())
    again = Store(tmp_path / "s.db")
    assert sorted(o["metadata"]["name"] for o in again.objects("/configmaps")) == [
        "after", "kept"]


def test_a_row_without_metadata_is_refused_at_open(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    _put(store, "victim")
    store.close()
    con = sqlite3.connect(tmp_path / "s.db")
    con.execute("UPDATE objects SET data = '{\"metadatX\": {\"name\": \"victim\"}}'")
    con.commit()
    con.close()
    with pytest.raises(StoreCorrupt, match=r"s\.db is damaged \(object /configmaps "
                                           r"default/victim has no metadata\)"):
        Store(tmp_path / "s.db")


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s.db").write_bytes(b"not a database at all" * 300)
    with pytest.raises(StoreCorrupt, match="is damaged"):
        Store(tmp_path / "s.db")
