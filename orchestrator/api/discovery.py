"""Discovery documents: the legacy v1 lists and aggregated discovery (apidiscovery.k8s.io/v2).

kubectl 1.37 asks for aggregated discovery first (one request for all of `/apis`), and falls
back to the legacy per-group documents; both are served from the same registry.
"""

from __future__ import annotations

from typing import Any

from orchestrator.api.kinds import Registry, ResourceType

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"

_SUBRESOURCE_VERBS = {
    "status": ["get", "patch", "update"],
    "approval": ["get", "patch", "update"],
    "scale": ["get", "patch", "update"],
    "log": ["get"],
    "binding": ["create"],
    "eviction": ["create"],
    "exec": ["create", "get"],
    "attach": ["create", "get"],
    "portforward": ["create", "get"],
    "proxy": ["create", "delete", "get", "patch", "update"],
    "token": ["create"],
    "finalize": ["update"],
    "ephemeralcontainers": ["get", "patch", "update"],
    "resize": ["get", "patch", "update"],
}
_SUBRESOURCE_KIND = {
    "scale": ("autoscaling", "v1", "Scale"),
    "binding": ("", "v1", "Binding"),
    "eviction": ("policy", "v1", "Eviction"),
    "token": ("authentication.k8s.io", "v1", "TokenRequest"),
    "exec": ("", "v1", "PodExecOptions"),
    "attach": ("", "v1", "PodAttachOptions"),
    "portforward": ("", "v1", "PodPortForwardOptions"),
    "proxy": ("", "v1", "PodProxyOptions"),
}


def version_document() -> dict[str, Any]:
    return {
        "major": "1",
        "minor": "37",
        "gitVersion": "v1.37.0+daskhub-lite",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions() -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
    }


def _group_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def api_group_list(registry: Registry) -> dict[str, Any]:
    groups = []
    for group, versions in registry.group_versions():
        if not group:
            continue
        entries = [{"groupVersion": _group_version(group, v), "version": v} for v in versions]
        groups.append({"name": group, "versions": entries, "preferredVersion": entries[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, group: str) -> dict[str, Any] | None:
    for g in api_group_list(registry)["groups"]:
        if g["name"] == group:
            return {"kind": "APIGroup", "apiVersion": "v1", **g}
    return None


def api_resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    types = sorted(registry.resources_in(group, version), key=lambda r: r.plural)
    if not types:
        return None
    resources: list[dict[str, Any]] = []
    for rt in types:
        entry: dict[str, Any] = {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(rt.verbs),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        for sub in rt.subresources:
            g, v, kind = _SUBRESOURCE_KIND.get(sub, (rt.group, rt.version, rt.kind))
            item: dict[str, Any] = {
                "name": f"{rt.plural}/{sub}",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": kind,
                "verbs": _SUBRESOURCE_VERBS.get(sub, ["get"]),
            }
            if (g, v) != (rt.group, rt.version):
                item["group"], item["version"] = g, v
            resources.append(item)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": _group_version(group, version),
        "resources": resources,
    }


def _aggregated_resource(rt: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": rt.plural,
        "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    subs = []
    for sub in rt.subresources:
        g, v, kind = _SUBRESOURCE_KIND.get(sub, (rt.group, rt.version, rt.kind))
        subs.append(
            {
                "subresource": sub,
                "responseKind": {"group": g, "version": v, "kind": kind},
                "verbs": _SUBRESOURCE_VERBS.get(sub, ["get"]),
            }
        )
    if subs:
        entry["subresources"] = subs
    return entry


def aggregated_discovery(registry: Registry, core: bool, api_version: str) -> dict[str, Any]:
    """`/api` (core=True) or `/apis` (core=False) as an APIGroupDiscoveryList."""
    items = []
    for group, versions in registry.group_versions():
        if (group == "") != core:
            continue
        version_entries = []
        for v in versions:
            types = sorted(registry.resources_in(group, v), key=lambda r: r.plural)
            version_entries.append(
                {
                    "version": v,
                    "resources": [_aggregated_resource(rt) for rt in types],
                    "freshness": "Current",
                }
            )
        items.append({"metadata": {"name": group}, "versions": version_entries})
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{api_version}",
        "metadata": {},
        "items": items,
    }
