"""An APIService's `Available` condition, decided as kube-aggregator's availability
controllers decide it (pkg/controllers/status/local and remote).

- `spec.service: null` (served by this API server): always True, reason `Local`;
- otherwise the Service must exist (`ServiceNotFound`), a ClusterIP Service must have the
  port (`ServicePortError`) and endpoint slices (`EndpointsNotFound`) with a ready address
  for that port's name (`MissingEndpoints`); then the backend must answer
  `GET /apis/<group>/<version>` with a 2xx (`FailedDiscoveryCheck` with the error), and
  the condition is True, reason `Passed`, `all checks passed`.

`check(...)` returns the condition to set, or `PROBE` when only the discovery request is
left; `with_condition` writes it into a status the way SetAPIServiceCondition does (the
transition time moves only when the status changes).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

Obj = dict[str, Any]
PROBE = "probe"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def condition(status: str, reason: str, message: str) -> Obj:
    return {"type": "Available", "status": status, "reason": reason, "message": message}


def service_ref(api_service: Mapping[str, Any]) -> Mapping[str, Any] | None:
    ref = (api_service.get("spec") or {}).get("service")
    return ref if isinstance(ref, Mapping) else None


def check(api_service: Mapping[str, Any], service: Mapping[str, Any] | None,
          slices: Sequence[Mapping[str, Any]]) -> Obj | str:
    """The Available condition, or PROBE when the discovery request decides."""
    ref = service_ref(api_service)
    if ref is None:
        return condition("True", "Local", "Local APIServices are always available")
    name, namespace = str(ref.get("name") or ""), str(ref.get("namespace") or "")
    port = int(ref.get("port") or 443)
    if service is None:
        return condition("False", "ServiceNotFound",
                         f'service/{name} in "{namespace}" is not present')
    spec = service.get("spec") or {}
    if (spec.get("type") or "ClusterIP") == "ClusterIP":
        ports = [p for p in spec.get("ports") or [] if p.get("port") == port]
        if not ports:
            return condition("False", "ServicePortError",
                             f'service/{name} in "{namespace}" is not listening on port {port}')
        port_name = str(ports[0].get("name") or "")
        if not slices:
            return condition("False", "EndpointsNotFound",
                             f'cannot find endpointslices for service/{name} in "{namespace}"')
        if not any(_serves(s, port_name) for s in slices):
            return condition("False", "MissingEndpoints",
                             f'endpointslices for service/{name} in "{namespace}" have no '
                             f'addresses with port name "{port_name}"')
    return PROBE


def _serves(endpoint_slice: Mapping[str, Any], port_name: str) -> bool:
    ready = any(((e.get("conditions") or {}).get("ready") is not False)
                for e in endpoint_slice.get("endpoints") or [])
    named = any(str(p.get("name") or "") == port_name and p.get("port")
                for p in endpoint_slice.get("ports") or [])
    return ready and named


def probe_result(error: str) -> Obj:
    """The condition after the discovery request (`error` empty: it answered 2xx)."""
    if error:
        return condition("False", "FailedDiscoveryCheck", error)
    return condition("True", "Passed", "all checks passed")


def with_condition(status: Mapping[str, Any] | None, wanted: Obj, now: str) -> Obj:
    """`status` with the Available condition set to `wanted`."""
    out = dict(status or {})
    conditions = [dict(c) for c in out.get("conditions") or [] if isinstance(c, Mapping)]
    for index, current in enumerate(conditions):
        if current.get("type") == "Available":
            moved = current.get("status") != wanted["status"]
            stamp = now if moved or not current.get("lastTransitionTime") else \
                current["lastTransitionTime"]
            conditions[index] = _ordered(wanted, stamp)
            break
    else:
        conditions.append(_ordered(wanted, now))
    out["conditions"] = conditions
    return out


def _ordered(wanted: Obj, stamp: str) -> Obj:
    """APIServiceCondition's fields in Go's order."""
    return {"type": wanted["type"], "status": wanted["status"], "lastTransitionTime": stamp,
            "reason": wanted["reason"], "message": wanted["message"]}


def is_available(api_service: Mapping[str, Any]) -> bool:
    for cond in (api_service.get("status") or {}).get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == "Available":
            return cond.get("status") == "True"
    return False
