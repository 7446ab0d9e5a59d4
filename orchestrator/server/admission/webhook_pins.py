"""What the server draws on create, kept the same across the rounds of one request.

A create runs once per webhook round (`webhook_rounds`); each run would draw a new uid,
creation time, generated name (`generateName`) and cluster IP, so the request a validating
webhook approved would not be the object stored. The first round records them; later
rounds put them back (a name or IP taken meanwhile is drawn anew, and costs a round).
"""

from __future__ import annotations

from orchestrator.server.admission import webhook_rounds as rounds
from orchestrator.server.admission.interfaces import Attributes
from orchestrator.store import Store


def _pin_key(attrs: Attributes) -> str:
    md = (attrs.obj or {}).get("metadata") or {}
    return f"{attrs.resource.key}|{attrs.namespace}|{md.get('generateName') or attrs.name}"


def pin_created(store: Store, attrs: Attributes) -> None:
    """Keep the uid, creation time, generated name and cluster IP of a created object the
    same in every round of its request (see webhook_rounds)."""
    state = rounds.current()
    obj = attrs.obj
    if state is None or obj is None:
        return
    md = obj.setdefault("metadata", {})
    key = _pin_key(attrs)
    pins = state.pins.get(key)
    if pins is None:
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        state.pins[key] = {"uid": md.get("uid"), "creationTimestamp": md.get(
            "creationTimestamp"), "name": md.get("name"),
            "ip_requested": bool((spec or {}).get("clusterIP"))}
        return
    for field in ("uid", "creationTimestamp"):
        if pins.get(field):
            md[field] = pins[field]
    name = pins.get("name")
    if md.get("generateName") and name and name != md.get("name") and \
            store.get(attrs.resource.key, attrs.namespace, name) is None:
        md["name"] = attrs.name = name
    ips = pins.get("clusterIPs")
    spec = obj.get("spec")
    if ips and isinstance(spec, dict) and not spec.get("clusterIP"):
        taken = {(s.get("spec") or {}).get("clusterIP") for s in store.objects("/services")}
        if ips[0] not in taken:
            spec["clusterIP"], spec["clusterIPs"] = ips[0], list(ips)


def record_allocated(attrs: Attributes) -> None:
    """After preparation: remember the cluster IP the server drew for a new Service."""
    state = rounds.current()
    if state is None or attrs.obj is None or attrs.resource.key != "/services":
        return
    pins = state.pins.get(_pin_key(attrs))
    spec = attrs.obj.get("spec") or {}
    if pins is not None and not pins.get("ip_requested") and spec.get("clusterIPs"):
        pins.setdefault("clusterIPs", list(spec["clusterIPs"]))
