"""A tiny aggregated API server for the aggregation tests (stdlib only, HTTPS).

    python extension_apiserver.py CERT KEY FRONT_PROXY_CA HOST PORT

Serves example.test/v1 `widgets` (namespaced; get, list, watch). It trusts the
X-Remote-User/Group headers only on connections whose client certificate chains to
FRONT_PROXY_CA with the common name front-proxy-client (what extension API servers read
from kube-system/extension-apiserver-authentication); anything else is 401. Each widget
records who asked: `spec.requestedBy`, `spec.groups`, and whether an Authorization header
reached it (`spec.sawAuthorization`). A watch sends one ADDED event, then ends.
Prints `ready` once listening.
"""

from __future__ import annotations

import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

GROUP_VERSION = "example.test/v1"
RESOURCES = {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GROUP_VERSION,
             "resources": [{"name": "widgets", "singularName": "widget", "namespaced": True,
                            "kind": "Widget", "verbs": ["get", "list", "watch"],
                            "shortNames": ["wd"]}]}


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _trusted(self) -> bool:
        cert = self.connection.getpeercert()  # type: ignore[attr-defined]
        subject = dict(x[0] for x in (cert or {}).get("subject", ()))
        return subject.get("commonName") == "front-proxy-client"

    def _send(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _widget(self, namespace: str, name: str) -> dict[str, Any]:
        return {"apiVersion": GROUP_VERSION, "kind": "Widget",
                "metadata": {"name": name, "namespace": namespace, "resourceVersion": "1"},
                "spec": {"requestedBy": self.headers.get("X-Remote-User"),
                         "groups": self.headers.get_all("X-Remote-Group") or [],
                         "sawAuthorization": "Authorization" in self.headers}}

    def do_GET(self) -> None:
        if not self._trusted():
            self._send(401, _status(401, "Unauthorized", "Unauthorized"))
            return
        path, _, query = self.path.partition("?")
        parts = [p for p in path.split("/") if p]
        if parts == ["apis", "example.test", "v1"]:
            self._send(200, RESOURCES)
            return
        if parts[:3] != ["apis", "example.test", "v1"]:
            self._send(404, _status(404, "NotFound", "the server could not find the requested "
                                                     "resource"))
            return
        rest = parts[3:]
        namespace = rest[1] if len(rest) >= 3 and rest[0] == "namespaces" else "default"
        if rest[-1:] == ["widgets"] or rest[-2:-1] == ["widgets"]:
            name = rest[-1] if rest[-2:-1] == ["widgets"] else ""
            if name and name != "w1":
                self._send(404, _status(404, "NotFound", f'widgets.example.test "{name}" not '
                                                         "found"))
                return
            if "watch=" in query:
                event = json.dumps({"type": "ADDED", "object": self._widget(namespace, "w1")})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(event.encode() + b"\n")
                self.wfile.flush()
                self.close_connection = True
                return
            if name:
                self._send(200, self._widget(namespace, name))
                return
            self._send(200, {"apiVersion": GROUP_VERSION, "kind": "WidgetList",
                             "metadata": {"resourceVersion": "1"},
                             "items": [self._widget(namespace, "w1")]})
            return
        self._send(404, _status(404, "NotFound", "the server could not find the requested "
                                                 "resource"))


def main() -> None:
    cert, key, front_proxy_ca, host, port = sys.argv[1:6]
    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(cafile=front_proxy_ca)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
