"""Pure rollout arithmetic of the Deployment controller, after kube's deployment/util.

Nothing here does I/O: each function takes the Deployment and its ReplicaSets (raw dicts)
and returns numbers, names or new status, so unit tests can drive every maxSurge /
maxUnavailable combination without a server.
"""

from __future__ import annotations

import copy
import math
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

from orchestrator.api.meta import now_rfc3339, parse_time
from orchestrator.api.workloads import TEMPLATE_HASH_LABEL, condition, set_condition

Obj = dict[str, Any]

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
# Deployment annotations that are not copied onto its ReplicaSets.
_SKIPPED_ANNOTATIONS = {LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS,
                        MAX_REPLICAS, ROLLBACK_TO}

# Condition reasons, as kube's deployment util names them.
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"
FAILED_RS_CREATE = "ReplicaSetCreateError"


# -- small views -----------------------------------------------------------------------------

def spec(obj: Mapping[str, Any]) -> Obj:
    return dict(obj.get("spec") or {})


def desired(d: Mapping[str, Any]) -> int:
    return int(spec(d).get("replicas", 1))


def rs_replicas(rs: Mapping[str, Any] | None) -> int:
    return 0 if rs is None else int(spec(rs).get("replicas", 1))


def rs_status(rs: Mapping[str, Any] | None, field: str) -> int:
    return 0 if rs is None else int((rs.get("status") or {}).get(field) or 0)


def rs_available(rs: Mapping[str, Any] | None) -> int:
    """Available pods that count toward the rollout: a ReplicaSet just scaled down may
    still report the pods it is deleting, so never more than it is sized for."""
    return min(rs_status(rs, "availableReplicas"), rs_replicas(rs))


def annotations_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def revision(rs: Mapping[str, Any]) -> int:
    try:
        return int(annotations_of(rs).get(REVISION, "0"))
    except ValueError:
        return 0


def created_at(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("creationTimestamp") or "")


def is_rolling(d: Mapping[str, Any]) -> bool:
    return bool((spec(d).get("strategy") or {}).get("type", "RollingUpdate") != "Recreate")


# -- maxSurge / maxUnavailable ---------------------------------------------------------------

def scaled_value(value: int | str | None, total: int, round_up: bool, default: str) -> int:
    """intstr.GetScaledValueFromIntOrPercent."""
    if value is None:
        value = default
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text.endswith("%"):
        return int(text)
    pct = int(text[:-1])
    exact = pct * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def resolve_fenceposts(max_surge: int | str | None, max_unavailable: int | str | None,
                       replicas: int) -> tuple[int, int]:
    """(surge, unavailable): surge rounds up, unavailable down; both 0 would deadlock, so
    unavailable becomes 1 (as kube does)."""
    surge = scaled_value(max_surge, replicas, True, "25%")
    unavailable = scaled_value(max_unavailable, replicas, False, "25%")
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _rolling_params(d: Mapping[str, Any]) -> tuple[Any, Any]:
    rolling = (spec(d).get("strategy") or {}).get("rollingUpdate") or {}
    return rolling.get("maxSurge"), rolling.get("maxUnavailable")


def max_surge(d: Mapping[str, Any]) -> int:
    if not is_rolling(d):
        return 0
    return resolve_fenceposts(*_rolling_params(d), desired(d))[0]


def max_unavailable(d: Mapping[str, Any]) -> int:
    if not is_rolling(d) or desired(d) == 0:
        return 0
    unavailable = resolve_fenceposts(*_rolling_params(d), desired(d))[1]
    return min(unavailable, desired(d))


# -- which ReplicaSet is new -----------------------------------------------------------------

def _without_hash(template: Mapping[str, Any]) -> Obj:
    t = copy.deepcopy(dict(template))
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(TEMPLATE_HASH_LABEL, None)
    return t


def equal_ignore_hash(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Templates equal up to the pod-template-hash label (kube's EqualIgnoreHash)."""
    return _without_hash(a) == _without_hash(b)


def by_creation(sets: Iterable[Obj]) -> list[Obj]:
    return sorted(sets, key=lambda rs: (created_at(rs), rs["metadata"].get("name", "")))


def find_new_and_old(d: Mapping[str, Any], sets: list[Obj]) -> tuple[Obj | None, list[Obj]]:
    """The oldest ReplicaSet whose template matches the Deployment's, and the others."""
    template = spec(d).get("template") or {}
    new = next((rs for rs in by_creation(sets)
                if equal_ignore_hash(spec(rs).get("template") or {}, template)), None)
    return new, [rs for rs in sets if rs is not new]


def active(sets: Iterable[Obj | None]) -> list[Obj]:
    return [rs for rs in sets if rs is not None and rs_replicas(rs) > 0]


# -- revisions and annotations ---------------------------------------------------------------

def max_revision(sets: Iterable[Obj]) -> int:
    return max((revision(rs) for rs in sets), default=0)


def replicas_annotations(d: Mapping[str, Any]) -> dict[str, str]:
    return {DESIRED_REPLICAS: str(desired(d)), MAX_REPLICAS: str(desired(d) + max_surge(d))}


def new_rs_annotations(d: Mapping[str, Any], current: Mapping[str, str], new_revision: int,
                       exists: bool) -> dict[str, str]:
    """kube's SetNewReplicaSetAnnotations: the Deployment's own annotations, the revision
    (moving the old one into revision-history when a ReplicaSet is reused, as on
    rollback) and, for a new ReplicaSet, the replica annotations."""
    out = dict(current)
    for k, v in annotations_of(d).items():
        if k not in _SKIPPED_ANNOTATIONS:
            out[k] = v
    old = out.get(REVISION, "")
    try:
        old_number = int(old) if old else 0
    except ValueError:
        old_number = 0
    if old_number < new_revision:
        out[REVISION] = str(new_revision)
        if old:
            history = [h for h in out.get(REVISION_HISTORY, "").split(",") if h]
            out[REVISION_HISTORY] = ",".join(history + [old])
    if not exists:
        out.update(replicas_annotations(d))
    return out


def is_scaling_event(d: Mapping[str, Any], sets: Iterable[Obj | None]) -> bool:
    """A replicas change with no template change: some active set was sized for another
    `spec.replicas` (kube reads the desired-replicas annotation)."""
    for rs in active(sets):
        value = annotations_of(rs).get(DESIRED_REPLICAS)
        if value is not None and value.isdigit() and int(value) != desired(d):
            return True
    return False


def history_to_delete(d: Mapping[str, Any], old_sets: list[Obj]) -> list[Obj]:
    """Old, fully scaled-down ReplicaSets beyond revisionHistoryLimit, oldest revision
    first (kube's cleanupDeployment)."""
    limit = spec(d).get("revisionHistoryLimit")
    if limit is None:
        return []
    alive = [rs for rs in old_sets if not rs["metadata"].get("deletionTimestamp")]
    excess = len(alive) - int(limit)
    if excess <= 0:
        return []
    ordered = sorted(alive, key=lambda rs: (revision(rs), created_at(rs)))
    out = []
    for rs in ordered[:excess]:
        observed = int((rs.get("status") or {}).get("observedGeneration") or 0)
        if rs_status(rs, "replicas") or rs_replicas(rs) or \
                int(rs["metadata"].get("generation", 1)) > observed:
            continue
        out.append(rs)
    return out


# -- rolling update steps --------------------------------------------------------------------

def new_rs_replicas(d: Mapping[str, Any], all_sets: list[Obj], new_rs: Obj | None) -> int:
    """The size the new ReplicaSet may grow to now (kube's NewRSNewReplicas)."""
    want = desired(d)
    if not is_rolling(d):
        return want
    current_new = rs_replicas(new_rs)
    current_total = sum(rs_replicas(rs) for rs in all_sets)
    ceiling = want + max_surge(d)
    if current_total >= ceiling:
        return current_new
    grow = min(ceiling - current_total, want - current_new)
    return current_new + max(0, grow)


def old_scale_down(d: Mapping[str, Any], all_sets: list[Obj], old_sets: list[Obj],
                   new_rs: Obj | None) -> dict[str, int]:
    """New sizes of old ReplicaSets for one rolling step (kube's reconcileOldReplicaSets):
    first unhealthy old pods go (they add no availability), then healthy ones, but never
    below `replicas - maxUnavailable` available pods."""
    if sum(rs_replicas(rs) for rs in old_sets) == 0:
        return {}
    all_pods = sum(rs_replicas(rs) for rs in all_sets)
    min_available = desired(d) - max_unavailable(d)
    new_unavailable = rs_replicas(new_rs) - rs_available(new_rs)
    budget = all_pods - min_available - new_unavailable
    if budget <= 0:
        return {}
    sizes = {rs["metadata"]["name"]: rs_replicas(rs) for rs in old_sets}
    ordered = by_creation(old_sets)
    # Unhealthy old pods first: removing them costs no availability.
    cleaned = 0
    for rs in ordered:
        name = rs["metadata"]["name"]
        unhealthy = sizes[name] - rs_available(rs)
        if cleaned >= budget:
            break
        if sizes[name] == 0 or unhealthy <= 0:
            continue
        step = min(budget - cleaned, unhealthy)
        sizes[name] -= step
        cleaned += step
    # Then available ones, as far as availability allows.
    available = sum(rs_available(rs) for rs in all_sets)
    if available > min_available:
        total = available - min_available
        done = 0
        for rs in ordered:
            name = rs["metadata"]["name"]
            if done >= total:
                break
            if sizes[name] == 0:
                continue
            step = min(sizes[name], total - done)
            sizes[name] -= step
            done += step
    return {name: size for name, size in sizes.items()
            if size != rs_replicas(next(r for r in old_sets if r["metadata"]["name"] == name))}


def _round(x: float) -> int:
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def _fraction(rs: Obj, d: Mapping[str, Any]) -> int:
    if desired(d) == 0:
        return -rs_replicas(rs)
    deployment_replicas = desired(d) + max_surge(d)
    try:
        annotated = int(annotations_of(rs)[MAX_REPLICAS])
    except (KeyError, ValueError):
        annotated = int((d.get("status") or {}).get("replicas") or 0)
    if annotated == 0:
        return 0
    return _round(rs_replicas(rs) * deployment_replicas / annotated) - rs_replicas(rs)


def scale_plan(d: Mapping[str, Any], new_rs: Obj | None, old_sets: list[Obj]) -> dict[str, int]:
    """New sizes when only `spec.replicas` changed (kube's scale): one active set takes it
    all; with several mid-rollout, the change is shared in proportion to their size."""
    want = desired(d)
    live = active([new_rs, *old_sets])
    lead: Obj | None
    if not live:
        lead = new_rs if new_rs is not None else (by_creation(old_sets)[-1] if old_sets
                                                  else None)
    elif len(live) == 1:
        lead = live[0]
    else:
        lead = None
    if lead is not None:
        return {} if rs_replicas(lead) == want else {lead["metadata"]["name"]: want}
    if new_rs is not None and rs_replicas(new_rs) == want and \
            annotations_of(new_rs).get(DESIRED_REPLICAS) == str(want) and \
            rs_status(new_rs, "availableReplicas") == want:
        return {rs["metadata"]["name"]: 0 for rs in active(old_sets)}
    if not is_rolling(d):
        return {}
    allowed = want + max_surge(d) if want > 0 else 0
    to_add = allowed - sum(rs_replicas(rs) for rs in live)
    if to_add > 0:  # bigger first, newer first among equals
        live.sort(key=lambda rs: created_at(rs), reverse=True)
        live.sort(key=rs_replicas, reverse=True)
    elif to_add < 0:  # bigger first, older first among equals
        live.sort(key=lambda rs: created_at(rs))
        live.sort(key=rs_replicas, reverse=True)
    sizes = {rs["metadata"]["name"]: rs_replicas(rs) for rs in live}
    if to_add == 0:
        return {}
    added = 0
    for rs in live:
        if to_add == added or rs_replicas(rs) == 0:
            continue
        share = _fraction(rs, d)
        allowed_left = to_add - added
        share = min(share, allowed_left) if to_add > 0 else max(share, allowed_left)
        sizes[rs["metadata"]["name"]] += share
        added += share
    first = live[0]["metadata"]["name"]
    sizes[first] = max(0, sizes[first] + to_add - added)
    return {name: size for name, size in sizes.items()
            if size != rs_replicas(next(r for r in live if r["metadata"]["name"] == name))}


def saturated(d: Mapping[str, Any], rs: Obj | None) -> bool:
    return rs is not None and rs_replicas(rs) == desired(d) and \
        annotations_of(rs).get(DESIRED_REPLICAS) == str(desired(d)) and \
        rs_status(rs, "availableReplicas") == desired(d)


# -- status ----------------------------------------------------------------------------------

def calculate_status(d: Mapping[str, Any], all_sets: list[Obj], new_rs: Obj | None,
                     now: str | None = None) -> Obj:
    """kube's calculateStatus: counts summed over the ReplicaSets, plus `Available`."""
    old = d.get("status") or {}
    available = sum(rs_status(rs, "availableReplicas") for rs in all_sets)
    total = sum(rs_replicas(rs) for rs in all_sets)
    status: Obj = {
        "observedGeneration": (d.get("metadata") or {}).get("generation", 1),
        "replicas": sum(rs_status(rs, "replicas") for rs in all_sets),
        "updatedReplicas": rs_status(new_rs, "replicas"),
        "readyReplicas": sum(rs_status(rs, "readyReplicas") for rs in all_sets),
        "availableReplicas": available,
        "unavailableReplicas": max(0, total - available),
        "conditions": copy.deepcopy(old.get("conditions") or []),
    }
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if available >= desired(d) - max_unavailable(d):
        set_condition(status, "Available", "True", MIN_AVAILABLE,
                      "Deployment has minimum availability.", now)
    else:
        set_condition(status, "Available", "False", MIN_UNAVAILABLE,
                      "Deployment does not have minimum availability.", now)
    _stamp_update_times(status)
    return status


def _stamp_update_times(status: Obj) -> None:
    # Deployment conditions carry lastUpdateTime as well as lastTransitionTime.
    for c in status.get("conditions") or []:
        c.setdefault("lastUpdateTime", c.get("lastTransitionTime"))


def complete(d: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    want = desired(d)
    return (int(status.get("updatedReplicas") or 0) == want
            and int(status.get("replicas") or 0) == want
            and int(status.get("availableReplicas") or 0) == want
            and int(status.get("observedGeneration") or 0) >= int(
                (d.get("metadata") or {}).get("generation", 1)))


def progressing(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    def n(s: Mapping[str, Any], k: str) -> int:
        return int(s.get(k) or 0)
    return (n(new, "updatedReplicas") > n(old, "updatedReplicas")
            or n(new, "replicas") < n(old, "replicas")
            or n(new, "readyReplicas") > n(old, "readyReplicas")
            or n(new, "availableReplicas") > n(old, "availableReplicas"))


def deadline(d: Mapping[str, Any]) -> int | None:
    value = spec(d).get("progressDeadlineSeconds")
    # kube treats MaxInt32 as "no deadline".
    if value is None or int(value) >= 2**31 - 1:
        return None
    return int(value)


def timed_out(d: Mapping[str, Any], status: Mapping[str, Any], now: datetime) -> bool:
    limit = deadline(d)
    cond = condition({"status": status}, "Progressing")
    if limit is None or cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    since = cond.get("lastUpdateTime") or cond.get("lastTransitionTime")
    return isinstance(since, str) and bool(since) and \
        parse_time(since) + timedelta(seconds=limit) < now


def rollout_status(d: Mapping[str, Any], all_sets: list[Obj], new_rs: Obj | None,
                   now: datetime | None = None) -> Obj:
    """kube's syncRolloutStatus: the counts plus a Progressing condition that says whether
    the rollout completed, moved, or passed its progress deadline."""
    moment = now or datetime.now(timezone.utc)
    stamp = now_rfc3339(moment)
    old = dict(d.get("status") or {})
    status = calculate_status(d, all_sets, new_rs, stamp)
    if deadline(d) is None:
        status["conditions"] = [c for c in status["conditions"]
                                if c.get("type") != "Progressing"]
        return status
    current = condition(status, "Progressing")
    done = (int(status.get("replicas") or 0) == int(status.get("updatedReplicas") or 0)
            and current is not None and current.get("reason") == NEW_RS_AVAILABLE)
    name = (new_rs or {}).get("metadata", {}).get("name", "")
    if not done:
        if complete(d, status):
            set_condition(status, "Progressing", "True", NEW_RS_AVAILABLE,
                          f'ReplicaSet "{name}" has successfully progressed.', stamp)
        elif progressing(old, status):
            _set_progressing_moved(status, name, stamp)
        elif timed_out(d, status, moment):
            set_condition(status, "Progressing", "False", TIMED_OUT,
                          f'ReplicaSet "{name}" has timed out progressing.', stamp)
    _stamp_update_times(status)
    return status


def _set_progressing_moved(status: Obj, name: str, stamp: str) -> None:
    # Progress refreshes lastUpdateTime (the deadline counts from it) even when the
    # reason and message stay the same.
    set_condition(status, "Progressing", "True", RS_UPDATED,
                  f'ReplicaSet "{name}" is progressing.', stamp)
    for c in status["conditions"]:
        if c.get("type") == "Progressing":
            c["lastUpdateTime"] = stamp


def seconds_to_deadline(d: Mapping[str, Any], status: Mapping[str, Any],
                        now: datetime) -> float | None:
    """When to look again so a stalled rollout is marked ProgressDeadlineExceeded."""
    limit = deadline(d)
    cond = condition({"status": status}, "Progressing")
    if limit is None or cond is None or cond.get("reason") in (NEW_RS_AVAILABLE, TIMED_OUT):
        return None
    if complete(d, status):
        return None
    since = cond.get("lastUpdateTime") or cond.get("lastTransitionTime")
    if not isinstance(since, str) or not since:
        return None
    left = (parse_time(since) + timedelta(seconds=limit) - now).total_seconds()
    return max(1.0, left + 1.0)


def paused_condition(d: Mapping[str, Any], status: Obj, now: str | None = None) -> bool:
    """kube's checkPausedConditions; returns whether the status changed."""
    if deadline(d) is None:
        return False
    cond = condition({"status": status}, "Progressing")
    paused = bool(spec(d).get("paused"))
    if paused and (cond is None or cond.get("reason") != PAUSED):
        return set_condition(status, "Progressing", "Unknown", PAUSED, "Deployment is paused",
                             now)
    if not paused and cond is not None and cond.get("reason") == PAUSED:
        return set_condition(status, "Progressing", "Unknown", RESUMED,
                             "Deployment is resumed", now)
    return False
