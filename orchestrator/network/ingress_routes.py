"""Ingress routing tables (pure): which Service and port serves a host + path.

Follows the Ingress v1 matching rules: exact host, or a `*.` wildcard covering one label;
rules without a host match every host but lose to host rules; among paths the longest
match wins and Exact beats Prefix at equal length. Prefix matches whole path elements
(`/a` matches `/a`, `/a/`, `/a/b`, never `/ab`). ImplementationSpecific is treated as
Prefix. Two Ingresses claiming the same host, path and type: the older one (creation
time, then namespace/name) keeps it, the other is reported as a conflict.
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
        best: tuple[tuple[int, int, int], Route] | None = None
        for route in self.routes:
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
                claimed[(host, path, ptype)] = key
                routes.append(Route(host, path, ptype, backend, key))
    return RoutingTable(routes, default, conflicts)
