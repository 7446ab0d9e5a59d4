"""kill -9 the API server mid-stream: acknowledged writes survive, versions keep rising, and a
watcher resuming from its last version sees no gap."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import wait_for


class Server:
    """`daskhub-lite up --foreground` in its own process, so it can be killed for real."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        kubeconfig = self.data_dir / "kubeconfig"
        before = kubeconfig.stat().st_mtime_ns if kubeconfig.exists() else 0
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", "up", "--foreground",
             "--data-dir", str(self.data_dir), "--components", "none"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: kubeconfig.exists() and kubeconfig.stat().st_mtime_ns != before,
                 timeout=20)
        config = yaml.safe_load(kubeconfig.read_text())
        self.url = config["clusters"][0]["cluster"]["server"]
        self.token = config["users"][0]["user"]["token"]
        self.ssl = ssl.create_default_context(cafile=str(self.data_dir / "pki" / "ca.crt"))

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)

    def request(self, method: str, path: str, body: Any = None, timeout: float = 5) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout, context=self.ssl) as resp:
            return json.loads(resp.read())


CM_PATH = "/api/v1/namespaces/default/configmaps"


def test_kill9_loses_no_acknowledged_write(tmp_path: Path) -> None:
    server = Server(tmp_path)
    server.start()
    try:
        _crash_and_recover(server)
    finally:
        server.stop()  # whichever instance is running, on success or failure


def _crash_and_recover(server: Server) -> None:
    acked: dict[str, int] = {}
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            name = f"cm-{i}"
            try:
                obj = server.request("POST", CM_PATH, {"metadata": {"name": name},
                                                      "data": {"i": str(i)}})
            except (urllib.error.URLError, ConnectionError, OSError):
                return  # the server died under us: this write is not acknowledged
            acked[name] = int(obj["metadata"]["resourceVersion"])
            i += 1

    # A watcher that records what it saw before the crash.
    start_rv = int(server.request("GET", CM_PATH)["metadata"]["resourceVersion"])
    thread = threading.Thread(target=writer)
    thread.start()
    wait_for(lambda: len(acked) >= 200, timeout=30)
    watched = _watch_once(server, start_rv, limit=50)
    last_seen = watched[-1][1]
    server.kill9()
    stop.set()
    thread.join()
    assert len(acked) >= 200

    server.start()
    listing = server.request("GET", CM_PATH)
    stored = {i["metadata"]["name"]: int(i["metadata"]["resourceVersion"])
              for i in listing["items"]}
    missing = [n for n in acked if stored.get(n) != acked[n]]
    assert not missing, f"acknowledged writes lost: {missing[:5]}"
    # Versions keep increasing across the restart.
    new = server.request("POST", CM_PATH, {"metadata": {"name": "after-restart"}})
    assert int(new["metadata"]["resourceVersion"]) > max(acked.values())
    # A watcher resuming from its last version gets every later change, in order.
    resumed = _watch_once(server, last_seen, limit=None, until="after-restart")
    versions = [rv for _, rv in resumed]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    names = [n for n, _ in resumed]
    expected = sorted((rv, n) for n, rv in acked.items() if rv > last_seen)
    assert [n for _, n in expected] == [n for n in names if n in acked]
    assert names[-1] == "after-restart"


def _watch_once(server: Server, since: int, limit: int | None,
                until: str | None = None) -> list[tuple[str, int]]:
    req = urllib.request.Request(
        f"{server.url}{CM_PATH}?watch=1&resourceVersion={since}&timeoutSeconds=20",
        headers={"Authorization": f"Bearer {server.token}"})
    seen: list[tuple[str, int]] = []
    deadline = time.monotonic() + 30
    with urllib.request.urlopen(req, timeout=30, context=server.ssl) as resp:
        for line in resp:
            ev = json.loads(line)
            assert ev["type"] in ("ADDED", "MODIFIED"), ev
            md = ev["object"]["metadata"]
            seen.append((md["name"], int(md["resourceVersion"])))
            if limit is not None and len(seen) >= limit:
                break
            if until is not None and md["name"] == until:
                break
            if time.monotonic() > deadline:
                break
    return seen
