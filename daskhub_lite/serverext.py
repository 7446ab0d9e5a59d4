"""The Jupyter server extension DaskHub's user servers load: their jupyter-server-proxy may
reach the Services of the user's own namespace, so a Dask dashboard opens at
`/user/<name>/proxy/<cluster>-scheduler.<namespace>:8787/status` behind the hub's login.

jupyter-server-proxy's `/proxy/<host>:<port>/` reaches only `localhost` unless
`ServerProxy.host_allowlist` says otherwise, and a host list cannot name Services that do
not exist yet; a callable can. This one admits Service names in the server's own namespace
(`svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local`) and localhost: another user's
Services, other namespaces and raw addresses stay out, so a link followed with a user's
cookie reaches only what that user's own pod could.

Extensions load in name order, so this one (daskhub_lite) sets the allowlist before
jupyter_server_proxy reads it. The chart enables it with
`--ServerApp.jpserver_extensions=daskhub_lite.serverext=True`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1"})
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def own_namespace() -> str | None:
    """The namespace this server runs in: the one the chart names for the user's Dask
    clusters, else the service account's, as in-cluster clients find it."""
    if os.environ.get("DASKHUB_LITE_NAMESPACE"):
        return os.environ["DASKHUB_LITE_NAMESPACE"]
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or None
    except OSError:
        return None


def service_host_allowlist(namespace: str | None) -> Callable[[Any, str], bool]:
    """`host_allowlist(handler, host)` admitting localhost and Services of `namespace`."""
    suffixes = () if namespace is None else (
        f".{namespace}", f".{namespace}.svc", f".{namespace}.svc.cluster.local")

    def allowed(handler: Any, host: str) -> bool:
        host = host.lower()
        if host in LOCAL_HOSTS:
            return True
        for suffix in suffixes:
            service = host[:-len(suffix)] if host.endswith(suffix) else ""
            if service and "." not in service:
                return True
        return False

    return allowed


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "daskhub_lite.serverext"}]


def _encoded_colon_route(serverapp: Any, allowed: Callable[[Any, str], bool]) -> None:
    """`/proxy/<host>%3A<port>/...` served as `/proxy/<host>:<port>/...`.

    The hub's proxy from PyPI (configurable-http-proxy 0.4) forwards a path re-quoted with
    `urllib.parse.quote`, which turns the `:` of `<host>:<port>` into `%3A`; Node's proxy
    forwards it as sent. jupyter-server-proxy's route needs a literal `:`, so without this
    every dashboard link through the hub answered 404."""
    from jupyter_server.utils import url_path_join
    from jupyter_server_proxy.handlers import RemoteProxyHandler

    base_url = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(".*", [(
        url_path_join(base_url, r"/proxy/([^/:@%]+)%3[Aa](\d+)(/.*|)"), RemoteProxyHandler,
        {"absolute_url": False, "host_allowlist": allowed})])


def _load_jupyter_server_extension(serverapp: Any) -> None:
    namespace = own_namespace()
    allowed = service_host_allowlist(namespace)
    serverapp.config.ServerProxy.host_allowlist = allowed
    try:
        _encoded_colon_route(serverapp, allowed)
    except ImportError:  # no jupyter-server-proxy in this environment: nothing to route
        pass
    serverapp.log.info("daskhub_lite: jupyter-server-proxy may reach Services in namespace %s",
                       namespace or "(none: no service account)")
