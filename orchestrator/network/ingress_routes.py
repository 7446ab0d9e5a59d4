"""Ingress routing tables (pure): which Service and port serves a host + path.

Follows the Ingress v1 matching rules: exact host, or a `*.` wildcard covering one label;
rules without a host match every host but lose to host rules; among paths the longest
match wins and Exact beats Prefix at equal length. Prefix matches whole path elements
(`/a` matches `/a`, `/a/`, `/a/b`, never `/ab`). ImplementationSpecific is treated as
Prefix. Two Ingresses claiming the same host, path and type: the older one (creation
time, then namespace/name) keeps it, the other is reported as a conflict.

Namespaces are tenants (one hub user each), so a path also claims what lies under it for its
namespace: a route whose path is `/p` (Prefix) owns `/p` and everything below it on its hosts
(a rule without a host: on every host), an Exact route owns its one path, and the root `/`
owns only `/` itself (a catch-all, not a claim on the whole site). A request is served only by
the namespace owning the oldest claim that covers it; a later route of another namespace
inside that claim gets no route and a conflict. Without this, a user's Ingress for
`/hub/login` (a longer path), or for the hub's host by name (host rules beat rules without a
host), would take the hub's login page from the hub.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CLASS_NAME = "daskhub-lite"
CONTROLLER = "daskhub-lite.io/ingress-controller"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"


@dataclass(frozen=True)
class Backend:
    namespace: str
    service: str
    port: int | str  # number or name of a Service port


@dataclass(frozen=True)
class Route:
    host: str  # "" for any host
    path: str
    path_type: str  # Exact | Prefix
    backend: Backend
    ingress: tuple[str, str]  # (namespace, name)


@dataclass
class RoutingTable:
    routes: list[Route]
    default: Backend | None
    conflicts: dict[tuple[str, str], list[str]]  # ingress -> messages

    def match(self, host: str, path: str) -> Backend | None:
        host = host.split(":", 1)[0].lower()
        # Routes are kept oldest first: the first claim covering the request names its owner.
        owner = next((r.ingress[0] for r in self.routes
                      if _host_rank(r.host, host) >= 0 and _claims(r, path)), None)
        best: tuple[tuple[int, int, int], Route] | None = None
        for route in self.routes:
            if owner is not None and route.ingress[0] != owner:
                continue
            host_rank = _host_rank(route.host, host)
            if host_rank < 0 or not _path_matches(route, path):
                continue
            rank = (host_rank, len(route.path), 1 if route.path_type == "Exact" else 0)
            if best is None or rank > best[0]:
                best = (rank, route)
        return best[1].backend if best else self.default


def _host_rank(rule_host: str, host: str) -> int:
    if not rule_host:
        return 0
    if rule_host.startswith("*."):
        suffix = rule_host[1:]
        head = host[: -len(suffix)] if host.endswith(suffix) else ""
        return 1 if head and "." not in head else -1
    return 2 if rule_host == host else -1


def _path_matches(route: Route, path: str) -> bool:
    if route.path_type == "Exact":
        return path == route.path
    prefix = route.path.rstrip("/")
    if not prefix:
        return True
    return path == prefix or path.startswith(prefix + "/")


def _claims(route: Route, path: str) -> bool:
    """Whether `path` lies in what the route owns for its namespace (see module docstring)."""
    if route.path_type == "Exact" or not route.path.rstrip("/"):
        return path == route.path
    return _path_matches(route, path)


def _covers_hosts(older: str, newer: str) -> bool:
    """Every host the newer rule serves is one the older rule serves."""
    return not older or older == newer or (
        older.startswith("*.") and not newer.startswith("*.") and _host_rank(older, newer) > 0)


def is_ours(ingress: dict[str, Any], default_class: bool) -> bool:
    spec = ingress.get("spec") or {}
    name = spec.get("ingressClassName") or (
        (ingress.get("metadata") or {}).get("annotations") or {}).get(
            "kubernetes.io/ingress.class")
    return name == CLASS_NAME or (not name and default_class)


def _backend(ns: str, raw: dict[str, Any] | None) -> Backend | None:
    svc = (raw or {}).get("service") or {}
    port = svc.get("port") or {}
    number = port.get("number")
    if not svc.get("name") or (number is None and not port.get("name")):
        return None
    return Backend(ns, svc["name"], int(number) if number is not None else str(port["name"]))


def _age(ingress: dict[str, Any]) -> tuple[str, str, str]:
    md = ingress["metadata"]
    return (md.get("creationTimestamp") or "", md.get("namespace", ""), md["name"])


def build_table(ingresses: list[dict[str, Any]]) -> RoutingTable:
    routes: list[Route] = []
    claimed: dict[tuple[str, str, str], tuple[str, str]] = {}
    conflicts: dict[tuple[str, str], list[str]] = {}
    default: Backend | None = None
    for ing in sorted(ingresses, key=_age):
        md, spec = ing["metadata"], ing.get("spec") or {}
        key = (md.get("namespace", ""), md["name"])
        if default is None:
            default = _backend(key[0], spec.get("defaultBackend"))
        for rule in spec.get("rules") or []:
            host = str(rule.get("host") or "").lower()
            for p in (rule.get("http") or {}).get("paths") or []:
                backend = _backend(key[0], p.get("backend"))
                if backend is None:
                    continue
                ptype = p.get("pathType") or "ImplementationSpecific"
                ptype = "Exact" if ptype == "Exact" else "Prefix"
                path = p.get("path") or "/"
                owner = claimed.get((host, path, ptype))
                if owner is not None and owner != key:
                    conflicts.setdefault(key, []).append(
                        f"host {host or '*'!r} path {path!r} is already served by Ingress "
                        f"{owner[0]}/{owner[1]} (the older one wins)")
                    continue
                route = Route(host, path, ptype, backend, key)
                taken = next((r for r in routes if r.ingress[0] != key[0]
                              and _covers_hosts(r.host, host) and _claims(r, path)), None)
                if taken is not None:
                    conflicts.setdefault(key, []).append(
                        f"host {host or '*'!r} path {path!r} lies under path {taken.path!r} "
                        f"of Ingress {taken.ingress[0]}/{taken.ingress[1]}, which namespace "
                        f"{taken.ingress[0]} holds (the older one wins)")
                    continue
                claimed[(host, path, ptype)] = key
                routes.append(route)
    return RoutingTable(routes, default, conflicts)
