"""A small Kubernetes REST client for the CLI's short-lived commands and the jobs API.

The `kubernetes` client takes about a second to import and kr8s a quarter of one, longer
than most commands take to run. This package speaks the same REST API through the standard
library: kubeconfig loading and merging as client-go does it, TLS with the kubeconfig's CA or
client certificates, bearer tokens, token files, basic auth and exec credential plugins.
Kubeconfigs that need more (auth providers, impersonation, proxies) get the `kubernetes`
client behind the same `Transport` interface, so callers never choose.

    api = kubehttp.connect(kubeconfig, context)
    jobs = api.get(kubehttp.resource_path("batch/v1", "jobs", api.namespace))["items"]
"""

from __future__ import annotations

import logging

from daskhub_lite.kubehttp import kubeconfig
from daskhub_lite.kubehttp.errors import APIStatusError, KubeconfigError, Unsupported
from daskhub_lite.kubehttp.transport import HTTPTransport, Transport, resource_path

__all__ = ["APIStatusError", "KubeconfigError", "Transport", "connect", "in_cluster",
           "resource_path"]

log = logging.getLogger(__name__)


def connect(path: str | None = None, context: str | None = None) -> Transport:
    """The API of `context` (default: the current one) in kubeconfig `path` (default:
    `$KUBECONFIG`, else `~/.kube/config`)."""
    config = kubeconfig.load(path)
    try:
        return HTTPTransport(config.endpoint(context))
    except Unsupported as why:
        log.debug("kubeconfig %s: %s; using the kubernetes client", path, why)
        from daskhub_lite.kubehttp.fullclient import ClientTransport

        name = context or config.current_context or ""
        namespace = (config.contexts.get(name) or {}).get("namespace") or "default"
        return ClientTransport(path, context, str(namespace))


def in_cluster() -> Transport:
    """The API as this pod's service account."""
    endpoint = kubeconfig.in_cluster()
    try:
        return HTTPTransport(endpoint)
    except Unsupported as why:
        log.debug("in-cluster: %s; using the kubernetes client", why)
        from daskhub_lite.kubehttp.fullclient import ClientTransport

        return ClientTransport(None, None, endpoint.namespace, in_cluster=True)
