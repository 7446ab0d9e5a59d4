"""`pods/log` and `pods/exec`, proxied to the kubelet endpoint of the pod's node.

The node is found in the store and its kubelet port read from
`status.daemonEndpoints.kubeletEndpoint.Port` (the server never imports the runtime). The
kubelet-side protocol is described in `orchestrator/runtime/kubelet.py`; this module turns it
into what clients speak: a plain text stream for logs, and for exec the WebSocket channel
protocol kubectl uses (`v5.channel.k8s.io` down to `channel.k8s.io`; one byte of channel, then
data; channel 3 carries the final Status).
"""

from __future__ import annotations

import json
import struct
from typing import TYPE_CHECKING, Any, AsyncIterator

import aiohttp
from aiohttp import web

from orchestrator.api import errors

if TYPE_CHECKING:
    from orchestrator.server.objects import ObjectService
    from orchestrator.server.resources import Target

EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io",
                  "v2.channel.k8s.io", "channel.k8s.io")
_STATUS_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
_ERRORS = {400: errors.BadRequest, 401: errors.Unauthorized, 403: errors.Forbidden,
           404: errors.NotFound}


class KubeletProxy:
    def __init__(self, service: "ObjectService", token: str | None) -> None:
        self.service = service
        self.token = token or ""

    def _base_url(self, pod: dict[str, Any]) -> str:
        node_name = (pod.get("spec") or {}).get("nodeName")
        node = self.service.store.get("/nodes", "", node_name) if node_name else None
        port = (((node or {}).get("status") or {}).get("daemonEndpoints") or {}).get(
            "kubeletEndpoint", {}).get("Port")
        if not port:
            raise errors.BadRequest(f'node "{node_name}" has no kubelet endpoint to serve '
                                    f'pod "{pod["metadata"]["name"]}"')
        return f"http://127.0.0.1:{port}"

    def _session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5))

    @staticmethod
    async def _raise_for(resp: aiohttp.ClientResponse) -> None:
        if resp.status < 400:
            return
        try:
            body = json.loads(await resp.read())
            message = str(body.get("message", ""))
        except ValueError:
            message = f"kubelet answered HTTP {resp.status}"
        raise _ERRORS.get(resp.status, errors.InternalError)(message)

    # -- logs ----------------------------------------------------------------------------

    async def log_source(self, pod: dict[str, Any], options: dict[str, str]
                         ) -> AsyncIterator[bytes]:
        """For `app["log_source"]`: the container's log as a stream of chunks."""
        md = pod["metadata"]
        container = options.get("container") or _default_container(pod)
        params = {k: v for k, v in options.items() if k in (
            "follow", "tailLines", "sinceSeconds", "sinceTime", "timestamps", "previous",
            "limitBytes")}
        url = f"{self._base_url(pod)}/containerLogs/{md.get('namespace')}/{md['name']}/" \
              f"{container}"
        session = self._session()
        try:
            resp = await session.get(url, params=params)
            await self._raise_for(resp)
        except aiohttp.ClientError as exc:
            await session.close()
            raise errors.ServiceUnavailable(f"cannot reach the kubelet: {exc}") from exc
        except BaseException:
            await session.close()
            raise

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in resp.content.iter_any():
                    yield chunk
            finally:
                resp.release()
                await session.close()

        return chunks()

    # -- exec ----------------------------------------------------------------------------

    async def exec(self, request: web.Request, t: "Target") -> web.StreamResponse:
        assert t.name is not None
        if request.method not in ("GET", "POST"):
            raise errors.MethodNotAllowed(f"the server does not allow this method on the "
                                          f"requested resource ({request.method} pods/exec)")
        pod = self.service.get(t.rt, t.namespace or "", t.name)
        containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        container = request.query.get("container") or _default_container(pod)
        if container not in containers and container not in [
                c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or []]:
            raise errors.BadRequest(f"container {container} is not valid for pod {t.name}")
        command = request.query.getall("command", [])
        if not command:
            raise errors.BadRequest("you must specify at least 1 command")
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            raise errors.BadRequest("cannot exec into a container in a completed pod; current "
                                    f"phase is {pod['status']['phase']}")
        if request.headers.get("Upgrade", "").lower() != "websocket":
            raise errors.BadRequest("exec needs a WebSocket connection (Upgrade: websocket, "
                                    f"subprotocol one of {', '.join(EXEC_PROTOCOLS)})")
        url = f"{self._base_url(pod)}/exec/{t.namespace}/{t.name}/{container}"
        session = self._session()
        try:
            resp = await session.post(url, params=[("command", c) for c in command])
            await self._raise_for(resp)
        except aiohttp.ClientError as exc:
            await session.close()
            raise errors.ServiceUnavailable(f"cannot reach the kubelet: {exc}") from exc
        except BaseException:
            await session.close()
            raise
        ws = web.WebSocketResponse(protocols=EXEC_PROTOCOLS, autoping=True)
        try:
            await ws.prepare(request)
            await _relay(resp, ws, ws.ws_protocol or "channel.k8s.io")
        finally:
            resp.release()
            await session.close()
            await ws.close()
        return ws


async def _relay(resp: aiohttp.ClientResponse, ws: web.WebSocketResponse,
                 protocol: str) -> None:
    buffer = b""
    async for chunk in resp.content.iter_any():
        buffer += chunk
        while len(buffer) >= 5:
            channel, length = struct.unpack(">BI", buffer[:5])
            if len(buffer) < 5 + length:
                break
            data, buffer = buffer[5:5 + length], buffer[5 + length:]
            if channel == 3:
                await ws.send_bytes(bytes([3]) + _exit_status(protocol, int(data or b"0")))
            else:
                await ws.send_bytes(bytes([channel]) + data)


def _exit_status(protocol: str, code: int) -> bytes:
    if protocol not in _STATUS_PROTOCOLS:
        # Older protocols carry only an error message, and only on failure.
        return b"" if code == 0 else f"command terminated with non-zero exit code: " \
                                     f"{code}".encode()
    if code == 0:
        status: dict[str, Any] = {"metadata": {}, "status": "Success"}
    else:
        status = {"metadata": {}, "status": "Failure",
                  "message": f"command terminated with non-zero exit code: error executing "
                             f"command, exit status {code}",
                  "reason": "NonZeroExitCode",
                  "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
    return json.dumps(status).encode()


def _default_container(pod: dict[str, Any]) -> str:
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    default = annotations.get("kubectl.kubernetes.io/default-container")
    if default:
        return str(default)
    containers = (pod.get("spec") or {}).get("containers") or []
    return str(containers[0].get("name", "")) if containers else ""


def install(app: web.Application, service: "ObjectService", token: str | None) -> None:
    """Wire logs and exec into the server's subresource dispatch."""
    proxy = KubeletProxy(service, token)
    app["log_source"] = proxy.log_source
    app.setdefault("subresource_handlers", {})[("/pods", "exec")] = proxy.exec
