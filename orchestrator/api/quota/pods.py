"""What a pod costs, for quota and limit ranges (kube's pkg/quota/v1/evaluator/core/pods.go
and component-helpers' PodRequests/PodLimits, QoS from pkg/apis/core/v1/helper/qos).

- `pod_requests` / `pod_limits`: the pod's effective resources: containers summed, sidecars
  (init containers with `restartPolicy: Always`) added, each ordinary init container a floor,
  `spec.overhead` on top; pod-level `spec.resources` override cpu and memory.
- `usage`: the quota resource list a pod charges: `pods`, `count/pods`, `cpu`/`requests.cpu`,
  `limits.*`, `ephemeral-storage`, hugepages and `requests.<extended>` (`nvidia.com/gpu`).
  Terminal pods (Succeeded, Failed) and pods past their deletion grace period charge only
  `count/pods`, which counts every pod object in storage.
- `matches_scope`: Terminating, NotTerminating, BestEffort, NotBestEffort, PriorityClass
  (In, NotIn, Exists, DoesNotExist), CrossNamespacePodAffinity.
- `constraints`: the old rule that a quota on cpu or memory makes every container say how
  much (`must specify limits.cpu for: c; ...`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from orchestrator.api.quota.amounts import Amount, ResourceList, add, parse_list

Obj = Mapping[str, Any]

REQUESTS_PREFIX = "requests."
LIMITS_PREFIX = "limits."
HUGEPAGES_PREFIX = "hugepages-"
# The pod resources a quota can name (besides hugepages and requests.<extended>).
POD_RESOURCES = frozenset({
    "count/pods", "pods", "cpu", "memory", "ephemeral-storage", "requests.cpu",
    "requests.memory", "requests.ephemeral-storage", "limits.cpu", "limits.memory",
    "limits.ephemeral-storage"})
# A quota on one of these makes every container state it (kube calls this a mistake, kept
# for compatibility; extended resources never joined the list).
MUST_SPECIFY = frozenset({"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu",
                          "limits.memory"})
POD_LEVEL_RESOURCES = ("cpu", "memory")
QOS_RESOURCES = ("cpu", "memory")

SCOPE_TERMINATING = "Terminating"
SCOPE_NOT_TERMINATING = "NotTerminating"
SCOPE_BEST_EFFORT = "BestEffort"
SCOPE_NOT_BEST_EFFORT = "NotBestEffort"
SCOPE_PRIORITY_CLASS = "PriorityClass"
SCOPE_CROSS_NAMESPACE_AFFINITY = "CrossNamespacePodAffinity"
POD_SCOPES = (SCOPE_TERMINATING, SCOPE_NOT_TERMINATING, SCOPE_BEST_EFFORT,
              SCOPE_NOT_BEST_EFFORT, SCOPE_PRIORITY_CLASS, SCOPE_CROSS_NAMESPACE_AFFINITY)


# Objects are JSON: `dict` checks, not Mapping's (an ABC check costs on every create).
def _spec(pod: Obj) -> Obj:
    spec = pod.get("spec")
    return spec if isinstance(spec, dict) else {}


def _containers(pod: Obj, key: str) -> list[Obj]:
    return [c for c in _spec(pod).get(key) or [] if isinstance(c, dict)]


def container_resources(container: Obj) -> tuple[ResourceList, ResourceList]:
    """(requests, limits) of one container."""
    res = container.get("resources")
    res = res if isinstance(res, dict) else {}
    return parse_list(res.get("requests")), parse_list(res.get("limits"))


def _max_into(target: ResourceList, other: Mapping[str, Amount]) -> None:
    for name, amount in other.items():
        if name not in target or amount.value > target[name].value:
            target[name] = amount


def _aggregate(pod: Obj, which: int) -> ResourceList:
    """component-helpers' container aggregation for requests (0) or limits (1)."""
    total: ResourceList = {}
    for c in _containers(pod, "containers"):
        total = add(total, container_resources(c)[which])
    sidecars: ResourceList = {}
    floor: ResourceList = {}
    for c in _containers(pod, "initContainers"):
        own = container_resources(c)[which]
        if c.get("restartPolicy") == "Always":
            total = add(total, own)
            sidecars = add(sidecars, own)
            running = sidecars
        else:
            running = add(own, sidecars)
        _max_into(floor, running)
    _max_into(total, floor)
    return total


def _pod_level(pod: Obj, which: str) -> ResourceList:
    res = _spec(pod).get("resources")
    if not isinstance(res, dict):
        return {}
    return {k: v for k, v in parse_list(res.get(which)).items() if k in POD_LEVEL_RESOURCES}


def pod_level_resources_set(pod: Obj) -> bool:
    return bool(_pod_level(pod, "requests") or _pod_level(pod, "limits"))


def pod_requests(pod: Obj, *, overhead: bool = True) -> ResourceList:
    requests = _aggregate(pod, 0)
    requests.update(_pod_level(pod, "requests"))
    if overhead:
        requests = add(requests, parse_list(_spec(pod).get("overhead")))
    return requests


def pod_limits(pod: Obj, *, overhead: bool = True) -> ResourceList:
    limits = _aggregate(pod, 1)
    limits.update(_pod_level(pod, "limits"))
    if overhead:
        # Overhead only adds to a limit that is set: no limit stays no limit.
        for name, amount in parse_list(_spec(pod).get("overhead")).items():
            if name in limits:
                limits[name] = limits[name] + amount
    return limits


def is_native(name: str) -> bool:
    """A resource Kubernetes itself defines: no domain, or a kubernetes.io one."""
    return "/" not in name or "kubernetes.io/" in name


def is_extended(name: str) -> bool:
    """`nvidia.com/gpu`, `daskhub-lite.io/gpu-milli`: quota names them `requests.<name>`."""
    return not is_native(name) and not name.startswith(REQUESTS_PREFIX)


def is_extended_quota_name(name: str) -> bool:
    return not is_native(name) and name.startswith(REQUESTS_PREFIX)


def compute_usage(requests: Mapping[str, Amount], limits: Mapping[str, Amount]) -> ResourceList:
    """podComputeUsageHelper: the quota names a set of requests and limits charge."""
    out: ResourceList = {"pods": Amount.of(1)}
    for name in ("cpu", "memory", "ephemeral-storage"):
        if name in requests:
            out[name] = out[REQUESTS_PREFIX + name] = requests[name]
        if name in limits:
            out[LIMITS_PREFIX + name] = limits[name]
    for name, amount in requests.items():
        if name.startswith(HUGEPAGES_PREFIX):
            out[name] = out[REQUESTS_PREFIX + name] = amount
        elif is_extended(name):
            out[REQUESTS_PREFIX + name] = amount
    return out


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def charged(pod: Obj, now: datetime) -> bool:
    """Whether the pod's compute resources count (QuotaV1Pod)."""
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        return False
    md = pod.get("metadata") or {}
    deleted = _time(md.get("deletionTimestamp"))
    grace = md.get("deletionGracePeriodSeconds")
    if deleted is not None and isinstance(grace, int) and \
            now > deleted + timedelta(seconds=grace):
        return False  # stuck terminating (a lost node): it must not block new pods
    return True


def usage(pod: Obj, now: datetime) -> ResourceList:
    out: ResourceList = {"count/pods": Amount.of(1)}
    if not charged(pod, now):
        return out
    return add(out, compute_usage(pod_requests(pod), pod_limits(pod)))


def matching_resources(names: Iterable[str]) -> list[str]:
    return [n for n in names if n in POD_RESOURCES or n.startswith(HUGEPAGES_PREFIX)
            or n.startswith(REQUESTS_PREFIX + HUGEPAGES_PREFIX) or is_extended_quota_name(n)]


def qos_class(pod: Obj) -> str:
    """BestEffort, Burstable or Guaranteed (ComputePodQOS): only cpu and memory count, so a
    pod asking for nothing but a GPU is BestEffort."""
    requests: ResourceList = {}
    limits: ResourceList = {}
    guaranteed = True
    if pod_level_resources_set(pod):
        requests = {k: v for k, v in _pod_level(pod, "requests").items() if v.value > 0}
        limits = {k: v for k, v in _pod_level(pod, "limits").items() if v.value > 0}
        guaranteed = set(limits) >= set(QOS_RESOURCES)
    else:
        for c in _containers(pod, "containers") + _containers(pod, "initContainers"):
            own_requests, own_limits = container_resources(c)
            requests = add(requests, {k: v for k, v in own_requests.items()
                                      if k in QOS_RESOURCES and v.value > 0})
            found = {k: v for k, v in own_limits.items() if k in QOS_RESOURCES and v.value > 0}
            limits = add(limits, found)
            if not set(found) >= set(QOS_RESOURCES):
                guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and all(k in limits and limits[k].value == v.value
                          for k, v in requests.items()) and len(requests) == len(limits):
        return "Guaranteed"
    return "Burstable"


def terminating(pod: Obj) -> bool:
    deadline = _spec(pod).get("activeDeadlineSeconds")
    return isinstance(deadline, int) and not isinstance(deadline, bool) and deadline >= 0


def _cross_namespace_affinity(pod: Obj) -> bool:
    affinity = _spec(pod).get("affinity") or {}
    for kind in ("podAffinity", "podAntiAffinity"):
        section = affinity.get(kind) or {}
        terms = list(section.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
        terms += [t.get("podAffinityTerm") or {} for t in
                  section.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
        if any(t.get("namespaces") or t.get("namespaceSelector") is not None for t in terms):
            return True
    return False


def matches_scope(selector: Mapping[str, Any], pod: Obj) -> bool:
    """One scope selector requirement (`scopeName`, `operator`, `values`) against a pod."""
    scope = selector.get("scopeName")
    if scope == SCOPE_TERMINATING:
        return terminating(pod)
    if scope == SCOPE_NOT_TERMINATING:
        return not terminating(pod)
    if scope == SCOPE_BEST_EFFORT:
        return qos_class(pod) == "BestEffort"
    if scope == SCOPE_NOT_BEST_EFFORT:
        return qos_class(pod) != "BestEffort"
    if scope == SCOPE_CROSS_NAMESPACE_AFFINITY:
        return _cross_namespace_affinity(pod)
    if scope == SCOPE_PRIORITY_CLASS:
        klass = str(_spec(pod).get("priorityClassName") or "")
        operator = selector.get("operator")
        values = [str(v) for v in selector.get("values") or []]
        # As a label selector over {"PriorityClass": <class>} (none: no label at all).
        if operator == "Exists":
            return bool(klass)
        if operator == "DoesNotExist":
            return not klass
        if operator == "In":
            return bool(klass) and klass in values
        if operator == "NotIn":
            return not klass or klass not in values
    return False


def constraints(required: Iterable[str], pod: Obj) -> str | None:
    """`must specify limits.cpu for: a,b; requests.memory for: a`, or None."""
    wanted = set(required) & MUST_SPECIFY
    if not wanted or pod_level_resources_set(pod):
        return None
    missing: dict[str, set[str]] = {}
    for c in _containers(pod, "containers") + _containers(pod, "initContainers"):
        has = set(compute_usage(*container_resources(c)))
        for name in wanted - has:
            missing.setdefault(name, set()).add(str(c.get("name", "")))
    if not missing:
        return None
    return "must specify " + "; ".join(
        f"{name} for: {','.join(sorted(missing[name]))}" for name in sorted(missing))
