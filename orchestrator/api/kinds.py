"""The kinds registry: which resources the API serves, and how they are addressed.

Built-in kinds are listed here once; custom resources join and leave the registry as their
CustomResourceDefinitions are created and deleted (`resource_types_from_crd`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
NO_COLLECTION_VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")
READ_ONLY_VERBS = ("get", "list", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()
    # Custom resources only: the version's schema, printer columns and scale paths.
    crd_schema: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    printer_columns: tuple[dict[str, Any], ...] = field(default=(), compare=False, hash=False)
    scale_paths: tuple[str, str, str] = (".spec.replicas", ".status.replicas", "")
    storage_version: bool = True
    custom: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """`deployments.apps`, or `pods` for the core group: the name errors use."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def key(self) -> str:
        """Storage key shared by every version of the same resource."""
        return f"{self.group}/{self.plural}"

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def returns_deleted_object(self) -> bool:
        """Whether DELETE answers with the object rather than a Status Success (the
        registry's `ReturnDeletedObject`), as the kind's strategy says."""
        # Imported here: the strategies are built on this module's types.
        from orchestrator.api import strategies

        return strategies.for_resource(self).returns_deleted_object


def _rt(
    group: str,
    version: str,
    kind: str,
    plural: str,
    namespaced: bool = True,
    short: Iterable[str] = (),
    cats: Iterable[str] = (),
    subs: Iterable[str] = (),
    verbs: tuple[str, ...] = ALL_VERBS,
) -> ResourceType:
    return ResourceType(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        namespaced=namespaced,
        short_names=tuple(short),
        categories=tuple(cats),
        verbs=verbs,
        subresources=tuple(subs),
    )


_ALL = ("all",)
_EXTENSIONS = ("api-extensions",)
BUILTIN_TYPES: tuple[ResourceType, ...] = (
    # core/v1
    _rt("", "v1", "Namespace", "namespaces", False, ["ns"], subs=["status", "finalize"],
        verbs=NO_COLLECTION_VERBS),
    _rt("", "v1", "Pod", "pods", short=["po"], cats=_ALL,
        subs=["status", "log", "binding", "eviction", "exec", "portforward", "attach",
              "ephemeralcontainers", "resize"]),
    _rt("", "v1", "Service", "services", short=["svc"], cats=_ALL, subs=["status", "proxy"]),
    _rt("", "v1", "Endpoints", "endpoints", short=["ep"]),
    _rt("", "v1", "ConfigMap", "configmaps", short=["cm"]),
    _rt("", "v1", "Secret", "secrets"),
    _rt("", "v1", "ServiceAccount", "serviceaccounts", short=["sa"], subs=["token"]),
    _rt("", "v1", "Event", "events", short=["ev"]),
    _rt("", "v1", "Node", "nodes", False, ["no"], subs=["status", "proxy"]),
    _rt("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short=["pvc"],
        subs=["status"]),
    _rt("", "v1", "PersistentVolume", "persistentvolumes", False, ["pv"], subs=["status"]),
    _rt("", "v1", "LimitRange", "limitranges", short=["limits"]),
    _rt("", "v1", "ResourceQuota", "resourcequotas", short=["quota"], subs=["status"]),
    _rt("", "v1", "ReplicationController", "replicationcontrollers", short=["rc"],
        cats=_ALL, subs=["status", "scale"]),
    _rt("", "v1", "PodTemplate", "podtemplates"),
    # apps/v1
    _rt("apps", "v1", "Deployment", "deployments", short=["deploy"], cats=_ALL,
        subs=["status", "scale"]),
    _rt("apps", "v1", "ReplicaSet", "replicasets", short=["rs"], cats=_ALL,
        subs=["status", "scale"]),
    _rt("apps", "v1", "StatefulSet", "statefulsets", short=["sts"], cats=_ALL,
        subs=["status", "scale"]),
    _rt("apps", "v1", "DaemonSet", "daemonsets", short=["ds"], cats=_ALL, subs=["status"]),
    _rt("apps", "v1", "ControllerRevision", "controllerrevisions"),
    # batch/v1
    _rt("batch", "v1", "Job", "jobs", cats=_ALL, subs=["status"]),
    _rt("batch", "v1", "CronJob", "cronjobs", short=["cj"], cats=_ALL, subs=["status"]),
    # autoscaling/v2
    _rt("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
        short=["hpa"], cats=_ALL, subs=["status"]),
    # networking.k8s.io/v1
    _rt("networking.k8s.io", "v1", "Ingress", "ingresses", short=["ing"], subs=["status"]),
    _rt("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    _rt("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short=["netpol"]),
    # discovery.k8s.io/v1
    _rt("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    # coordination.k8s.io/v1
    _rt("coordination.k8s.io", "v1", "Lease", "leases"),
    # events.k8s.io/v1 shares storage with core/v1 Event in Kubernetes; kept separate here.
    _rt("events.k8s.io", "v1", "Event", "events", short=["ev"]),
    # rbac.authorization.k8s.io/v1 (stored; enforcement comes later)
    _rt("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    _rt("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    _rt("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _rt("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    # scheduling.k8s.io/v1
    _rt("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, ["pc"]),
    # policy/v1
    _rt("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short=["pdb"],
        subs=["status"]),
    # storage.k8s.io/v1
    _rt("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, ["sc"]),
    # (stored and served; no CSI driver runs here)
    _rt("storage.k8s.io", "v1", "CSIDriver", "csidrivers", False),
    _rt("storage.k8s.io", "v1", "CSINode", "csinodes", False),
    _rt("storage.k8s.io", "v1", "VolumeAttachment", "volumeattachments", False,
        subs=["status"]),
    _rt("storage.k8s.io", "v1", "CSIStorageCapacity", "csistoragecapacities"),
    # certificates.k8s.io/v1: requests are approved or denied here (the approval
    # subresource); no signer issues certificates yet.
    _rt("certificates.k8s.io", "v1", "CertificateSigningRequest",
        "certificatesigningrequests", False, ["csr"], subs=["status", "approval"]),
    # apiregistration.k8s.io/v1: stored and listed; nothing is proxied to them yet.
    _rt("apiregistration.k8s.io", "v1", "APIService", "apiservices", False,
        cats=_EXTENSIONS, subs=["status"]),
    # admissionregistration.k8s.io/v1: stored and validated; no webhook is called and no
    # policy evaluated yet.
    _rt("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations", False, cats=_EXTENSIONS),
    _rt("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations", False, cats=_EXTENSIONS),
    _rt("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies", False, cats=_EXTENSIONS, subs=["status"]),
    _rt("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings", False, cats=_EXTENSIONS),
    # Reviews: answered on create, never stored (orchestrator/server/reviews.py).
    _rt("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews",
        False, verbs=("create",)),
    _rt("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", False,
        verbs=("create",)),
    _rt("authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews",
        verbs=("create",)),
    _rt("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", False,
        verbs=("create",)),
    _rt("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", False,
        verbs=("create",)),
    # apiextensions.k8s.io/v1
    _rt("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
        False, ["crd", "crds"], cats=_EXTENSIONS, subs=["status"]),
)

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


def accepted_crd_status(crd: dict[str, Any], now: str) -> dict[str, Any]:
    """The status a CRD gets once its names are accepted and it is served (Established)."""
    spec = crd.get("spec") or {}
    names = dict(spec.get("names") or {})
    names.setdefault("singular", str(names.get("kind", "")).lower())
    names.setdefault("listKind", f"{names.get('kind', '')}List")
    return {
        "acceptedNames": names,
        "storedVersions": [v.get("name") for v in spec.get("versions") or [] if v.get("storage")],
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": now},
        ],
    }
