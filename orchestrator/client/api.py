"""One async client for the Kubernetes API, used by controllers, the scheduler and nodes.

It talks HTTP(S) to any Kubernetes API server — the embedded one or a real cluster — so
every component that uses it could run out of process (the scheduler does, in standalone
mode). Errors come back as the `orchestrator.api.errors` classes, rebuilt from the server's
`Status` body, so callers write `except errors.NotFound`, `except errors.Conflict`.
"""

from __future__ import annotations

import base64
import os
import ssl
from dataclasses import dataclass
from typing import Any, AsyncIterator, Mapping

import aiohttp
import yaml

from orchestrator.api import errors, jsonio
from orchestrator.api.kinds import BUILTIN_TYPES, ResourceType

_ERRORS_BY_REASON: dict[str, type[errors.APIError]] = {
    cls.reason: cls
    for cls in (
        errors.BadRequest, errors.Unauthorized, errors.Forbidden, errors.NotFound,
        errors.MethodNotAllowed, errors.NotAcceptable, errors.AlreadyExists, errors.Conflict,
        errors.Gone, errors.RequestEntityTooLarge, errors.UnsupportedMediaType,
        errors.Invalid, errors.TooManyRequests, errors.InternalError,
        errors.ServiceUnavailable,
    )
}
_ERRORS_BY_CODE: dict[int, type[errors.APIError]] = {
    400: errors.BadRequest, 401: errors.Unauthorized, 403: errors.Forbidden,
    404: errors.NotFound, 405: errors.MethodNotAllowed, 409: errors.Conflict,
    410: errors.Gone, 413: errors.RequestEntityTooLarge, 415: errors.UnsupportedMediaType,
    422: errors.Invalid, 429: errors.TooManyRequests, 503: errors.ServiceUnavailable,
}

PATCH_CONTENT_TYPES = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}


def error_from_status(code: int, body: Any) -> errors.APIError:
    """The typed error for a failed response, from its Status body when there is one."""
    if isinstance(body, dict) and body.get("kind") == "Status":
        cls = _ERRORS_BY_REASON.get(str(body.get("reason")))
        if cls is None:
            cls = _ERRORS_BY_CODE.get(code, errors.InternalError)
        details = body.get("details") or {}
        causes = [errors.Cause(c.get("reason", ""), c.get("message", ""), c.get("field", ""))
                  for c in details.get("causes") or [] if isinstance(c, dict)]
        err = cls(str(body.get("message", "")), name=details.get("name", ""),
                  group=details.get("group", ""), kind=details.get("kind", ""), causes=causes)
        err.code = code
        return err
    cls = _ERRORS_BY_CODE.get(code, errors.InternalError)
    err = cls(f"HTTP {code}: {str(body)[:200]}")
    err.code = code
    return err


@dataclass(frozen=True)
class Credentials:
    server: str
    token: str | None = None
    ca_data: bytes | None = None
    insecure: bool = False
    namespace: str = "default"

    @classmethod
    def from_kubeconfig(cls, path: str | os.PathLike[str], context: str | None = None
                        ) -> "Credentials":
        config = yaml.safe_load(open(path)) or {}
        ctx_name = context or config.get("current-context")
        ctx: dict[str, Any] = next((c["context"] for c in config.get("contexts") or []
                    if c.get("name") == ctx_name), {})
        cluster: dict[str, Any] = next((c["cluster"] for c in config.get("clusters") or []
                        if c.get("name") == ctx.get("cluster")), {})
        user: dict[str, Any] = next((u["user"] for u in config.get("users") or []
                     if u.get("name") == ctx.get("user")), {}) or {}
        ca: bytes | None = None
        if cluster.get("certificate-authority-data"):
            ca = base64.b64decode(cluster["certificate-authority-data"])
        elif cluster.get("certificate-authority"):
            ca = open(cluster["certificate-authority"], "rb").read()
        token = user.get("token")
        if not token and user.get("tokenFile"):
            token = open(user["tokenFile"]).read().strip()
        return cls(server=str(cluster.get("server", "")).rstrip("/"), token=token, ca_data=ca,
                   insecure=bool(cluster.get("insecure-skip-tls-verify")),
                   namespace=ctx.get("namespace") or "default")

    @classmethod
    def in_cluster(cls) -> "Credentials":
        """A pod's service-account credentials, as every in-cluster client reads them."""
        base = "/var/run/secrets/kubernetes.io/serviceaccount"
        host = os.environ["KUBERNETES_SERVICE_HOST"]
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        return cls(server=f"https://{host}:{port}", token=open(f"{base}/token").read().strip(),
                   ca_data=open(f"{base}/ca.crt", "rb").read(),
                   namespace=open(f"{base}/namespace").read().strip())

    def ssl_context(self) -> ssl.SSLContext | bool:
        if not self.server.startswith("https"):
            return False
        ctx = ssl.create_default_context()
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca_data:
            ctx.load_verify_locations(cadata=self.ca_data.decode())
        return ctx


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED | BOOKMARK
    object: dict[str, Any]


class Client:
    """Verbs over resources; `rt` is a ResourceType (see `resource()` to look one up)."""

    def __init__(self, credentials: Credentials, *, user_agent: str = "daskhub-lite",
                 max_connections: int = 256) -> None:
        self.credentials = credentials
        self.user_agent = user_agent
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._types = {(rt.api_version, rt.kind): rt for rt in BUILTIN_TYPES}
        # Informers shared by the components using this client (see Informer.shared).
        self.shared_informers: dict[tuple[Any, ...], Any] = {}

    @classmethod
    def from_kubeconfig(cls, path: str | os.PathLike[str], **kwargs: Any) -> "Client":
        return cls(Credentials.from_kubeconfig(path), **kwargs)

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"User-Agent": self.user_agent, "Accept": "application/json"}
            if self.credentials.token:
                headers["Authorization"] = f"Bearer {self.credentials.token}"
            connector = aiohttp.TCPConnector(ssl=self.credentials.ssl_context(),
                                             limit=self._max_connections)
            self._session = aiohttp.ClientSession(
                self.credentials.server, headers=headers, connector=connector,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            )
        return self._session

    # -- addressing ----------------------------------------------------------------------

    def resource(self, api_version: str, kind: str) -> ResourceType:
        rt = self._types.get((api_version, kind))
        if rt is None:
            raise errors.NotFound(f"no resource type known for {api_version} {kind}; "
                                  "register it with client.register()")
        return rt

    def register(self, rt: ResourceType) -> None:
        """Make a custom resource type addressable by (apiVersion, kind)."""
        self._types[(rt.api_version, rt.kind)] = rt

    @staticmethod
    def path(rt: ResourceType, namespace: str | None = None, name: str | None = None,
             subresource: str = "") -> str:
        base = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
        if rt.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{rt.plural}"
        if name:
            base += f"/{name}"
            if subresource:
                base += f"/{subresource}"
        return base

    # -- requests ------------------------------------------------------------------------

    async def request(self, method: str, path: str, *, body: Any = None,
                      params: Mapping[str, str] | None = None,
                      content_type: str = "application/json") -> Any:
        data = None
        headers = {}
        if body is not None:
            raw = body if isinstance(body, (bytes, str)) else jsonio.dumps(body)
            # A ready payload: aiohttp's own lookup of a payload type for plain bytes runs
            # isinstance against abstract classes, a tenth of a busy client's time.
            data = aiohttp.BytesPayload(raw.encode() if isinstance(raw, str) else raw,
                                        content_type=content_type)
            headers["Content-Type"] = content_type
        async with self._http().request(method, path, data=data, params=params,
                                        headers=headers) as resp:
            raw = await resp.read()
            parsed: Any = None
            if raw:
                try:
                    parsed = jsonio.loads(raw)
                except ValueError:
                    parsed = raw.decode(errors="replace")
            if resp.status >= 400:
                raise error_from_status(resp.status, parsed)
            return parsed

    async def get(self, rt: ResourceType, name: str, namespace: str | None = None,
                  subresource: str = "") -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "GET", self.path(rt, namespace, name, subresource))
        return result

    async def list(self, rt: ResourceType, namespace: str | None = None, *,
                   label_selector: str = "", field_selector: str = "",
                   ) -> tuple[list[dict[str, Any]], str]:
        """All matching objects (following `continue`) and the list's resourceVersion."""
        params: dict[str, str] = {"limit": "500"}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        items: list[dict[str, Any]] = []
        while True:
            page = await self.request("GET", self.path(rt, namespace), params=params)
            items.extend(page.get("items") or [])
            meta = page.get("metadata") or {}
            if not meta.get("continue"):
                return items, str(meta.get("resourceVersion", ""))
            params["continue"] = meta["continue"]

    async def create(self, rt: ResourceType, obj: dict[str, Any],
                     namespace: str | None = None, *, field_manager: str = "") -> dict[str, Any]:
        ns = namespace or (obj.get("metadata") or {}).get("namespace")
        params = {"fieldManager": field_manager} if field_manager else None
        result: dict[str, Any] = await self.request(
            "POST", self.path(rt, ns), body=obj, params=params)
        return result

    async def replace(self, rt: ResourceType, obj: dict[str, Any], subresource: str = "",
                      *, field_manager: str = "") -> dict[str, Any]:
        md = obj.get("metadata") or {}
        params = {"fieldManager": field_manager} if field_manager else None
        result: dict[str, Any] = await self.request(
            "PUT", self.path(rt, md.get("namespace"), md["name"], subresource), body=obj,
            params=params)
        return result

    async def patch(self, rt: ResourceType, name: str, patch: Any,
                    namespace: str | None = None, *, patch_type: str = "merge",
                    subresource: str = "", field_manager: str = "",
                    force: bool = False) -> dict[str, Any]:
        params: dict[str, str] = {}
        if field_manager:
            params["fieldManager"] = field_manager
        if force:
            params["force"] = "true"
        result: dict[str, Any] = await self.request(
            "PATCH", self.path(rt, namespace, name, subresource), body=patch,
            params=params or None, content_type=PATCH_CONTENT_TYPES[patch_type])
        return result

    async def delete(self, rt: ResourceType, name: str, namespace: str | None = None, *,
                     propagation: str | None = None, grace_period: int | None = None,
                     uid: str | None = None) -> Any:
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation:
            body["propagationPolicy"] = propagation
        if grace_period is not None:
            body["gracePeriodSeconds"] = grace_period
        if uid:
            body["preconditions"] = {"uid": uid}
        return await self.request("DELETE", self.path(rt, namespace, name), body=body)

    async def bind(self, namespace: str, pod: str, node: str,
                   annotations: Mapping[str, str] | None = None) -> None:
        body: dict[str, Any] = {
            "apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": pod, "namespace": namespace,
                         "annotations": dict(annotations or {})},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        await self.request("POST", f"/api/v1/namespaces/{namespace}/pods/{pod}/binding",
                           body=body)

    async def watch(self, rt: ResourceType, namespace: str | None = None, *,
                    resource_version: str = "", label_selector: str = "",
                    field_selector: str = "", timeout: int | None = None,
                    bookmarks: bool = True) -> AsyncIterator[WatchEvent]:
        """Watch events until the server ends the stream; an expired version raises Gone."""
        params = {"watch": "1", "allowWatchBookmarks": "true" if bookmarks else "false"}
        if resource_version:
            params["resourceVersion"] = resource_version
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        if timeout:
            params["timeoutSeconds"] = str(timeout)
        async with self._http().get(self.path(rt, namespace), params=params) as resp:
            if resp.status >= 400:
                raise error_from_status(resp.status, await _json_or_text(resp))
            # Whole chunks split here: a busy server sends many events per chunk, and
            # aiohttp's line-by-line reader costs more than decoding them.
            pending = bytearray()
            async for chunk in resp.content.iter_any():
                pending += chunk
                if b"\n" not in chunk:
                    continue  # a long event arriving piece by piece
                lines = pending.split(b"\n")
                pending = lines.pop()
                for line in lines:
                    if not line.strip():
                        continue
                    event = jsonio.loads(line)
                    if event.get("type") == "ERROR":
                        status = event.get("object") or {}
                        raise error_from_status(int(status.get("code", 500)), status)
                    yield WatchEvent(event["type"], event["object"])


async def _json_or_text(resp: aiohttp.ClientResponse) -> Any:
    raw = await resp.read()
    try:
        return jsonio.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")

