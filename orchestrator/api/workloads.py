"""Pure views over workload objects, shared by the controllers and the node runtime:
owner references, pods made from templates, pod readiness and availability."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from orchestrator.api.jsoncopy import json_copy
from orchestrator.api.meta import now_rfc3339, parse_time

Obj = dict[str, Any]

TEMPLATE_HASH_LABEL = "pod-template-hash"
TERMINAL_PHASES = ("Succeeded", "Failed")


def owner_reference(owner: Mapping[str, Any], *, controller: bool = True,
                    block_owner_deletion: bool = True) -> Obj:
    md = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": md["name"],
        "uid": md["uid"], "controller": controller,
        "blockOwnerDeletion": block_owner_deletion,
    }


def controller_of(obj: Mapping[str, Any]) -> Obj | None:
    """The ownerReference with `controller: true`, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def is_controlled_by(obj: Mapping[str, Any], owner_uid: str) -> bool:
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == owner_uid


def template_hash(template: Mapping[str, Any], collision_count: int = 0) -> str:
    """A stable short hash of a pod template (the `pod-template-hash` label value)."""
    raw = json.dumps(template, sort_keys=True, separators=(",", ":")) + f"#{collision_count}"
    digest = hashlib.sha256(raw.encode()).hexdigest()
    # Kubernetes renders the hash with "safe" characters only; hex digits are safe.
    return digest[:10]


def pod_from_template(template: Mapping[str, Any], owner: Mapping[str, Any], *,
                      name: str | None = None, generate_name: str | None = None,
                      extra_labels: Mapping[str, str] | None = None,
                      extra_annotations: Mapping[str, str] | None = None) -> Obj:
    """A Pod for `owner` (ReplicaSet, Job, StatefulSet, DaemonSet) from its template."""
    tmpl_md = template.get("metadata") or {}
    labels = dict(tmpl_md.get("labels") or {})
    labels.update(extra_labels or {})
    annotations = dict(tmpl_md.get("annotations") or {})
    annotations.update(extra_annotations or {})
    md: Obj = {"namespace": owner["metadata"].get("namespace", "default"), "labels": labels,
               "ownerReferences": [owner_reference(owner)]}
    if annotations:
        md["annotations"] = annotations
    if tmpl_md.get("finalizers"):
        md["finalizers"] = list(tmpl_md["finalizers"])
    if name:
        md["name"] = name
    else:
        md["generateName"] = generate_name or f"{owner['metadata']['name']}-"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md,
            "spec": json_copy(template.get("spec") or {})}


def condition(obj: Mapping[str, Any], ctype: str) -> Obj | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return dict(c)
    return None


def set_condition(status: Obj, ctype: str, value: str, reason: str = "", message: str = "",
                  now: str | None = None) -> bool:
    """Set a condition in `status`; the transition time moves only when the value does.
    Returns whether anything changed."""
    now = now or now_rfc3339()
    conditions = status.setdefault("conditions", [])
    for c in conditions:
        if c.get("type") == ctype:
            changed = (c.get("status"), c.get("reason"), c.get("message")) != (
                value, reason, message)
            if c.get("status") != value:
                c["lastTransitionTime"] = now
            c.update({"status": value, "reason": reason, "message": message})
            if "lastUpdateTime" in c or ctype in ("Progressing", "Available"):
                if changed:
                    c["lastUpdateTime"] = now
            return changed
    new: Obj = {"type": ctype, "status": value, "lastTransitionTime": now}
    if reason:
        new["reason"] = reason
    if message:
        new["message"] = message
    conditions.append(new)
    return True


def pod_phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase", "Pending"))


def pod_is_terminal(pod: Mapping[str, Any]) -> bool:
    return pod_phase(pod) in TERMINAL_PHASES


def pod_is_active(pod: Mapping[str, Any]) -> bool:
    """Counts toward a controller's replicas: not finished and not being deleted."""
    return not pod_is_terminal(pod) and not (pod.get("metadata") or {}).get(
        "deletionTimestamp")


def pod_is_ready(pod: Mapping[str, Any]) -> bool:
    c = condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


def pod_is_available(pod: Mapping[str, Any], min_ready_seconds: int = 0,
                     now: datetime | None = None) -> bool:
    """Ready for at least `min_ready_seconds`, as the Deployment controller counts it."""
    if not pod_is_ready(pod) or not pod_is_active(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    c = condition(pod, "Ready") or {}
    since = c.get("lastTransitionTime")
    if not since:
        return False
    moment = now or datetime.now(timezone.utc)
    return parse_time(since) + timedelta(seconds=min_ready_seconds) <= moment


def selector_labels(selector: Mapping[str, Any] | None) -> dict[str, str]:
    return dict((selector or {}).get("matchLabels") or {})


def claim(owner: Mapping[str, Any], candidates: Any) -> tuple[list[Obj], list[Obj], list[Obj]]:
    """kube's ControllerRefManager claim, as (owned, adopt, release) for `owner`'s selector.

    Owned objects that match stay; orphans that match are to be adopted (never by an owner
    being deleted, never when they are being deleted themselves); owned objects that no
    longer match are to be released. Objects controlled by someone else are left alone.
    """
    from orchestrator.api.selectors import label_selector_from_dict

    selector = label_selector_from_dict((owner.get("spec") or {}).get("selector"))
    uid = owner["metadata"].get("uid")
    deleting = bool(owner["metadata"].get("deletionTimestamp"))
    owned: list[Obj] = []
    adopt: list[Obj] = []
    release: list[Obj] = []
    for obj in candidates:
        md = obj.get("metadata") or {}
        matches = selector.matches(md.get("labels") or {})
        ref = controller_of(obj)
        if ref is not None:
            if ref.get("uid") != uid:
                continue
            if matches:
                owned.append(obj)
            elif not deleting:
                release.append(obj)
        elif matches and not deleting and not md.get("deletionTimestamp"):
            adopt.append(obj)
    return owned, adopt, release
