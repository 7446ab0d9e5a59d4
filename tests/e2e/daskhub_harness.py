"""Talking to a DaskHub as its users do: the hub's login form and REST API through the
Ingress, and a user server's Jupyter REST API and kernel websocket (through the proxy)."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from typing import Any

import requests


class Hub:
    """One hub at `base` (e.g. http://127.0.0.1:8080); `token` once logged in."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.token = ""

    def login(self, username: str, password: str) -> requests.Response:
        """The login form, as a browser posts it; the session keeps the cookies."""
        session = requests.Session()
        page = session.get(f"{self.base}/hub/login", timeout=30)
        page.raise_for_status()
        xsrf = re.search(r'name="_xsrf"\s+value="([^"]+)"', page.text)
        data = {"username": username, "password": password}
        if xsrf:
            data["_xsrf"] = xsrf.group(1)
        resp = session.post(f"{self.base}/hub/login?next=", data=data, allow_redirects=False,
                            timeout=30)
        resp.session = session  # type: ignore[attr-defined]
        return resp

    def login_token(self, username: str, password: str) -> str:
        """Log in through the form, then ask the API for a token with that session."""
        resp = self.login(username, password)
        assert resp.status_code == 302, (resp.status_code, resp.text[:500])
        session: requests.Session = resp.session  # type: ignore[attr-defined]
        xsrf = session.cookies.get("_xsrf", "")
        made = session.post(f"{self.base}/hub/api/users/{username}/tokens",
                            json={"note": "e2e", "expires_in": 3600},
                            headers={"X-XSRFToken": xsrf, "Referer": f"{self.base}/hub/"},
                            timeout=30)
        assert made.status_code in (200, 201), (made.status_code, made.text)
        self.token = made.json()["token"]
        return self.token

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"token {self.token}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.base}/hub/api{path}", headers=headers,
                                timeout=kwargs.pop("timeout", 30), **kwargs)

    def user(self, name: str) -> dict[str, Any]:
        resp = self.api("GET", f"/users/{name}")
        resp.raise_for_status()
        return dict(resp.json())

    def ensure_user(self, name: str) -> None:
        resp = self.api("POST", f"/users/{name}")
        assert resp.status_code in (201, 409), (resp.status_code, resp.text)

    def spawn(self, name: str, timeout: float = 180, **options: Any) -> dict[str, Any]:
        """Start `name`'s server and wait until the hub reports it ready."""
        resp = self.api("POST", f"/users/{name}/server", json=options or None)
        assert resp.status_code in (201, 202, 400), (resp.status_code, resp.text)
        return self.wait_ready(name, timeout)

    def wait_ready(self, name: str, timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = self.user(name).get("servers", {}).get("")
            if server and server.get("ready"):
                return dict(server)
            if not server or not server.get("pending"):
                raise AssertionError(f"{name}'s server stopped starting: {server}")
            time.sleep(1)
        raise AssertionError(f"{name}'s server not ready in {timeout}s")

    def progress(self, name: str, timeout: float = 180) -> list[dict[str, Any]]:
        """The spawn's progress events (an event stream) until it ends."""
        resp = self.api("GET", f"/users/{name}/server/progress", stream=True, timeout=timeout)
        events = []
        for line in resp.iter_lines(decode_unicode=True):
            if line and line.startswith("data:"):
                event = json.loads(line[5:])
                events.append(event)
                if event.get("ready") or event.get("failed"):
                    break
        resp.close()
        return events

    def stop(self, name: str, timeout: float = 120) -> None:
        resp = self.api("DELETE", f"/users/{name}/server")
        assert resp.status_code in (202, 204), (resp.status_code, resp.text)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.user(name).get("servers"):
                return
            time.sleep(1)
        raise AssertionError(f"{name}'s server did not stop in {timeout}s")


class Kernel:
    """A kernel in a user's server, driven over the Jupyter kernel websocket protocol."""

    def __init__(self, hub: Hub, user: str) -> None:
        self.hub = hub
        self.prefix = f"{hub.base}/user/{user}"
        self.headers = {"Authorization": f"token {hub.token}"}
        resp = requests.post(f"{self.prefix}/api/kernels", headers=self.headers, json={},
                             timeout=60)
        assert resp.status_code == 201, (resp.status_code, resp.text[:500])
        self.id = resp.json()["id"]

    def run(self, code: str, timeout: float = 120) -> str:
        """Execute `code`; its stdout, or AssertionError with the traceback."""
        return asyncio.run(self._run(code, timeout))

    async def _run(self, code: str, timeout: float) -> str:
        import aiohttp

        url = self.prefix.replace("http", "ws", 1) + f"/api/kernels/{self.id}/channels"
        msg_id = uuid.uuid4().hex
        request = {"header": {"msg_id": msg_id, "username": "e2e", "session": uuid.uuid4().hex,
                              "msg_type": "execute_request", "version": "5.3"},
                   "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                   "content": {"code": code, "silent": False, "store_history": False,
                               "user_expressions": {}, "allow_stdin": False}}
        out: list[str] = []
        error = None
        async with aiohttp.ClientSession(headers=self.headers) as session:
            async with session.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=10),
                                          max_msg_size=0) as ws:
                await ws.send_str(json.dumps(request))
                async with asyncio.timeout(timeout):
                    async for frame in ws:
                        if frame.type != aiohttp.WSMsgType.TEXT:
                            continue
                        msg = json.loads(frame.data)
                        if msg.get("parent_header", {}).get("msg_id") != msg_id:
                            continue
                        kind = msg["header"]["msg_type"]
                        content = msg["content"]
                        if kind == "stream":
                            out.append(content["text"])
                        elif kind in ("execute_result", "display_data"):
                            out.append(content["data"].get("text/plain", "") + "\n")
                        elif kind == "error":
                            error = "\n".join(content["traceback"])
                        elif kind == "status" and content["execution_state"] == "idle":
                            break
        if error is not None:
            raise AssertionError(re.sub(r"\x1b\[[0-9;]*m", "", error))
        return "".join(out)

    def shutdown(self) -> None:
        requests.delete(f"{self.prefix}/api/kernels/{self.id}", headers=self.headers,
                        timeout=30)
