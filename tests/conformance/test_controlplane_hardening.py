"""A control plane a tenant cannot take down or corrupt (issue 14): one plane per data dir,
private files, bounded watch history, read timeouts and in-flight caps, bounded logs and
ephemeral storage, a full disk reported and recovered from, namespace deletion resumed after
a crash, and a damaged store refused at start-up."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from orchestrator import ControlPlane
from tests.conformance.test_crash import Server
from tests.conftest import Kubectl, wait_for
from tests.tenants import make_tenant

CM = "/api/v1/namespaces/default/configmaps"


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)


def _status(server: Server, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    try:
        return 200, server.request(method, path, body)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "data")
    srv.data_dir.mkdir()
    srv.start()
    try:
        yield srv
    finally:
        if srv.proc is not None and srv.proc.poll() is None:
            os.kill(srv.proc.pid, signal.SIGCONT)  # in case a test paused it
        srv.stop()


# -- 1. one control plane per data dir ------------------------------------------------------

def test_second_plane_on_a_held_data_dir_refuses_naming_the_holder(server: Server) -> None:
    assert server.proc is not None
    pid = server.proc.pid
    for mode in (["--foreground"], []):
        done = _cli("up", "--data-dir", str(server.data_dir), "--components", "none",
                    "--ingress-port", "0", *mode)
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"in use by the control plane of pid {pid}" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    with pytest.raises(RuntimeError, match=f"pid {pid}"):  # DataDirInUse
        ControlPlane(data_dir=server.data_dir, components=()).start()
    # The daemon never noticed: its next writes are fine.
    for i in range(3):
        server.request("POST", CM, {"metadata": {"name": f"after-{i}"}})


def test_dask_cluster_never_starts_a_second_plane_beside_a_paused_one(
        server: Server, tmp_path: Path) -> None:
    assert server.proc is not None
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env.update(HOME=str(home), DASKHUB_LITE_HOME=str(server.data_dir))
    os.kill(server.proc.pid, signal.SIGSTOP)
    try:
        done = subprocess.run(
            [sys.executable, "-c", "from daskhub_lite.clusters.target import resolve; "
             "print(resolve().describe())"],
            capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
    assert done.returncode != 0, done.stdout
    assert f"pid {server.proc.pid} holds the data dir" in done.stderr
    assert "no second control plane" in done.stderr
    # The daemon, resumed, still owns a consistent store.
    server.request("POST", CM, {"metadata": {"name": "resumed"}})
    names = {i["metadata"]["name"] for i in server.request("GET", CM)["items"]}
    assert "resumed" in names


# -- 2. private data dir ----------------------------------------------------------------------

def test_data_dir_and_what_the_plane_writes_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = _cli("up", "--data-dir", str(data), "--components", "none", "--ingress-port", "0")
    assert done.returncode == 0, done.stderr
    try:
        config = data / "kubeconfig"
        token = yaml_token(config)
        post_secret(data, token)
        assert oct(data.stat().st_mode & 0o777) == oct(0o700)
        assert oct((data / "pki").stat().st_mode & 0o777) == oct(0o700)
        files = [data / n for n in ("state.db", "state.db-wal", "state.db-shm", "kubeconfig",
                                    "token", "controlplane.log", "controlplane.lock")]
        files += sorted((data / "pki").iterdir())
        loose = {str(f.relative_to(data)): oct(f.stat().st_mode & 0o777) for f in files
                 if f.stat().st_mode & 0o077}
        assert not loose, f"readable by others: {loose}"
        # Another user on the machine cannot read the Secret.
        if os.geteuid() == 0 and _has("runuser"):
            peek = subprocess.run(["runuser", "-u", "nobody", "--", "cat",
                                   str(data / "state.db")], capture_output=True, text=True)
            assert peek.returncode != 0 and "Permission denied" in peek.stderr
    finally:
        assert _cli("down", "--data-dir", str(data)).returncode == 0


def _has(tool: str) -> bool:
    return any((Path(p) / tool).exists() for p in os.environ.get("PATH", "").split(":"))


def yaml_token(kubeconfig: Path) -> str:
    import yaml

    return str(yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["token"])


def post_secret(data: Path, token: str) -> None:
    import yaml

    url = yaml.safe_load((data / "kubeconfig").read_text())["clusters"][0]["cluster"]["server"]
    req = urllib.request.Request(url + "/api/v1/namespaces/default/secrets", method="POST",
                                 data=json.dumps({"metadata": {"name": "s"},
                                                  "stringData": {"k": "v"}}).encode(),
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"})
    ctx = ssl.create_default_context(cafile=str(data / "pki" / "ca.crt"))
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        assert resp.status == 201


# -- 3. watch history bounded by bytes --------------------------------------------------------

def test_watch_history_is_bounded_by_bytes(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASKHUB_LITE_WATCH_HISTORY_BYTES", str(4 * 1024 * 1024))
    data = tmp_path / "data"
    with ControlPlane(data_dir=data, components=()) as cp:
        srv = _attach(cp)
        first = srv.request("POST", CM, {"metadata": {"name": "big"}, "data": {"k": "x"}})
        start = int(first["metadata"]["resourceVersion"])
        payload = "y" * (512 * 1024)
        for i in range(40):  # 40 x 512 KiB objects, each change stored with its previous
            obj = srv.request("GET", f"{CM}/big")
            obj["data"] = {"k": payload + str(i)}
            srv.request("PUT", f"{CM}/big", obj)
        last = int(srv.request("GET", f"{CM}/big")["metadata"]["resourceVersion"])
        # A watch from before the window: 410 Gone, as a real API server says it.
        assert _first_watch_event(srv, start)["type"] == "ERROR"
        assert _first_watch_event(srv, start)["object"]["code"] == 410
        # A recent one resumes.
        srv.request("POST", CM, {"metadata": {"name": "after"}})
        assert _first_watch_event(srv, last)["object"]["metadata"]["name"] == "after"
    db = sum(p.stat().st_size for p in data.glob("state.db*"))
    assert db < 16 * 1024 * 1024, f"state.db* hold {db} bytes for a 4 MiB history"


def _attach(cp: ControlPlane) -> Server:
    srv = Server(cp.data_dir)
    srv.url, srv.token = cp.url, cp.token
    srv.ssl = ssl.create_default_context(cafile=cp.ca_file)
    return srv


def _first_watch_event(srv: Server, since: int) -> dict[str, Any]:
    req = urllib.request.Request(
        f"{srv.url}{CM}?watch=1&resourceVersion={since}&timeoutSeconds=5",
        headers={"Authorization": f"Bearer {srv.token}"})
    with urllib.request.urlopen(req, timeout=20, context=srv.ssl) as resp:
        line = resp.readline()
    event: dict[str, Any] = json.loads(line)
    return event


# -- 4. read timeouts and in-flight caps ------------------------------------------------------

LIMITS = {"DASKHUB_LITE_HEADER_TIMEOUT_SECONDS": "1", "DASKHUB_LITE_IDLE_TIMEOUT_SECONDS": "2",
          "DASKHUB_LITE_BODY_TIMEOUT_SECONDS": "2",
          "DASKHUB_LITE_TLS_HANDSHAKE_TIMEOUT_SECONDS": "1"}


@pytest.fixture
def limited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ControlPlane]:
    for key, value in LIMITS.items():
        monkeypatch.setenv(key, value)
    with ControlPlane(data_dir=tmp_path / "data", components=()) as cp:
        yield cp


def _tls(cp: ControlPlane) -> ssl.SSLSocket:
    ctx = ssl.create_default_context(cafile=cp.ca_file)
    raw = socket.create_connection((cp.host, cp.port), timeout=20)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def _closed_by_server(sock: socket.socket, within: float = 15) -> bool:
    sock.settimeout(within)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except (ConnectionError, ssl.SSLError, OSError) as exc:
        return not isinstance(exc, TimeoutError)


def test_a_body_that_stops_coming_is_dropped(limited: ControlPlane) -> None:
    s = _tls(limited)
    try:
        s.sendall(b"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: localhost\r\n"
                  b"Authorization: Bearer " + limited.token.encode() + b"\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"kind\"")
        assert _closed_by_server(s)  # after the 2 s body deadline
    finally:
        s.close()
    assert _attach(limited).request("GET", "/api/v1/namespaces")["kind"] == "NamespaceList"


def test_clients_sending_half_a_header_are_dropped(limited: ControlPlane) -> None:
    socks = []
    try:
        for _ in range(50):
            s = _tls(limited)
            s.sendall(b"GET /api/v1/namespaces HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            socks.append(s)
        assert all(_closed_by_server(s) for s in socks)
    finally:
        for s in socks:
            s.close()
    # The server still answers.
    assert _attach(limited).request("GET", "/api/v1/namespaces")["kind"] == "NamespaceList"


def test_a_client_that_never_finishes_tls_is_dropped(limited: ControlPlane) -> None:
    with socket.create_connection((limited.host, limited.port), timeout=20) as raw:
        raw.sendall(b"\x16\x03\x01")  # the start of a ClientHello, and nothing more
        assert _closed_by_server(raw)


def test_a_body_that_never_arrives_is_dropped(limited: ControlPlane) -> None:
    with _tls(limited) as s:
        s.sendall((f"POST {CM} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer "
                   f"{limited.token}\r\nContent-Type: application/json\r\n"
                   "Content-Length: 1000\r\n\r\n{\"metadata\":").encode())
        assert _closed_by_server(s)
    assert _attach(limited).request("GET", CM)["items"] == []


def test_an_idle_keep_alive_connection_is_closed(limited: ControlPlane) -> None:
    with _tls(limited) as s:
        s.sendall(f"GET /version HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        s.settimeout(10)
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        assert _closed_by_server(s)


@pytest.fixture
def capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ControlPlane]:
    monkeypatch.setenv("DASKHUB_LITE_MAX_REQUESTS_INFLIGHT", "2")
    monkeypatch.setenv("DASKHUB_LITE_MAX_MUTATING_REQUESTS_INFLIGHT", "2")
    monkeypatch.setenv("DASKHUB_LITE_BODY_TIMEOUT_SECONDS", "60")
    with ControlPlane(data_dir=tmp_path / "data", components=()) as cp:
        yield cp


def test_requests_over_the_inflight_caps_get_429(capped: ControlPlane, tmp_path: Path) -> None:
    admin = Kubectl(capped, tmp_path / "cache")
    tenant = make_tenant(capped, admin, "team-a", tmp_path)
    path = "/api/v1/namespaces/team-a/configmaps"
    srv = _attach(capped)
    as_tenant = _attach(capped)
    as_tenant.token = tenant.token
    # Two mutating requests held in flight: headers sent, bodies not finished.
    held = []
    try:
        for _ in range(2):
            s = _tls(capped)
            s.sendall((f"POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer "
                       f"{tenant.token}\r\nContent-Type: application/json\r\n"
                       "Content-Length: 1000\r\n\r\n{").encode())
            held.append(s)
        time.sleep(0.5)  # let the server take both in (no assertion on time)

        def refused() -> tuple[int, Any] | None:
            code, body = _status(as_tenant, "POST", path, {"metadata": {"name": "third"}})
            return (code, body) if code == 429 else None

        code, body = wait_for(refused, timeout=10)
        assert body["reason"] == "TooManyRequests"
        assert body["message"] == "Too many requests, please try again later."
        assert body["details"]["retryAfterSeconds"] == 1
        req = urllib.request.Request(srv.url + path, method="POST", data=b"{}", headers={
            "Authorization": f"Bearer {tenant.token}", "Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, context=srv.ssl, timeout=10)
        assert info.value.code == 429 and info.value.headers["Retry-After"] == "1"
        # Reads have their own cap; watches are not counted; the admin is exempt.
        watches = [_open_watch(as_tenant, path) for _ in range(3)]
        try:
            assert as_tenant.request("GET", path)["kind"] == "ConfigMapList"
        finally:
            for w in watches:
                w.close()
        srv.request("POST", path, {"metadata": {"name": "by-admin"}})
    finally:
        for s in held:
            s.close()
    # Once the held requests are gone, the tenant writes again.
    wait_for(lambda: _status(as_tenant, "POST", path,
                             {"metadata": {"name": "later"}})[0] == 200, timeout=10)


def _open_watch(srv: Server, path: str) -> Any:
    req = urllib.request.Request(f"{srv.url}{path}?watch=1&timeoutSeconds=30",
                                 headers={"Authorization": f"Bearer {srv.token}"})
    return urllib.request.urlopen(req, timeout=30, context=srv.ssl)
