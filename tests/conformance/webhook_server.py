"""A small admission webhook server for the webhook tests (stdlib only, HTTPS).

    python webhook_server.py CERT KEY HOST PORT [RECORD_FILE]

Paths:
- /mutate: adds the label `mutated-by=webhook` and the annotation `seen-version` (the
  AdmissionReview version it was sent) to the object, with a warning;
- /mutate-again: adds `reinvoked=<n>` counting how often it saw the object, reinvoked or
  not (for reinvocationPolicy);
- /validate: refuses objects labelled `forbidden=true` with the message
  `objects labelled forbidden=true are not allowed here` (code 403, reason Forbidden) and
  a warning, the deletion of objects labelled `protected=true` (no code, no reason), and
  allows the rest;
- /mutate-invalid: sets the label `mutated-by` to a value that is not a valid label;
- /patch-fails: answers a patch that cannot be applied;
- /slow: answers after 5 seconds;
- /garbage: answers 200 with a body that is not JSON;
- /wrong-uid: answers allowed with another request's uid.
Each request received is appended, as one JSON line, to RECORD_FILE when given.
Prints `ready` once listening.
"""

from __future__ import annotations

import base64
import json
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RECORD = sys.argv[5] if len(sys.argv) > 5 else ""
_lock = threading.Lock()


def _patch_for(obj: dict[str, Any], labels: dict[str, str], annotations: dict[str, str]
               ) -> list[dict[str, Any]]:
    md = obj.get("metadata") or {}
    ops: list[dict[str, Any]] = []
    if not md.get("labels"):
        ops.append({"op": "add", "path": "/metadata/labels", "value": {}})
    for key, value in labels.items():
        ops.append({"op": "add", "path": "/metadata/labels/" + key.replace("/", "~1"),
                    "value": value})
    if annotations and not md.get("annotations"):
        ops.append({"op": "add", "path": "/metadata/annotations", "value": {}})
    for key, value in annotations.items():
        ops.append({"op": "add", "path": "/metadata/annotations/" + key.replace("/", "~1"),
                    "value": value})
    return ops


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        review = json.loads(self.rfile.read(length))
        request = review.get("request") or {}
        if RECORD:
            with _lock, open(RECORD, "a") as fh:
                fh.write(json.dumps({"path": self.path, "review": review}) + "\n")
        path = self.path.split("?", 1)[0]
        response: dict[str, Any] = {"uid": request.get("uid"), "allowed": True}
        obj = request.get("object") or {}
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if path == "/mutate":
            version = review.get("apiVersion", "").rpartition("/")[2]
            ops = _patch_for(obj, {"mutated-by": "webhook"}, {"seen-version": version})
            response["patch"] = base64.b64encode(json.dumps(ops).encode()).decode()
            response["patchType"] = "JSONPatch"
            response["warnings"] = ["mutated by the test webhook"]
        elif path == "/mutate-again":
            count = int(labels.get("reinvoked", "0")) + 1
            ops = _patch_for(obj, {"reinvoked": str(count)}, {})
            response["patch"] = base64.b64encode(json.dumps(ops).encode()).decode()
            response["patchType"] = "JSONPatch"
        elif path == "/validate":
            old_labels = ((request.get("oldObject") or {}).get("metadata") or {}).get(
                "labels") or {}
            if request.get("operation") == "DELETE" and old_labels.get("protected") == "true":
                response = {"uid": request.get("uid"), "allowed": False,
                            "status": {"message": "protected objects cannot be deleted"}}
            elif labels.get("forbidden") == "true":
                response = {"uid": request.get("uid"), "allowed": False,
                            "warnings": ["the validating webhook looked at this"],
                            "status": {"code": 403, "reason": "Forbidden",
                                       "message": "objects labelled forbidden=true are not "
                                                  "allowed here"}}
        elif path == "/mutate-invalid":
            ops = _patch_for(obj, {"mutated-by": "not a valid label value!"}, {})
            response["patch"] = base64.b64encode(json.dumps(ops).encode()).decode()
            response["patchType"] = "JSONPatch"
        elif path == "/patch-fails":
            ops = [{"op": "remove", "path": "/spec/no-such-field"}]
            response["patch"] = base64.b64encode(json.dumps(ops).encode()).decode()
            response["patchType"] = "JSONPatch"
        elif path == "/slow":
            time.sleep(5)
        elif path == "/garbage":
            self._send(b"this is not json")
            return
        elif path == "/wrong-uid":
            response["uid"] = "not-the-request-uid"
        body = json.dumps({"apiVersion": review.get("apiVersion"), "kind": "AdmissionReview",
                           "response": response}).encode()
        self._send(body)

    def _send(self, body: bytes) -> None:
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the API server gave up waiting (timeouts)


def main() -> None:
    cert, key, host, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
