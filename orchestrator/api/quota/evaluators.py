"""Quota evaluators: for each kind of object, which quota resources it can be charged and how
much one object charges (kube's pkg/quota/v1/evaluator/core and quota/v1/generic).

- pods: see `pods.py`; scoped quotas apply to pods only;
- services: `services`, `count/services`, `services.loadbalancers`, `services.nodeports`
  (a NodePort or LoadBalancer service takes one node port per port);
- persistentvolumeclaims: `persistentvolumeclaims`, `count/persistentvolumeclaims`,
  `requests.storage` and the same per storage class
  (`gold.storageclass.storage.k8s.io/requests.storage`);
- everything else: an object count, `count/<resource>.<group>` (`count/<resource>` in the
  core group), plus the old names `configmaps`, `secrets`, `resourcequotas` and
  `replicationcontrollers`; counted on create only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING
from typing import Any, Callable, Iterable, Mapping

from orchestrator.api.quota import pods
from orchestrator.api.quota.amounts import ZERO, Amount, ResourceList, parse_list

Obj = Mapping[str, Any]
STORAGE_CLASS_SUFFIX = ".storageclass.storage.k8s.io/"
LEGACY_COUNT_NAMES = {"configmaps": "configmaps", "secrets": "secrets",
                      "resourcequotas": "resourcequotas",
                      "replicationcontrollers": "replicationcontrollers"}
# Never charged (kube-apiserver's default ignored resources).
IGNORED = frozenset({"events", "events.events.k8s.io"})


def count_name(group_resource: str) -> str:
    return f"count/{group_resource}"


@dataclass(frozen=True)
class Evaluator:
    group_resource: str  # `pods`, `deployments.apps`
    names: Callable[[Iterable[str]], list[str]]
    usage_of: Callable[[Obj, datetime], ResourceList]
    # Which operations can change what the object charges.
    on_update: bool = False
    scoped: bool = False

    def matching_resources(self, names: Iterable[str]) -> list[str]:
        return self.names(names)

    def usage(self, obj: Obj, now: datetime) -> ResourceList:
        return self.usage_of(obj, now)

    def matches_scope(self, selector: Mapping[str, Any], obj: Obj) -> bool:
        # Services, claims and plain counts match no scope: a scoped quota is for pods.
        return self.scoped and pods.matches_scope(selector, obj)

    def constraints(self, required: Iterable[str], obj: Obj) -> str | None:
        return pods.constraints(required, obj) if self.scoped else None

    def handles_update(self, obj: Obj, old: Obj) -> bool:
        if self.scoped:  # a pod charges anew only when it changes scope
            return pods.terminating(obj) != pods.terminating(old)
        return self.on_update


def _one() -> Amount:
    return Amount.of(1)


# -- services ------------------------------------------------------------------------------

SERVICE_RESOURCES = ("count/services", "services", "services.loadbalancers",
                     "services.nodeports")


def _service_usage(svc: Obj, now: datetime) -> ResourceList:
    spec = svc.get("spec") or {}
    kind = spec.get("type")
    ports = Amount.of(len(spec.get("ports") or []))
    return {"count/services": _one(), "services": _one(),
            "services.loadbalancers": _one() if kind == "LoadBalancer" else ZERO,
            "services.nodeports": ports if kind in ("NodePort", "LoadBalancer") else ZERO}


# -- persistent volume claims ----------------------------------------------------------------

CLAIM_RESOURCES = ("persistentvolumeclaims", "requests.storage")


def _claim_names(names: Iterable[str]) -> list[str]:
    out = []
    for name in names:
        if name == "count/persistentvolumeclaims" or name in CLAIM_RESOURCES or any(
                name.endswith(STORAGE_CLASS_SUFFIX + r) for r in CLAIM_RESOURCES):
            out.append(name)
    return out


def _storage_class(claim: Obj) -> str:
    annotated = ((claim.get("metadata") or {}).get("annotations") or {}).get(
        "volume.beta.kubernetes.io/storage-class")
    return str(annotated or (claim.get("spec") or {}).get("storageClassName") or "")


def _claim_usage(claim: Obj, now: datetime) -> ResourceList:
    out: ResourceList = {"persistentvolumeclaims": _one(),
                         "count/persistentvolumeclaims": _one()}
    klass = _storage_class(claim)
    if klass:
        out[klass + STORAGE_CLASS_SUFFIX + "persistentvolumeclaims"] = _one()
    requested = parse_list(((claim.get("spec") or {}).get("resources") or {}).get("requests"))
    storage = requested.get("storage")
    if storage is not None:
        allocated = parse_list((claim.get("status") or {}).get("allocatedResources"))
        if "storage" in allocated and allocated["storage"].value > storage.value:
            storage = allocated["storage"]
        # Whole bytes: a claim for 1.5 bytes is charged 2 (kubernetes/kubernetes#94313).
        storage = Amount(storage.value.to_integral_value(rounding=ROUND_CEILING), storage.fmt)
        out["requests.storage"] = storage
        if klass:
            out[klass + STORAGE_CLASS_SUFFIX + "requests.storage"] = storage
    return out


# -- everything else: object counts ----------------------------------------------------------

def _counter(group_resource: str) -> Evaluator:
    names = {count_name(group_resource)}
    if group_resource in LEGACY_COUNT_NAMES:
        names.add(LEGACY_COUNT_NAMES[group_resource])

    def usage(obj: Obj, now: datetime) -> ResourceList:
        return {name: _one() for name in names}

    return Evaluator(group_resource, lambda given: [n for n in given if n in names], usage)


PODS = Evaluator("pods", pods.matching_resources, pods.usage, scoped=True)
SERVICES = Evaluator("services", lambda given: [n for n in given if n in SERVICE_RESOURCES],
                     _service_usage, on_update=True)
CLAIMS = Evaluator("persistentvolumeclaims", _claim_names, _claim_usage, on_update=True)
_SPECIAL = {e.group_resource: e for e in (PODS, SERVICES, CLAIMS)}
_COUNTERS: dict[str, Evaluator] = {}


def evaluator_for(group_resource: str) -> Evaluator:
    special = _SPECIAL.get(group_resource)
    if special is not None:
        return special
    counter = _COUNTERS.get(group_resource)
    if counter is None:
        counter = _COUNTERS[group_resource] = _counter(group_resource)
    return counter


def group_resources_for(names: Iterable[str]) -> set[str]:
    """The kinds of object whose usage a quota with these hard limits depends on."""
    wanted: set[str] = set()
    given = list(names)
    for evaluator in _SPECIAL.values():
        if evaluator.matching_resources(given):
            wanted.add(evaluator.group_resource)
    for name in given:
        if name in LEGACY_COUNT_NAMES:
            wanted.add(LEGACY_COUNT_NAMES[name])
        elif name.startswith("count/"):
            wanted.add(name[len("count/"):])
    return wanted
