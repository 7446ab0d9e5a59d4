"""Where the API server dials a Service it calls itself (admission webhooks, aggregated
APIs), as kube-apiserver's ClusterIP service resolver does: the Service's cluster IP and
port, the TLS server name `<name>.<namespace>.svc`, an ExternalName Service at its external
name. In loopback mode the service proxy listens on the cluster IP in this very process;
it serves a port below 1024 at port + 40000 too, always, so that is where it is dialled.

Failures are kube's words (`service "x" not found`, ...), raised as `Unreachable`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from orchestrator.store import Store

# Kept equal to orchestrator.network's PRIVILEGED_PORT_OFFSET (a test checks it).
PRIVILEGED_PORT_OFFSET = 40000


class Unreachable(Exception):
    """The address cannot be worked out (the message is kube's)."""


@dataclass(frozen=True)
class Target:
    """Where one call goes: the URL kube names in messages, and where to connect."""

    display: str  # https://host:port/path
    host: str  # the TLS server name
    connect_host: str
    connect_port: int
    shown_port: int
    path: str


def url_target(url: str) -> Target:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or 443
    return Target(f"https://{parts.netloc}{parts.path}", host, host, port, port, parts.path)


def service_target(store: Store, namespace: str, name: str, port: int, path: str = ""
                   ) -> Target:
    """The dial target of Service namespace/name on `port`; Unreachable when there is none
    (the message then starts with the URL, as Go's client errors do)."""
    host = f"{name}.{namespace}.svc"
    display = f"https://{host}:{port}{path}"
    svc = store.get("/services", namespace, name)
    if svc is None:
        raise Unreachable(f'service "{name}" not found')
    spec = svc.get("spec") or {}
    kind = spec.get("type") or "ClusterIP"
    if kind == "ExternalName":
        return Target(display, host, str(spec.get("externalName") or ""), port, port, path)
    if kind not in ("ClusterIP", "NodePort", "LoadBalancer"):
        raise Unreachable(f'unsupported service type "{kind}"')
    ip = spec.get("clusterIP")
    if not ip or ip == "None":
        raise Unreachable('cannot route to service with ClusterIP "None"')
    if not any(p.get("port") == port for p in spec.get("ports") or []):
        raise Unreachable(f'no service port {port} found for service "{name}"')
    connect = port + PRIVILEGED_PORT_OFFSET if port < 1024 else port
    return Target(display, host, str(ip), connect, port, path)
