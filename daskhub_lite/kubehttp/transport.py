"""Kubernetes REST calls over the standard library's HTTP client (no `kubernetes`, no
`kr8s`: a command that makes a few calls starts in a tenth of the time).

`Transport` is the interface the user layer's short-lived callers use: JSON in, JSON out,
errors as `APIStatusError`, log streams as byte chunks. `HTTPTransport` implements it from a
kubeconfig `Endpoint`; `fullclient.ClientTransport` implements it over the `kubernetes`
client for kubeconfigs this one leaves to it.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import socket
import ssl
import tempfile
from typing import Any, Iterator, Mapping
from urllib.parse import quote, urlencode, urlsplit

from daskhub_lite import __version__
from daskhub_lite.kubehttp import execplugin
from daskhub_lite.kubehttp.errors import APIStatusError, KubeconfigError, Unsupported
from daskhub_lite.kubehttp.kubeconfig import Endpoint

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
USER_AGENT = f"daskhub-lite/{__version__}"
Query = Mapping[str, "str | int | float | bool | None"]


class Transport:
    """JSON calls against one API server, in one default namespace."""

    server: str = ""
    namespace: str = "default"
    context: str | None = None

    def request(self, method: str, path: str, *, query: Query | None = None,
                body: Any = None, content_type: str = JSON,
                timeout: float | None = None) -> bytes:
        raise NotImplementedError

    def stream(self, path: str, *, query: Query | None = None,
               timeout: float | None = None) -> Iterator[bytes]:
        """A GET whose answer is read as it comes (`follow=true` logs, watches)."""
        raise NotImplementedError

    def get(self, path: str, *, timeout: float | None = None, **query: Any) -> Any:
        return json.loads(self.request("GET", path, query=query, timeout=timeout))

    def create(self, path: str, body: Mapping[str, Any], **query: Any) -> Any:
        return json.loads(self.request("POST", path, query=query, body=body))

    def patch(self, path: str, body: Mapping[str, Any], **query: Any) -> Any:
        """A JSON merge patch."""
        return json.loads(self.request("PATCH", path, query=query, body=body,
                                       content_type=MERGE_PATCH))

    def delete(self, path: str, body: Mapping[str, Any] | None = None, **query: Any) -> Any:
        return json.loads(self.request("DELETE", path, query=query, body=body))


def resource_path(api_version: str, plural: str, namespace: str | None = None,
                  name: str | None = None, subresource: str | None = None) -> str:
    """`/api/v1/namespaces/ns/pods/name/log`, `/apis/batch/v1/jobs`..."""
    parts = ["/api" if "/" not in api_version else "/apis", api_version]
    if namespace is not None:
        parts += ["namespaces", quote(namespace, safe="")]
    parts.append(plural)
    if name is not None:
        parts.append(quote(name, safe=""))
    if subresource is not None:
        parts.append(subresource)
    return "/".join(parts)


def encode_query(query: Query | None) -> str:
    pairs = [(k, ("true" if v else "false") if isinstance(v, bool) else str(v))
             for k, v in (query or {}).items() if v is not None]
    return urlencode(pairs)


class HTTPTransport(Transport):
    """One kubeconfig endpoint over `http.client`: a fresh connection per call (no pool to
    go stale between a command's few calls), TLS as the kubeconfig says."""

    def __init__(self, endpoint: Endpoint) -> None:
        parts = urlsplit(endpoint.server)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise KubeconfigError(f"kubeconfig server {endpoint.server!r} is not an http(s) "
                                  "URL")
        _refuse_proxy(parts.scheme, parts.hostname)
        self.endpoint = endpoint
        self.server = endpoint.server
        self.namespace = endpoint.namespace
        self.context = endpoint.context
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._ssl: ssl.SSLContext | None = None
        self._ssl_cert: str | None = None  # the exec plugin's certificate _ssl holds
        self._exec_key = f"{endpoint.source}|{endpoint.context}|{endpoint.exec}"

    # -- calls ----------------------------------------------------------------------------

    def request(self, method: str, path: str, *, query: Query | None = None,
                body: Any = None, content_type: str = JSON,
                timeout: float | None = None) -> bytes:
        conn, resp = self._open(method, path, query, body, content_type, timeout)
        try:
            return resp.read()
        finally:
            conn.close()

    def stream(self, path: str, *, query: Query | None = None,
               timeout: float | None = None) -> Iterator[bytes]:
        conn, resp = self._open("GET", path, query, None, JSON, timeout)
        try:
            while True:
                chunk = resp.read1(65536)
                if not chunk:
                    return
                yield chunk
        finally:
            conn.close()

    def _open(self, method: str, path: str, query: Query | None, body: Any,
              content_type: str, timeout: float | None
              ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        url = self._prefix + path
        encoded = encode_query(query)
        if encoded:
            url += "?" + encoded
        data = None if body is None else json.dumps(body).encode()
        for attempt in (1, 2):
            exec_cred = self._exec_credential()
            # A list, not a dict: impersonated groups and extras repeat their header.
            headers = [("Accept", JSON), ("User-Agent", USER_AGENT), *self._auth(exec_cred),
                       *self.endpoint.impersonate]
            if data is not None:
                headers += [("Content-Type", content_type), ("Content-Length", str(len(data)))]
            conn = self._connection(timeout, exec_cred)
            try:
                conn.putrequest(method, url, skip_accept_encoding=True)
                for name, value in headers:
                    conn.putheader(name, value)
                conn.endheaders(data)
                resp = conn.getresponse()
            except OSError as exc:
                conn.close()
                raise ConnectionError(f"{self.server}: {_reason(exc)}") from exc
            if resp.status < 400:
                return conn, resp
            error = APIStatusError(resp.status, resp.reason, resp.read())
            conn.close()
            if resp.status == 401 and exec_cred is not None and attempt == 1:
                execplugin.refresh(self._exec_key)  # expired early or revoked: ask again
                continue
            raise error
        raise AssertionError("unreachable")

    # -- credentials and TLS ----------------------------------------------------------------

    def _exec_credential(self) -> execplugin.Credential | None:
        ep = self.endpoint
        if ep.exec is None or ep.token or ep.token_file:  # a static token comes first
            return None
        return execplugin.credential(ep.exec, self._exec_key)

    def _auth(self, exec_cred: execplugin.Credential | None) -> list[tuple[str, str]]:
        ep = self.endpoint
        token = ep.token
        if not token and ep.token_file:
            try:
                with open(ep.token_file, encoding="utf-8") as fh:
                    token = fh.read().strip()  # read each time: it is rotated
            except OSError as exc:
                raise KubeconfigError(f"kubeconfig tokenFile {ep.token_file}: "
                                      f"{exc.strerror}") from None
        if not token and exec_cred is not None:
            token = exec_cred.token
        if token:
            return [("Authorization", f"Bearer {token}")]
        if ep.username:
            pair = f"{ep.username}:{ep.password or ''}".encode()
            return [("Authorization", "Basic " + base64.b64encode(pair).decode())]
        return []

    def _connection(self, timeout: float | None,
                    exec_cred: execplugin.Credential | None) -> http.client.HTTPConnection:
        wait = timeout if timeout is not None else socket.getdefaulttimeout()
        if not self._https:
            return http.client.HTTPConnection(self._host, self._port, timeout=wait)
        cert = exec_cred.cert_data if exec_cred is not None else None
        if self._ssl is None or cert != self._ssl_cert:
            self._ssl, self._ssl_cert = self._tls(exec_cred), cert
        name = self.endpoint.tls_server_name
        if name:
            return _NamedHTTPSConnection(self._host, self._port, timeout=wait,
                                         context=self._ssl, server_name=name)
        return http.client.HTTPSConnection(self._host, self._port, timeout=wait,
                                           context=self._ssl)

    def _tls(self, exec_cred: execplugin.Credential | None) -> ssl.SSLContext:
        ep = self.endpoint
        if ep.insecure:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif ep.ca_file or ep.ca_data:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            try:
                ctx.load_verify_locations(cafile=ep.ca_file, cadata=ep.ca_data)
            except (OSError, ssl.SSLError) as exc:
                raise KubeconfigError(f"kubeconfig certificate authority: "
                                      f"{_reason(exc)}") from None
        else:
            ctx = ssl.create_default_context()
        cert, key = ep.cert_data, ep.key_data
        if exec_cred is not None and exec_cred.cert_data:
            cert, key = exec_cred.cert_data, exec_cred.key_data
        if ep.cert_file or cert:
            _load_client_cert(ctx, ep.cert_file, ep.key_file, cert, key)
        return ctx


class _NamedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to an address whose certificate carries another name (`tls-server-name`)."""

    def __init__(self, host: str, port: int, *, timeout: float | None,
                 context: ssl.SSLContext, server_name: str) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._server_name = server_name

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(  # type: ignore[attr-defined]
            self.sock, server_hostname=self._server_name)


def _load_client_cert(ctx: ssl.SSLContext, cert_file: str | None, key_file: str | None,
                      cert_data: str | None, key_data: str | None) -> None:
    # ssl loads certificates from files only: PEM data goes through a private folder.
    folder = tempfile.mkdtemp(prefix="daskhub-lite-tls-")
    try:
        if cert_data:
            cert_file = os.path.join(folder, "client.crt")
            with open(cert_file, "w", encoding="utf-8") as fh:
                fh.write(cert_data)
        if key_data:
            key_file = os.path.join(folder, "client.key")
            with open(os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600), "w",
                      encoding="utf-8") as fh:
                fh.write(key_data)
        try:
            ctx.load_cert_chain(str(cert_file), key_file)
        except (OSError, ssl.SSLError) as exc:
            raise KubeconfigError(f"kubeconfig client certificate: {_reason(exc)}") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _refuse_proxy(scheme: str, host: str) -> None:
    """A proxy from the environment is the full client's job (it honours them); loopback
    addresses are never proxied (as in Go's and curl's defaults)."""
    proxy = os.environ.get(f"{scheme}_proxy") or os.environ.get(f"{scheme.upper()}_PROXY") \
        or os.environ.get("all_proxy") or os.environ.get("ALL_PROXY")
    if not proxy or host in ("localhost", "::1") or host.startswith("127."):
        return
    from urllib.request import proxy_bypass  # no_proxy / NO_PROXY

    if not proxy_bypass(host):
        raise Unsupported(f"{scheme} proxy {proxy} applies to {host}")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {exc.verify_message}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
