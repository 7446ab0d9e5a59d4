"""kubehttp, the CLI's light REST client, against a live control plane: each kubeconfig way
of authenticating and trusting the server, the errors a person sees, the fallback to the
`kubernetes` client, and the CLI's commands talking to the plane without the heavy clients."""

from __future__ import annotations

import json
import os
import select
import socket
import socketserver
import stat
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from daskhub_lite import kubehttp
from daskhub_lite.kubehttp.fullclient import ClientTransport
from daskhub_lite.kubehttp.transport import HTTPTransport
from orchestrator import ControlPlane
from tests.unit.test_cli_imports import HEAVY, loaded

EXEC_API = "client.authentication.k8s.io/v1"


def variant(cp: ControlPlane, folder: Path, *, cluster: dict[str, Any] | None = None,
            user: dict[str, Any] | None = None, drop_ca: bool = False) -> str:
    """The plane's kubeconfig with its cluster and user entries changed."""
    doc = yaml.safe_load(Path(cp.kubeconfig).read_text())
    if drop_ca:  # by path or inline, whichever the plane writes
        doc["clusters"][0]["cluster"].pop("certificate-authority", None)
        doc["clusters"][0]["cluster"].pop("certificate-authority-data", None)
    doc["clusters"][0]["cluster"].update(cluster or {})
    if user is not None:
        doc["users"][0]["user"] = user
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def exec_plugin(folder: Path, body: str) -> str:
    """An executable credential plugin (this Python) running `body`."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "get-token"
    script.write_text(f"#!{sys.executable}\nimport json, os, sys\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_the_planes_kubeconfig_reads_writes_and_streams(control_plane: ControlPlane) -> None:
    api = kubehttp.connect(control_plane.kubeconfig)
    assert isinstance(api, HTTPTransport) and api.namespace == "default"
    assert api.get("/version")["gitVersion"].startswith("v1.")
    path = kubehttp.resource_path("v1", "configmaps", "default")
    api.create(path, {"metadata": {"name": "kubehttp"}, "data": {"a": "1"}})
    try:
        patched = api.patch(f"{path}/kubehttp", {"data": {"b": "2"}})
        assert patched["data"] == {"a": "1", "b": "2"}
        with pytest.raises(kubehttp.APIStatusError) as err:
            api.create(path, {"metadata": {"name": "kubehttp"}})
        assert err.value.status == 409 and "already exists" in str(err.value)
        streamed = json.loads(b"".join(api.stream(f"{path}/kubehttp")))
        assert streamed["data"]["b"] == "2"
    finally:
        api.delete(f"{path}/kubehttp")
    with pytest.raises(kubehttp.APIStatusError) as err:
        api.get(f"{path}/kubehttp")
    assert err.value.status == 404 and err.value.reason == "Not Found"


def test_token_file_relative_to_its_kubeconfig(control_plane: ControlPlane,
                                               tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "token").write_text(control_plane.token + "\n")
    config = variant(control_plane, tmp_path, user={"tokenFile": "secrets/token"})
    assert kubehttp.connect(config).get("/api/v1/namespaces/default")["metadata"]["name"] \
        == "default"


def test_exec_plugin_gets_cluster_info_is_cached_and_rerun_after_a_401(
        control_plane: ControlPlane, tmp_path: Path) -> None:
    runs, info = tmp_path / "runs", tmp_path / "info.json"
    # The first run hands out a wrong token: the 401 makes the transport ask again.
    plugin = exec_plugin(tmp_path / "bin", f"""
runs = open({str(runs)!r}, "a+"); runs.write("x"); runs.seek(0); n = len(runs.read())
open({str(info)!r}, "w").write(os.environ["KUBERNETES_EXEC_INFO"])
token = "wrong" if n == 1 else {control_plane.token!r}
print(json.dumps({{"apiVersion": {EXEC_API!r}, "kind": "ExecCredential",
                  "status": {{"token": token}}}}))""")
    config = variant(control_plane, tmp_path, user={"exec": {
        "apiVersion": EXEC_API, "command": plugin, "interactiveMode": "Never",
        "provideClusterInfo": True}})
    namespace = kubehttp.resource_path("v1", "namespaces", name="default")  # needs a user
    assert kubehttp.connect(config).get(namespace)["metadata"]["name"] == "default"
    assert runs.read_text() == "xx"
    spec = json.loads(info.read_text())["spec"]
    assert spec["interactive"] is False
    assert spec["cluster"]["server"] == yaml.safe_load(Path(config).read_text())[
        "clusters"][0]["cluster"]["server"]
    assert spec["cluster"]["certificate-authority-data"]
    kubehttp.connect(config).get(namespace)  # a second client reuses the credential
    assert runs.read_text() == "xx"


def test_exec_plugin_failures_are_one_line(control_plane: ControlPlane,
                                           tmp_path: Path) -> None:
    failing = exec_plugin(tmp_path / "bin", "sys.exit(3)")
    config = variant(control_plane, tmp_path / "a", user={"exec": {
        "apiVersion": EXEC_API, "command": failing, "interactiveMode": "Never"}})
    with pytest.raises(kubehttp.KubeconfigError, match="failed with exit code 3"):
        kubehttp.connect(config).get("/version")
    config = variant(control_plane, tmp_path / "b", user={"exec": {
        "apiVersion": EXEC_API, "command": "no-such-plugin-here", "interactiveMode": "Never",
        "installHint": "install it with: pip install no-such-plugin"}})
    with pytest.raises(kubehttp.KubeconfigError,
                       match="no-such-plugin-here not found: install it with"):
        kubehttp.connect(config).get("/version")


def test_a_wrong_token_is_the_servers_401(control_plane: ControlPlane,
                                           tmp_path: Path) -> None:
    config = variant(control_plane, tmp_path, user={"token": "not-the-token"})
    with pytest.raises(kubehttp.APIStatusError) as err:
        kubehttp.connect(config).get("/api/v1/namespaces")
    assert err.value.status == 401 and err.value.reason == "Unauthorized"


def test_impersonation_headers_reach_the_server(control_plane: ControlPlane,
                                                tmp_path: Path) -> None:
    who = "system:serviceaccount:default:default"
    config = variant(control_plane, tmp_path,
                     user={"token": control_plane.token, "as": who})
    with pytest.raises(kubehttp.APIStatusError) as err:
        kubehttp.connect(config).get("/api/v1/nodes")
    assert err.value.status == 403 and who in err.value.message


def test_server_trust_ca_insecure_and_tls_server_name(control_plane: ControlPlane,
                                                      tmp_path: Path) -> None:
    untrusted = variant(control_plane, tmp_path / "a", drop_ca=True)
    with pytest.raises(ConnectionError, match="TLS certificate not trusted"):
        kubehttp.connect(untrusted).get("/version")
    insecure = variant(control_plane, tmp_path / "b", drop_ca=True,
                       cluster={"insecure-skip-tls-verify": True})
    assert kubehttp.connect(insecure).get("/version")["major"] == "1"
    named = variant(control_plane, tmp_path / "c", cluster={"tls-server-name": "kubernetes"})
    assert kubehttp.connect(named).get("/version")["major"] == "1"
    misnamed = variant(control_plane, tmp_path / "d",
                       cluster={"tls-server-name": "elsewhere.example"})
    with pytest.raises(ConnectionError, match="TLS certificate not trusted"):
        kubehttp.connect(misnamed).get("/version")


def test_client_certificate_data_is_loaded_and_a_bad_pair_refused(
        control_plane: ControlPlane, tmp_path: Path) -> None:
    import base64
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    # Issued by the cluster's CA, as a CSR would be: the server verifies client certificates.
    pki = Path(control_plane.data_dir) / "pki"
    ca = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), None)

    def pem_pair() -> tuple[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jane")])
        now = dt.datetime.now(dt.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(ca.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=1))
                .not_valid_after(now + dt.timedelta(days=1))
                .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
        key_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return (base64.b64encode(cert.public_bytes(serialization.Encoding.PEM)).decode(),
                base64.b64encode(key_pem).decode())

    cert, key = pem_pair()
    config = variant(control_plane, tmp_path / "a", user={
        "token": control_plane.token, "client-certificate-data": cert, "client-key-data": key})
    assert kubehttp.connect(config).get("/version")["major"] == "1"
    _, other_key = pem_pair()
    mismatched = variant(control_plane, tmp_path / "b", user={
        "token": control_plane.token, "client-certificate-data": cert,
        "client-key-data": other_key})
    with pytest.raises(kubehttp.KubeconfigError, match="client certificate"):
        kubehttp.connect(mismatched).get("/version")
    assert not list(Path(os.environ.get("TMPDIR", "/tmp")).glob("daskhub-lite-tls-*"))


class _ConnectProxy(socketserver.ThreadingTCPServer):
    """An HTTP CONNECT proxy on loopback that records the tunnels it opened."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Tunnel)
        self.seen: list[str] = []


class _Tunnel(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        line = head.split(b"\r\n")[0].decode()
        assert isinstance(self.server, _ConnectProxy)
        self.server.seen.append(line)
        host, port = line.split()[1].rsplit(":", 1)
        with socket.create_connection((host, int(port))) as upstream:
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            ends = [self.request, upstream]
            while True:
                ready, _, _ = select.select(ends, [], [], 10)
                if not ready:
                    return
                for end in ready:
                    data = end.recv(65536)
                    if not data:
                        return
                    (upstream if end is self.request else self.request).sendall(data)


@pytest.fixture
def proxy() -> Iterator[_ConnectProxy]:
    server = _ConnectProxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_proxy_url_falls_back_to_the_kubernetes_client(control_plane: ControlPlane,
                                                       tmp_path: Path,
                                                       proxy: _ConnectProxy) -> None:
    port = proxy.server_address[1]
    config = variant(control_plane, tmp_path, cluster={"proxy-url": f"http://127.0.0.1:{port}"})
    api = kubehttp.connect(config)
    assert isinstance(api, ClientTransport) and api.namespace == "default"
    assert api.get("/version")["major"] == "1"
    assert proxy.seen and proxy.seen[0].startswith("CONNECT 127.0.0.1:")
    with pytest.raises(kubehttp.APIStatusError) as err:
        api.get("/api/v1/namespaces/default/configmaps/not-there")
    assert err.value.status == 404


@pytest.mark.parametrize("args, allowed", [
    (["job", "list"], set()), (["cluster", "list"], set()), (["list"], {"helm_python"}),
])
def test_commands_talk_to_the_plane_without_the_heavy_clients(
        control_plane: ControlPlane, tmp_path: Path, args: list[str],
        allowed: set[str]) -> None:
    modules, done = loaded(*args, "--kubeconfig", control_plane.kubeconfig, home=tmp_path)
    if args == ["cluster", "list"]:  # this plane has no dask operator: kr8s's words for it
        assert done.returncode == 1 and "error: Kind daskclusters not found." in done.stderr
    else:
        assert done.returncode == 0, done.stderr
    assert not modules & (set(HEAVY) - allowed), sorted(modules & (set(HEAVY) - allowed))
