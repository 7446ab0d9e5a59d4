"""resource.k8s.io/v1, Dynamic Resource Allocation's API as Kubernetes 1.34 serves it:
DeviceClass, ResourceClaim, ResourceClaimTemplate and ResourceSlice, with their rules (the
checks of kube's pkg/apis/resource/validation users meet first), printers
(pkg/printers/internalversion) and the namespace roles that grant them (bootstrappolicy's
aggregate-to-edit and aggregate-to-view). The kinds are stored and served; nothing
allocates devices here.

One module for the whole group: everything a new built-in kind needs, and a line in
`orchestrator.api.strategies._MODULES`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from orchestrator.api.durations import since
from orchestrator.api.errors import Cause, Invalid, duplicate, forbidden, invalid, required
from orchestrator.api.names import name_messages
from orchestrator.api.schemas import definitions
from orchestrator.api.strategy import Context, Obj, Strategy
from orchestrator.api.table_cells import (
    Cells,
    Printer,
    age_column,
    column,
    created,
    get,
    is_deleting,
    items,
    mapping,
    name_column,
    name_of,
    text,
)

GROUP = "resource.k8s.io"
_DEFS = "io.k8s.api.resource.v1."
# bootstrappolicy's Write and Read verb lists.
_WRITE = "create delete deletecollection patch update"
_READ = "get list watch"
_NODE_SELECTION = ("nodeName", "nodeSelector", "allNodes", "perDeviceNodeSelection")
# Go decodes a missing pool generation or slice count as 0; the rules below judge them.
_REQUIRED_CHECKED_HERE = frozenset({(_DEFS + "ResourcePool", "generation"),
                                    (_DEFS + "ResourcePool", "resourceSliceCount")})


# --- defaults (pkg/apis/resource/v1/defaults.go) -------------------------------------
def _request_defaults(request: Any) -> None:
    """An exact request (or an alternative) asks for one device unless it says otherwise,
    and a toleration matches a taint's value."""
    if not isinstance(request, dict):
        return
    mode = request.setdefault("allocationMode", "ExactCount")
    if mode == "ExactCount" and not request.get("count"):
        request["count"] = 1
    for toleration in request.get("tolerations") or []:
        if isinstance(toleration, dict):
            toleration.setdefault("operator", "Equal")


def _claim_spec_defaults(spec: Any) -> None:
    devices = spec.get("devices") if isinstance(spec, dict) else None
    for request in (devices.get("requests") or []) if isinstance(devices, dict) else []:
        if isinstance(request, dict):
            _request_defaults(request.get("exactly"))
            for sub in request.get("firstAvailable") or []:
                _request_defaults(sub)


def _claim_defaults(obj: Obj) -> None:
    _claim_spec_defaults(obj.get("spec"))


def _template_defaults(obj: Obj) -> None:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        _claim_spec_defaults(spec.get("spec"))


def _spec_is_immutable(kind: str) -> Callable[[Obj, Obj, str, Context], None]:
    """ValidateResourceClaim(Template)Update: the spec is fixed once created (a claim's
    status changes through its subresource)."""

    def check(merged: Obj, current: Obj, subresource: str, ctx: Context) -> None:
        if subresource != "status" and merged.get("spec") != current.get("spec"):
            name = str((current.get("metadata") or {}).get("name", ""))
            raise Invalid.of(kind, GROUP, name, [
                invalid("spec", merged.get("spec"), "field is immutable")])

    return check


# --- rules ----------------------------------------------------------------------------
def _name_causes(path: str, value: Any, rule: str) -> list[Cause]:
    if not isinstance(value, str) or not value:
        return []  # the schema reports a missing required name
    return [invalid(path, value, message) for message in name_messages(value, rule)]


def _claim_spec_causes(spec: Mapping[str, Any], path: str) -> list[Cause]:
    """validateResourceClaimSpec: each request named by a unique DNS label, and either an
    exact request for a device class or a list of alternatives."""
    out: list[Cause] = []
    seen: set[str] = set()
    for index, request in enumerate(items(spec, "devices", "requests")):
        here = f"{path}.devices.requests[{index}]"
        name = request.get("name")
        out += _name_causes(f"{here}.name", name, "dns1123-label")
        if isinstance(name, str) and name:
            if name in seen:
                out.append(duplicate(f"{here}.name", name))
            seen.add(name)
        exactly = request.get("exactly")
        alternatives = items(request, "firstAvailable")
        if isinstance(exactly, Mapping) and alternatives:
            out.append(forbidden(f"{here}.firstAvailable", "exactly one of `exactly` or "
                                 "`firstAvailable` is required, but multiple fields are set"))
        elif not isinstance(exactly, Mapping) and not alternatives:
            out.append(required(here, "exactly one of `exactly` or `firstAvailable` is "
                                      "required"))
        if isinstance(exactly, Mapping):
            out += _name_causes(f"{here}.exactly.deviceClassName",
                                exactly.get("deviceClassName"), "dns1123-subdomain")
        sub_seen: set[str] = set()
        for sub_index, sub in enumerate(alternatives):
            sub_here = f"{here}.firstAvailable[{sub_index}]"
            sub_name = sub.get("name")
            out += _name_causes(f"{sub_here}.name", sub_name, "dns1123-label")
            if isinstance(sub_name, str) and sub_name:
                if sub_name in sub_seen:
                    out.append(duplicate(f"{sub_here}.name", sub_name))
                sub_seen.add(sub_name)
            out += _name_causes(f"{sub_here}.deviceClassName", sub.get("deviceClassName"),
                                "dns1123-subdomain")
    return out


def _claim_causes(obj: Mapping[str, Any]) -> list[Cause]:
    return _claim_spec_causes(mapping(obj, "spec"), "spec")


def _template_causes(obj: Mapping[str, Any]) -> list[Cause]:
    return _claim_spec_causes(mapping(obj, "spec", "spec"), "spec.spec")


def _driver_causes(path: str, driver: Any) -> list[Cause]:
    """validateDriverName: a DNS subdomain of at most 63 characters."""
    if not isinstance(driver, str) or not driver:
        return []
    messages = [m for m in name_messages(driver, "dns1123-subdomain")
                if not m.startswith("must be no more than")]
    if len(driver) > 63:
        messages.insert(0, "must be no more than 63 characters")
    return [invalid(path, driver, message) for message in messages]


def _slice_causes(obj: Mapping[str, Any]) -> list[Cause]:
    """validateResourceSliceSpec: the driver and pool named, the pool's counts sane, and
    exactly one way of saying which nodes the devices are reachable from."""
    spec = mapping(obj, "spec")
    out = _driver_causes("spec.driver", spec.get("driver"))
    pool = mapping(spec, "pool")
    pool_name = pool.get("name")
    if isinstance(pool_name, str) and pool_name:
        for segment in pool_name.split("/"):
            for message in name_messages(segment, "dns1123-subdomain"):
                out.append(invalid("spec.pool.name", pool_name, message))
    if "pool" in spec:
        generation = pool.get("generation", 0)
        if isinstance(generation, int) and generation < 0:
            out.append(invalid("spec.pool.generation", generation,
                               "must be greater than or equal to zero"))
        count = pool.get("resourceSliceCount", 0)
        if isinstance(count, int) and count <= 0:
            out.append(invalid("spec.pool.resourceSliceCount", count,
                               "must be greater than zero"))
    chosen = [f for f in _NODE_SELECTION
              if (spec.get(f) is True if f in ("allNodes", "perDeviceNodeSelection")
                  else spec.get(f) not in (None, ""))]
    one_of = "exactly one of " + ", ".join(f"`{f}`" for f in _NODE_SELECTION) + " is required"
    if not chosen:
        out.append(required("spec", one_of))
    elif len(chosen) > 1:
        out.append(invalid("spec", "{" + ", ".join(f"`{f}`" for f in chosen) + "}",
                           one_of + ", but multiple fields are set"))
    return out


# --- printers -------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _doc(definition: str, field: str) -> str:
    body = definitions().get(_DEFS + definition) or {}
    return str(((body.get("properties") or {}).get(field) or {}).get("description") or "")


def claim_state(obj: Mapping[str, Any]) -> str:
    """resourceClaimState: deleted, then pending, or allocated and reserved (or, once
    deleted, deallocating)."""
    states = ["deleted"] if is_deleting(obj) else []
    if not isinstance(get(obj, "status", "allocation"), Mapping):
        if not is_deleting(obj):
            states.append("pending")
    else:
        states.append("allocated")
        if items(obj, "status", "reservedFor"):
            states.append("reserved")
        elif is_deleting(obj):
            states.append("deallocating")
    return ",".join(states)


def _name_and_age(obj: Mapping[str, Any], now: datetime) -> Cells:
    return [name_of(obj), since(created(obj), now)]


def _claim_cells(obj: Mapping[str, Any], now: datetime) -> Cells:
    return [name_of(obj), claim_state(obj), since(created(obj), now)]


def _slice_cells(obj: Mapping[str, Any], now: datetime) -> Cells:
    return [name_of(obj), text(obj, "spec", "nodeName"), text(obj, "spec", "driver"),
            text(obj, "spec", "pool", "name"), since(created(obj), now)]


NAME_AND_AGE = Printer([name_column(), age_column()], _name_and_age)
RESOURCE_CLAIM = Printer(
    [name_column(),
     column("State", description="A summary of the current state (allocated, pending, "
                                 "reserved, etc.)."),
     age_column()],
    _claim_cells,
)
RESOURCE_SLICE = Printer(
    [name_column(),
     column("Node", description=_doc("ResourceSliceSpec", "nodeName")),
     column("Driver", description=_doc("ResourceSliceSpec", "driver")),
     column("Pool", description=_doc("ResourcePool", "name")),
     age_column()],
    _slice_cells,
)

# --- field selectors (the kubelet lists its node's slices by spec.nodeName) -----------
def _field(*path: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda obj: text(obj, *path)


SLICE_FIELDS: Mapping[str, Callable[[Mapping[str, Any]], str]] = {
    "metadata.name": _field("metadata", "name"),
    "spec.nodeName": _field("spec", "nodeName"),
    "spec.driver": _field("spec", "driver"),
}

# --- strategies -----------------------------------------------------------------------
_NAMESPACE_ROLES = (("edit", _WRITE), ("view", _READ))
STRATEGIES: tuple[Strategy, ...] = (
    Strategy(GROUP, "DeviceClass", "deviceclasses", namespaced=False, printer=NAME_AND_AGE),
    Strategy(GROUP, "ResourceClaim", "resourceclaims", subresources=("status",),
             initial_status={}, defaults=_claim_defaults, validate=_claim_causes,
             begin_update=_spec_is_immutable("ResourceClaim"), printer=RESOURCE_CLAIM,
             grants=_NAMESPACE_ROLES),
    Strategy(GROUP, "ResourceClaimTemplate", "resourceclaimtemplates",
             defaults=_template_defaults, validate=_template_causes,
             begin_update=_spec_is_immutable("ResourceClaimTemplate"), printer=NAME_AND_AGE,
             grants=_NAMESPACE_ROLES),
    Strategy(GROUP, "ResourceSlice", "resourceslices", namespaced=False,
             validate=_slice_causes, required_checked_here=_REQUIRED_CHECKED_HERE,
             printer=RESOURCE_SLICE, fields=SLICE_FIELDS),
)
