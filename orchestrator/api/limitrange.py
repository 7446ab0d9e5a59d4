"""LimitRange semantics, pure (kube's plugin/pkg/admission/limitranger):

- `apply_defaults(limit_range, pod)`: containers that omit a resource get the range's
  `default` (limits) and `defaultRequest` (requests) of its Container items; the pod is
  annotated `kubernetes.io/limit-ranger: LimitRanger plugin set: cpu request for container c`;
- `pod_problems` / `claim_problems`: `min`, `max` and `maxLimitRequestRatio` of Container and
  Pod items (a Pod item sees the pod's summed requests and limits), `min`/`max` of
  PersistentVolumeClaim items over `spec.resources.requests`, with kube's messages
  (`minimum cpu usage per Container is 100m, but request is 50m`);
- `aggregate`: several problems read as kube's error aggregate, `[first, second]`.

Quantities compare as kube compares them: in thousandths (rounded up) while that fits in
64 bits, else in whole units.
"""

from __future__ import annotations

from typing import Any, Mapping, MutableMapping, Sequence

from orchestrator.api.quantity import QuantityError, canonical_quantity, to_int, to_milli
from orchestrator.api.quota.pods import pod_limits, pod_requests

Obj = Mapping[str, Any]
ANNOTATION = "kubernetes.io/limit-ranger"
CONTAINER, POD, CLAIM = "Container", "Pod", "PersistentVolumeClaim"
_MAX_MILLI = (2**63 - 1) // 1000


def _items(limit_range: Obj) -> list[Obj]:
    spec = limit_range.get("spec") or {}
    return [i for i in spec.get("limits") or [] if isinstance(i, dict)]


def _list(raw: Any) -> dict[str, str]:
    return {str(k): v for k, v in raw.items()} if isinstance(raw, dict) else {}


def _text(value: Any) -> str:
    try:
        return canonical_quantity(value)
    except QuantityError:
        return str(value)


# -- defaults -----------------------------------------------------------------------------

def container_defaults(limit_range: Obj) -> tuple[dict[str, Any], dict[str, Any]]:
    """(default requests, default limits) from the range's Container items."""
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    for item in _items(limit_range):
        if item.get("type") == CONTAINER:
            requests.update(_list(item.get("defaultRequest")))
            limits.update(_list(item.get("default")))
    return requests, limits


def _merge(container: MutableMapping[str, Any], requests: Mapping[str, Any],
           limits: Mapping[str, Any], what: str) -> list[str]:
    resources = container.get("resources")
    if not isinstance(resources, dict):
        resources = container["resources"] = {}
    notes = []
    for key, defaults, word in (("requests", requests, "request"), ("limits", limits, "limit")):
        if not defaults:
            continue
        current = resources.get(key)
        if not isinstance(current, dict):
            current = resources[key] = {}
        added = sorted(name for name in defaults if name not in current)
        for name in added:
            current[name] = defaults[name]
        if added:
            notes.append(f"{', '.join(added)} {word} for {what} {container.get('name', '')}")
    return notes


def apply_defaults(limit_range: Obj, pod: MutableMapping[str, Any]) -> bool:
    """Fill the range's container defaults into `pod` in place; whether anything was set."""
    requests, limits = container_defaults(limit_range)
    if not requests and not limits:
        return False
    spec = pod.get("spec")
    if not isinstance(spec, MutableMapping):
        return False
    notes: list[str] = []
    for key, what in (("containers", "container"), ("initContainers", "init container")):
        for container in spec.get(key) or []:
            if isinstance(container, MutableMapping):
                notes += _merge(container, requests, limits, what)
    if not notes:
        return False
    md = pod.setdefault("metadata", {})
    annotations = md.get("annotations")
    if not isinstance(annotations, MutableMapping):
        annotations = md["annotations"] = {}
    annotations[ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)
    return True


# -- constraints --------------------------------------------------------------------------

def _values(*quantities: Any) -> list[int]:
    """kube's requestLimitEnforcedValues: milli-units unless one would overflow them."""
    present = [q for q in quantities if q is not None]
    if all(to_int(q) <= _MAX_MILLI for q in present):
        return [to_milli(q) if q is not None else 0 for q in quantities]
    return [to_int(q) if q is not None else 0 for q in quantities]


def _minimum(kind: str, name: str, enforced: Any, requests: Obj, limits: Obj) -> str | None:
    req, lim = requests.get(name), limits.get(name)
    observed_req, observed_lim, want = _values(req, lim, enforced)
    if req is None:
        return f"minimum {name} usage per {kind} is {_text(enforced)}.  No request is specified"
    if observed_req < want:
        return f"minimum {name} usage per {kind} is {_text(enforced)}, but request is {_text(req)}"
    if lim is not None and observed_lim < want:
        return f"minimum {name} usage per {kind} is {_text(enforced)}, but limit is {_text(lim)}"
    return None


def _maximum(kind: str, name: str, enforced: Any, requests: Obj, limits: Obj) -> str | None:
    req, lim = requests.get(name), limits.get(name)
    observed_req, observed_lim, want = _values(req, lim, enforced)
    if lim is None:
        return f"maximum {name} usage per {kind} is {_text(enforced)}.  No limit is specified"
    if observed_lim > want:
        return f"maximum {name} usage per {kind} is {_text(enforced)}, but limit is {_text(lim)}"
    if req is not None and observed_req > want:
        return f"maximum {name} usage per {kind} is {_text(enforced)}, but request is {_text(req)}"
    return None


def _maximum_request(kind: str, name: str, enforced: Any, requests: Obj) -> str | None:
    req = requests.get(name)
    observed_req, want = _values(req, enforced)
    if req is None:
        return f"maximum {name} usage per {kind} is {_text(enforced)}.  No request is specified"
    if observed_req > want:
        return f"maximum {name} usage per {kind} is {_text(enforced)}, but request is {_text(req)}"
    return None


def _ratio(kind: str, name: str, enforced: Any, requests: Obj, limits: Obj) -> str | None:
    req, lim = requests.get(name), limits.get(name)
    observed_req, observed_lim = _values(req, lim, enforced)[:2]
    head = f"{name} max limit to request ratio per {kind} is {_text(enforced)}"
    if req is None or observed_req == 0:
        return f"{head}, but no request is specified or request is 0"
    if lim is None or observed_lim == 0:
        return f"{head}, but no limit is specified or limit is 0"
    ratio = observed_lim / observed_req
    shown = ratio
    allowed = float(to_int(enforced))
    if to_int(enforced) <= _MAX_MILLI:
        ratio, allowed = ratio * 1000, float(to_milli(enforced))
    if ratio > allowed:
        return f"{head}, but provided ratio is {shown:f}"
    return None


def _check(kind: str, item: Obj, requests: Obj, limits: Obj) -> list[str]:
    out: list[str | None] = []
    out += [_minimum(kind, n, v, requests, limits) for n, v in sorted(_list(item.get("min")).items())]
    out += [_maximum(kind, n, v, requests, limits) for n, v in sorted(_list(item.get("max")).items())]
    out += [_ratio(kind, n, v, requests, limits)
            for n, v in sorted(_list(item.get("maxLimitRequestRatio")).items())]
    return [p for p in out if p]


def _container_lists(container: Obj) -> tuple[dict[str, str], dict[str, str]]:
    resources = container.get("resources") or {}
    return _list(resources.get("requests")), _list(resources.get("limits"))


def pod_problems(limit_range: Obj, pod: Obj) -> list[str]:
    spec = pod.get("spec") or {}
    problems: list[str] = []
    for item in _items(limit_range):
        if item.get("type") == CONTAINER:
            for key in ("containers", "initContainers"):
                for container in spec.get(key) or []:
                    if isinstance(container, dict):
                        problems += _check(CONTAINER, item, *_container_lists(container))
        elif item.get("type") == POD:
            requests = {k: str(v) for k, v in pod_requests(pod, overhead=False).items()}
            limits = {k: str(v) for k, v in pod_limits(pod, overhead=False).items()}
            problems += _check(POD, item, requests, limits)
    return problems


def claim_problems(limit_range: Obj, claim: Obj) -> list[str]:
    requests = _list(((claim.get("spec") or {}).get("resources") or {}).get("requests"))
    problems: list[str | None] = []
    for item in _items(limit_range):
        if item.get("type") != CLAIM:
            continue
        problems += [_minimum(CLAIM, n, v, requests, {})
                     for n, v in sorted(_list(item.get("min")).items())]
        problems += [_maximum_request(CLAIM, n, v, requests)
                     for n, v in sorted(_list(item.get("max")).items())]
    return [p for p in problems if p]


def aggregate(problems: Sequence[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): one message as it is, several deduplicated in
    `[a, b]`."""
    unique = list(dict.fromkeys(problems))
    if len(unique) == 1:
        return unique[0]
    return "[" + ", ".join(unique) + "]"
