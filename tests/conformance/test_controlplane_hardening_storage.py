"""Issue 14, the storage half: container logs rotated, ephemeral-storage limits enforced by
eviction, a full disk reported as such and recovered from, namespace deletion resumed after a
crash, and a damaged state.db refused at start-up."""

from __future__ import annotations

import copy
import os
import random
import subprocess
import sys
import urllib.error
from pathlib import Path
from typing import Any, Iterator

import pytest

from orchestrator import ControlPlane
from orchestrator.store import Change, Store
from tests.conformance.test_controlplane_hardening import _status
from tests.conformance.test_crash import Server
from tests.conftest import Kubectl, wait_for
from tests.e2e.runtime_harness import apply, get, node_name, pod, py, runtime_env

CM = "/api/v1/namespaces/default/configmaps"
LOG_MAX = 256 * 1024


# -- 5a. container logs rotated ---------------------------------------------------------------

@pytest.fixture(scope="module")
def node_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ControlPlane, Kubectl]]:
    env = {"DASKHUB_LITE_CONTAINER_LOG_MAX_BYTES": str(LOG_MAX),
           "DASKHUB_LITE_CONTAINER_LOG_MAX_FILES": "3", "DASKHUB_LITE_EVICTION_SECONDS": "1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with runtime_env(), ControlPlane(data_dir=tmp_path_factory.mktemp("cp")) as cp:
            yield cp, Kubectl(cp, tmp_path_factory.mktemp("kubectl"))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _log_files(cp: ControlPlane, p: dict[str, Any], container: str) -> list[Path]:
    folder = cp.data_dir / "pods" / p["metadata"]["uid"] / "logs" / container
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_container_logs_are_rotated_and_logs_reads_the_current_file(
        node_plane: tuple[ControlPlane, Kubectl]) -> None:
    cp, kubectl = node_plane
    code = ("import time\nfor i in range(20000):\n    print(f'line {i:06d} ' + 'x' * 100)\n"
            "time.sleep(3600)")
    apply(kubectl, pod("chatty", node_name(kubectl), py("chatty", code)))
    try:
        wait_for(lambda: "line 019999" in kubectl.run("logs", "chatty", "--tail=1",
                                                      check=False).stdout, timeout=60)
        p = get(kubectl, "chatty")
        files = _log_files(cp, p, "chatty")
        sizes = {f.name: f.stat().st_size for f in files}
        assert len(files) <= 3, sizes  # containerLogMaxFiles, the current one included
        assert all(size <= LOG_MAX + 4096 for size in sizes.values()), sizes
        assert any(".log." in name for name in sizes), sizes  # it did rotate
        current = kubectl.run("logs", "chatty").stdout
        assert current.rstrip().endswith("line 019999 " + "x" * 100)
        assert "line 000000" not in current  # rotated away, as kubelet does
    finally:
        kubectl.run("delete", "pod", "chatty", "--grace-period=0", "--force", check=False)


# -- 5b. ephemeral-storage limits -------------------------------------------------------------

WRITE_2MIB = ("import time\nwith open('scratch', 'wb') as f:\n    f.write(b'z' * (2 << 20))\n"
              "    f.flush()\n    import os; os.fsync(f.fileno())\ntime.sleep(3600)")


def _wait_evicted(kubectl: Kubectl, name: str) -> dict[str, Any]:
    def evicted() -> dict[str, Any] | None:
        p = get(kubectl, name)
        return p if (p.get("status") or {}).get("reason") == "Evicted" else None
    result: dict[str, Any] = wait_for(evicted, timeout=40, interval=0.5)
    return result


def test_pod_over_its_ephemeral_storage_limit_is_evicted(
        node_plane: tuple[ControlPlane, Kubectl]) -> None:
    cp, kubectl = node_plane
    hog = py("hog", WRITE_2MIB, resources={"limits": {"ephemeral-storage": "1Mi"}})
    apply(kubectl, pod("hog", node_name(kubectl), hog))
    try:
        p = _wait_evicted(kubectl, "hog")
        status = p["status"]
        assert status["phase"] == "Failed"
        assert status["message"].strip() == (
            "Pod ephemeral local storage usage exceeds the total limit of containers 1Mi.")
        wait_for(lambda: "terminated" in (get(kubectl, "hog")["status"]["containerStatuses"][0]
                                          .get("state") or {}), timeout=20)
        events = kubectl.json("get", "events", "--field-selector",
                              "involvedObject.name=hog")["items"]
        assert any(e["reason"] == "Evicted" for e in events)
        # Evicted pods are not restarted, and stay Failed.
        assert get(kubectl, "hog")["status"]["containerStatuses"][0]["restartCount"] == 0
    finally:
        kubectl.run("delete", "pod", "hog", "--grace-period=0", "--force", check=False)


def test_container_over_its_own_limit_is_evicted_with_the_container_wording(
        node_plane: tuple[ControlPlane, Kubectl]) -> None:
    cp, kubectl = node_plane
    loud = py("loud", "import time\nfor i in range(3000):\n    print('y' * 200)\n"
              "time.sleep(3600)", resources={"limits": {"ephemeral-storage": "100Ki"}})
    quiet = py("quiet", "import time; time.sleep(3600)",
               resources={"limits": {"ephemeral-storage": "2Mi"}})
    apply(kubectl, pod("two", node_name(kubectl), quiet, loud))
    try:
        p = _wait_evicted(kubectl, "two")
        assert p["status"]["message"].strip() == (
            'Container loud exceeded its local ephemeral storage limit "100Ki".')
    finally:
        kubectl.run("delete", "pod", "two", "--grace-period=0", "--force", check=False)


# -- 5c. a full disk ----------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(path: Path) -> None:
    """Write until the file system is full, in ever smaller pieces down to 512 bytes."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        size = 1 << 20
        while size >= 512:
            try:
                os.write(fd, b"\0" * size)
            except OSError:
                size //= 2
    finally:
        os.close(fd)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_full_disk_is_reported_and_recovered_from(small_disk: Path) -> None:
    data = small_disk / "data"
    data.mkdir()
    server = Server(data)
    server.start()
    try:
        acked = []
        for i in range(5):
            server.request("POST", CM, {"metadata": {"name": f"before-{i}"}})
            acked.append(f"before-{i}")
        _fill(small_disk / "filler")
        payload = {"k": "v" * 65536}
        codes = []
        for i in range(200):  # until the disk refuses (the WAL may have room left at first)
            code, body = _status(server, "POST", CM,
                                 {"metadata": {"name": f"full-{i}"}, "data": payload})
            codes.append(code)
            if code == 200:
                acked.append(f"full-{i}")
                continue
            assert code == 507, body
            assert body["reason"] == "InsufficientStorage"
            assert str(data) in body["message"] and "full" in body["message"]
            break
        assert codes[-1] == 507, codes
        # Reads still work, and every later write is refused the same way (not a 500).
        assert server.request("GET", CM)["kind"] == "ConfigMapList"
        for i in range(3):
            code, body = _status(server, "POST", CM, {"metadata": {"name": f"again-{i}"},
                                                       "data": payload})
            assert code == 507, body
        (small_disk / "filler").unlink()
        wait_for(lambda: _status(server, "POST", CM, {"metadata": {"name": "space-back"}})[0]
                 == 200, timeout=20)
        acked.append("space-back")
        server.stop()
        server.start()
        names = {i["metadata"]["name"] for i in server.request("GET", CM)["items"]}
        assert set(acked) <= names, set(acked) - names
        assert not {n for n in names if n.startswith("again-")}
    finally:
        server.stop()


# -- 6. namespace deletion resumed --------------------------------------------------------------

def test_namespace_deletion_cut_short_is_finished_at_start_up(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    server = Server(data)
    server.start()
    try:
        server.request("POST", "/api/v1/namespaces", {"metadata": {"name": "doomed"}})
        for i in range(30):
            server.request("POST", "/api/v1/namespaces/doomed/configmaps",
                           {"metadata": {"name": f"cm-{i}"}})
        server.stop()
        # What a kill -9 half-way through `kubectl delete namespace` leaves on disk: the
        # namespace marked Terminating, its objects still there.
        store = Store(data / "state.db")
        ns = copy.deepcopy(store.get("/namespaces", "", "doomed"))
        assert ns is not None
        ns["metadata"].update(deletionTimestamp="2024-01-01T00:00:00Z",
                              deletionGracePeriodSeconds=0, finalizers=["kubernetes"])
        ns["status"] = {"phase": "Terminating"}
        store.commit([Change("/namespaces", "", "doomed", ns)])
        store.close()
        server.start()

        def gone() -> bool:
            try:
                server.request("GET", "/api/v1/namespaces/doomed")
            except urllib.error.HTTPError as exc:
                return exc.code == 404
            return False

        wait_for(gone, timeout=30)
        left = server.request("GET", "/api/v1/namespaces/doomed/configmaps")["items"]
        assert left == []
    finally:
        server.stop()


# -- 7. a damaged store is refused ----------------------------------------------------------------

def _damage_row(db: Path, name: bytes) -> None:
    """Overwrite `"metadata"` with `"metadatX"` in every stored copy of the object `name`."""
    raw = bytearray(db.read_bytes())
    hits = 0
    at = raw.find(name)
    while at != -1:
        key = raw.rfind(b'"metadata"', max(0, at - 300), at)
        if key != -1:
            raw[key:key + 10] = b'"metadatX"'
            hits += 1
        at = raw.find(name, at + 1)
    assert hits, "the object's row was not found in the file"
    db.write_bytes(bytes(raw))


def _damage_page(db: Path) -> None:
    raw = bytearray(db.read_bytes())
    rng = random.Random(14)
    page = 4096
    for offset in range(page, min(len(raw), 3 * page)):
        raw[offset] = rng.randrange(256)
    db.write_bytes(bytes(raw))


@pytest.mark.parametrize("damage", ["row", "page"])
def test_damaged_state_db_is_refused_with_a_clear_message(tmp_path: Path, damage: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    server = Server(data)
    server.start()
    try:
        for i in range(40):
            server.request("POST", CM, {"metadata": {"name": f"cm-{i:03d}"},
                                        "data": {"k": "v" * 200}})
        server.request("POST", CM, {"metadata": {"name": "victim-object"}})
    finally:
        server.stop()
    assert not (data / "state.db-wal").exists() or (data / "state.db-wal").stat().st_size == 0
    db = data / "state.db"
    if damage == "row":
        _damage_row(db, b'"victim-object"')
    else:
        _damage_page(db)
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "up", "--foreground",
                             "--data-dir", str(data), "--components", "none"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the control plane started on a damaged state.db: {out}{err}")
    assert proc.returncode == 1, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(db) in lines[0] and "is damaged" in lines[0]
    assert "Restore it from a backup" in lines[0]
