"""A JupyterHub user, for the demo: log in through the hub's login form, get an API token,
start a server, and run code in a kernel of that server (the Jupyter kernel websocket
protocol, through the hub's proxy) — what a person does in a browser, without one."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from typing import Any

import requests


class HubUser:
    def __init__(self, base: str, name: str) -> None:
        self.base = base.rstrip("/")
        self.name = name
        self.token = ""

    def login(self, password: str) -> None:
        """The login form (with its XSRF token), then a token from the API for that session."""
        session = requests.Session()
        page = session.get(f"{self.base}/hub/login", timeout=30)
        page.raise_for_status()
        form = {"username": self.name, "password": password}
        xsrf = re.search(r'name="_xsrf"\s+value="([^"]+)"', page.text)
        if xsrf:
            form["_xsrf"] = xsrf.group(1)
        resp = session.post(f"{self.base}/hub/login?next=", data=form, allow_redirects=False,
                            timeout=30)
        if resp.status_code != 302:
            raise RuntimeError(f"login as {self.name} refused (HTTP {resp.status_code})")
        made = session.post(f"{self.base}/hub/api/users/{self.name}/tokens",
                            json={"note": "daskhub-lite demo", "expires_in": 3600},
                            headers={"X-XSRFToken": session.cookies.get("_xsrf") or "",
                                     "Referer": f"{self.base}/hub/"}, timeout=30)
        if made.status_code not in (200, 201):
            raise RuntimeError(f"no API token for {self.name}: HTTP {made.status_code}")
        self.token = made.json()["token"]

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, f"{self.base}/hub/api{path}",
                                headers={"Authorization": f"token {self.token}"},
                                timeout=kwargs.pop("timeout", 30), **kwargs)

    def server(self) -> dict[str, Any] | None:
        resp = self.api("GET", f"/users/{self.name}")
        resp.raise_for_status()
        server = (resp.json().get("servers") or {}).get("")
        return dict(server) if server else None

    def spawn(self, timeout: float = 240) -> dict[str, Any]:
        resp = self.api("POST", f"/users/{self.name}/server")
        if resp.status_code not in (201, 202, 400):  # 400: already running
            raise RuntimeError(f"spawn refused: HTTP {resp.status_code} {resp.text[:200]}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = self.server()
            if server and server.get("ready"):
                return server
            if not server or not server.get("pending"):
                raise RuntimeError(f"{self.name}'s server failed to start: {self._progress()}")
            time.sleep(1)
        raise RuntimeError(f"{self.name}'s server was not ready within {timeout:.0f}s")

    def _progress(self) -> str:
        try:
            resp = self.api("GET", f"/users/{self.name}/server/progress", stream=True,
                            timeout=10)
            lines = [json.loads(text[5:]).get("message", "") for text in
                     map(str, resp.iter_lines(decode_unicode=True)) if text.startswith("data:")]
            return lines[-1] if lines else "no progress reported"
        except (requests.RequestException, ValueError) as exc:
            return str(exc)

    def stop(self, timeout: float = 120) -> None:
        self.api("DELETE", f"/users/{self.name}/server")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.server():
            time.sleep(1)

    def run(self, code: str, timeout: float = 300) -> str:
        """Run `code` in a new kernel of the user's server; its output, or RuntimeError with
        the traceback. The kernel is shut down afterwards."""
        prefix = f"{self.base}/user/{self.name}"
        headers = {"Authorization": f"token {self.token}"}
        resp = requests.post(f"{prefix}/api/kernels", headers=headers, json={}, timeout=60)
        if resp.status_code != 201:
            raise RuntimeError(f"no kernel: HTTP {resp.status_code} {resp.text[:200]}")
        kernel = resp.json()["id"]
        try:
            return asyncio.run(_execute(prefix, kernel, headers, code, timeout))
        finally:
            requests.delete(f"{prefix}/api/kernels/{kernel}", headers=headers, timeout=30)


async def _execute(prefix: str, kernel: str, headers: dict[str, str], code: str,
                   timeout: float) -> str:
    import aiohttp

    url = prefix.replace("http", "ws", 1) + f"/api/kernels/{kernel}/channels"
    msg_id = uuid.uuid4().hex
    request = {"header": {"msg_id": msg_id, "username": "demo", "session": uuid.uuid4().hex,
                          "msg_type": "execute_request", "version": "5.3"},
               "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
               "content": {"code": code, "silent": False, "store_history": False,
                           "user_expressions": {}, "allow_stdin": False}}
    output: list[str] = []
    error: str | None = None
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.ws_connect(url, max_msg_size=0) as ws:
            await ws.send_str(json.dumps(request))
            async with asyncio.timeout(timeout):
                async for frame in ws:
                    if frame.type != aiohttp.WSMsgType.TEXT:
                        continue
                    msg = json.loads(frame.data)
                    if msg.get("parent_header", {}).get("msg_id") != msg_id:
                        continue
                    kind, content = msg["header"]["msg_type"], msg["content"]
                    if kind == "stream":
                        output.append(content["text"])
                    elif kind == "error":
                        error = "\n".join(content["traceback"])
                    elif kind == "status" and content["execution_state"] == "idle":
                        break
    if error is not None:
        raise RuntimeError(re.sub(r"\x1b\[[0-9;]*m", "", error).strip().splitlines()[-1])
    return "".join(output)
