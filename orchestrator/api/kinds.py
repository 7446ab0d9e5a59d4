"""The kinds registry: which resources the API serves, and how they are addressed.

Built-in kinds are declared once, each with its behaviour in its strategy
(`orchestrator.api.strategies`); `BUILTIN_TYPES` is what those strategies serve, in their
registry's order (the order discovery lists each group's resources in). Custom resources
join and leave the registry as their CustomResourceDefinitions are created and deleted
(`resource_types_from_crd`).
"""

from __future__ import annotations

from typing import Any, Iterable

from orchestrator.api.resource_type import (
    ALL_VERBS,
    NO_COLLECTION_VERBS,
    READ_ONLY_VERBS,
    ResourceType,
)
from orchestrator.api.strategies import STRATEGIES

BUILTIN_TYPES: tuple[ResourceType, ...] = tuple(s.resource_type for s in STRATEGIES)
_BUILTIN_BY_KEY = {rt.key: rt for rt in BUILTIN_TYPES}


def builtin_type(group: str, plural: str) -> ResourceType:
    """A built-in resource by group ("" for core) and plural; KeyError if none is served."""
    return _BUILTIN_BY_KEY[f"{group}/{plural}"]

# Preferred order of groups in discovery, as kube-apiserver lists them.
GROUP_ORDER = (
    "", "apiregistration.k8s.io", "apps", "events.k8s.io", "autoscaling", "batch",
    "certificates.k8s.io", "networking.k8s.io", "policy", "rbac.authorization.k8s.io",
    "storage.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io",
    "scheduling.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "authentication.k8s.io",
    "authorization.k8s.io",
)


class Registry:
    """Resource types by (group, version, plural) and by (apiVersion, kind)."""

    def __init__(self, types: Iterable[ResourceType] = BUILTIN_TYPES) -> None:
        self._by_path: dict[tuple[str, str, str], ResourceType] = {}
        self._by_kind: dict[tuple[str, str], ResourceType] = {}
        self._custom: dict[str, list[ResourceType]] = {}  # CRD name -> its types
        for rt in types:
            self._add(rt)

    def _add(self, rt: ResourceType) -> None:
        self._by_path[(rt.group, rt.version, rt.plural)] = rt
        self._by_kind[(rt.api_version, rt.kind)] = rt

    def _remove(self, rt: ResourceType) -> None:
        self._by_path.pop((rt.group, rt.version, rt.plural), None)
        self._by_kind.pop((rt.api_version, rt.kind), None)

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        return self._by_kind.get((api_version, kind))

    def all(self) -> list[ResourceType]:
        return list(self._by_path.values())

    def group_versions(self) -> list[tuple[str, list[str]]]:
        """Groups in discovery order, each with its served versions (preferred first)."""
        versions: dict[str, list[str]] = {}
        for rt in self._by_path.values():
            vs = versions.setdefault(rt.group, [])
            if rt.version not in vs:
                vs.append(rt.version)
        order = {g: i for i, g in enumerate(GROUP_ORDER)}
        groups = sorted(versions, key=lambda g: (order.get(g, len(order)), g))
        return [(g, sorted(versions[g], key=version_priority)) for g in groups]

    def resources_in(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self._by_path.values() if rt.group == group and rt.version == version]

    def storage_type(self, rt: ResourceType) -> ResourceType:
        """The version objects of `rt`'s resource are stored in."""
        for other in self._by_path.values():
            if other.key == rt.key and other.storage_version:
                return other
        return rt

    def set_custom(self, crd_name: str, types: list[ResourceType]) -> None:
        for old in self._custom.pop(crd_name, []):
            self._remove(old)
        for rt in types:
            self._add(rt)
        if types:
            self._custom[crd_name] = types

    def custom_types(self, crd_name: str) -> list[ResourceType]:
        return list(self._custom.get(crd_name, []))


def version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes' version ordering: GA > beta > alpha, then higher numbers first."""
    import re

    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not m:
        return (3, 0, 0)  # non-Kubernetes-style versions sort last
    major = int(m.group(1))
    stage = {"alpha": 2, "beta": 1, None: 0}[m.group(2)]
    minor = int(m.group(3) or 0)
    return (stage, -major, -minor)


def resource_types_from_crd(crd: dict[str, Any]) -> list[ResourceType]:
    """The resource types a CustomResourceDefinition serves (one per served version)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group", "")
    namespaced = spec.get("scope", "Namespaced") == "Namespaced"
    out: list[ResourceType] = []
    for v in spec.get("versions") or []:
        if not v.get("served", True):
            continue
        subs: list[str] = []
        scale = ("", "", "")
        sr = v.get("subresources") or {}
        if "status" in sr:
            subs.append("status")
        if "scale" in sr:
            subs.append("scale")
            sc = sr["scale"] or {}
            scale = (
                sc.get("specReplicasPath", ""),
                sc.get("statusReplicasPath", ""),
                sc.get("labelSelectorPath", "") or "",
            )
        out.append(
            ResourceType(
                group=group,
                version=v.get("name", ""),
                kind=names.get("kind", ""),
                plural=names.get("plural", ""),
                singular=names.get("singular") or names.get("kind", "").lower(),
                namespaced=namespaced,
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=tuple(subs),
                crd_schema=(v.get("schema") or {}).get("openAPIV3Schema"),
                printer_columns=tuple(v.get("additionalPrinterColumns") or ()),
                scale_paths=scale,
                storage_version=bool(v.get("storage", False)),
                custom=True,
            )
        )
    return out


__all__ = [
    "ALL_VERBS", "BUILTIN_TYPES", "GROUP_ORDER", "NO_COLLECTION_VERBS", "READ_ONLY_VERBS",
    "Registry", "ResourceType", "builtin_type", "resource_types_from_crd", "version_priority",
]
