"""`pods/log`, `pods/exec` and `pods/attach`, proxied to the kubelet endpoint of the pod's node.

The node is found in the store and its kubelet port read from
`status.daemonEndpoints.kubeletEndpoint.Port` (the server never imports the runtime). The
kubelet-side protocol is described in `orchestrator/runtime/kubelet.py`; this module turns it
into what clients speak: a plain text stream for logs; for exec and attach, the session is
opened at the kubelet first (its refusal becomes the client's failed upgrade, as kube's
"unable to upgrade connection: container not found"), then relayed in the client's protocol
(remotecommand.py: WebSocket channels; remotecommand_spdy.py: SPDY/3.1).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, AsyncIterator

import aiohttp
from aiohttp import web

from orchestrator.api import errors
from orchestrator.server import remotecommand, remotecommand_spdy

if TYPE_CHECKING:
    from orchestrator.server.objects import ObjectService
    from orchestrator.server.resources import Target

KUBELET_PROTOCOL = "v5.channel.k8s.io"  # what the kubelet's sessions speak (runtime/streaming)
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

    # -- exec and attach -----------------------------------------------------------------

    async def exec(self, request: web.Request, t: "Target") -> web.StreamResponse:
        return await self._stream(request, t, "exec")

    async def attach(self, request: web.Request, t: "Target") -> web.StreamResponse:
        return await self._stream(request, t, "attach")

    async def _stream(self, request: web.Request, t: "Target", kind: str
                      ) -> web.StreamResponse:
        assert t.name is not None
        if request.method not in ("GET", "POST"):
            raise errors.MethodNotAllowed(f"the server does not allow this method on the "
                                          f"requested resource ({request.method} pods/{kind})")
        pod = self.service.get(t.rt, t.namespace or "", t.name)
        container = _container_of(pod, request.query.get("container", ""))
        options = remotecommand.Options.from_query(request.query)
        params = options.kubelet_query()
        if kind == "exec":
            command = request.query.getall("command", [])
            if not command:
                raise errors.BadRequest("you must specify at least 1 command")
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                raise errors.BadRequest("cannot exec into a container in a completed pod; "
                                        f"current phase is {pod['status']['phase']}")
            params += [("command", c) for c in command]
        remotecommand.check_upgrade(request, f"pods/{kind}")
        if not (pod.get("spec") or {}).get("nodeName"):
            raise errors.BadRequest(f"pod {t.name} does not have a host assigned")
        url = f"{self._base_url(pod)}/{kind}/{t.namespace}/{t.name}/{container}"
        session = self._session()
        try:
            upstream = await self._open(session, url, params)
            try:
                if remotecommand.is_spdy(request):
                    return await remotecommand_spdy.serve(request, upstream, options)
                return await remotecommand.serve_websocket(request, upstream, options)
            finally:
                await upstream.close()
        finally:
            await session.close()

    @staticmethod
    async def _open(session: aiohttp.ClientSession, url: str, params: list[tuple[str, str]]
                    ) -> aiohttp.ClientWebSocketResponse:
        """The kubelet's session, started; its refusal as the APIError to answer with."""
        try:
            upstream = await session.ws_connect(url, params=params,
                                                protocols=(KUBELET_PROTOCOL,),
                                                max_msg_size=0, autoping=True)
        except aiohttp.WSServerHandshakeError as exc:
            raise _ERRORS.get(exc.status, errors.InternalError)(
                f"the kubelet refused the session (HTTP {exc.status})") from exc
        except aiohttp.ClientError as exc:
            raise errors.ServiceUnavailable(f"cannot reach the kubelet: {exc}") from exc
        first = await upstream.receive()
        if first.type == aiohttp.WSMsgType.BINARY and first.data[:1] == bytes(
                [remotecommand.STDOUT]):
            return upstream
        await upstream.close()
        status: dict[str, Any] = {}
        if first.type == aiohttp.WSMsgType.BINARY and first.data[:1] == bytes(
                [remotecommand.ERROR]):
            try:
                status = json.loads(first.data[1:])
            except ValueError:
                pass
        code = int(status.get("code") or 500)
        raise _ERRORS.get(code, errors.InternalError)(
            str(status.get("message") or "the kubelet ended the session before it started"))


def _container_of(pod: dict[str, Any], wanted: str) -> str:
    """The container a session is for, as kube-apiserver's streamLocation picks it."""
    spec = pod.get("spec") or {}
    name = pod["metadata"]["name"]
    every = [str(c.get("name")) for key in ("containers", "initContainers",
                                            "ephemeralContainers")
             for c in spec.get(key) or []]
    if wanted:
        if wanted not in every:
            raise errors.BadRequest(f"container {wanted} is not valid for pod {name}")
        return wanted
    containers = [str(c.get("name")) for c in spec.get("containers") or []]
    if len(containers) == 1:
        return containers[0]
    if not containers:
        raise errors.BadRequest(f"a container name must be specified for pod {name}")
    message = (f"a container name must be specified for pod {name}, choose one of: "
               f"[{' '.join(containers)}]")
    inits = [str(c.get("name")) for c in spec.get("initContainers") or []]
    if inits:
        message += f" or one of the init containers: [{' '.join(inits)}]"
    raise errors.BadRequest(message)


def _default_container(pod: dict[str, Any]) -> str:
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    default = annotations.get("kubectl.kubernetes.io/default-container")
    if default:
        return str(default)
    containers = (pod.get("spec") or {}).get("containers") or []
    return str(containers[0].get("name", "")) if containers else ""


def install(app: web.Application, service: "ObjectService", token: str | None) -> None:
    """Wire logs, exec and attach into the server's subresource dispatch."""
    proxy = KubeletProxy(service, token)
    app["log_source"] = proxy.log_source
    handlers = app.setdefault("subresource_handlers", {})
    handlers[("/pods", "exec")] = proxy.exec
    handlers[("/pods", "attach")] = proxy.attach
