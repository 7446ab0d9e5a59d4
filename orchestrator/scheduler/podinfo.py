"""`PodInfo`: what the scheduler needs to know about a pod, read once from the raw dict.

Requests follow kube-scheduler's rule: the sum over containers (plus restartable init
containers, i.e. sidecars), or the largest init container if that is bigger, plus the pod's
`overhead`. All amounts are integer milli-units (see `quantity`). A pod whose GPU request can
never be satisfied (half a MIG slice, 1500 gpu-milli, ...) gets `request_error` instead of an
exception: it stays Pending with that message, and nothing crashes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from orchestrator.api.nodeaffinity import RequiredNodeAffinity
from orchestrator.api.taints import Toleration, tolerations_of

from . import names
from .devices import DeviceAssignment, parse_device_annotation
from .quantity import format_milli, milli

# Resources Kubernetes allows to be fractional; every other (extended) resource must be whole.
_FRACTIONAL_OK = (names.CPU, names.MEMORY, "ephemeral-storage", "storage")
# Labels that differ on every node: constraints on them defeat node equivalence classes.
_NODE_IDENTITY_KEYS = frozenset({names.HOSTNAME_LABEL, "metadata.name"})


@dataclass(frozen=True, slots=True)
class GpuRequest:
    """`count` devices, each needing `milli` (1000 = a whole device) of a GPU."""

    count: int = 0
    milli: int = 0

    @property
    def shared(self) -> bool:
        return self.count == 1 and 0 < self.milli < names.MILLI_PER_GPU

    @property
    def total_milli(self) -> int:
        return self.count * self.milli


@dataclass(frozen=True, slots=True)
class PodGroupRef:
    name: str
    min_member: int | None  # None: the group size is defined elsewhere (Volcano's PodGroup)


@dataclass(frozen=True, slots=True)
class PodInfo:
    namespace: str
    name: str
    uid: str = ""
    requests: Mapping[str, int] = field(default_factory=dict)
    gpu: GpuRequest = GpuRequest()
    request_error: str | None = None
    node_name: str = ""
    node_affinity: RequiredNodeAffinity = RequiredNodeAffinity()
    gpu_models: frozenset[str] | None = None
    tolerations: tuple[Toleration, ...] = ()
    priority: int = 0
    scheduler_name: str = names.DEFAULT_SCHEDULER_NAME
    group: PodGroupRef | None = None
    devices: DeviceAssignment = ()
    uses_node_identity: bool = False
    # Derived once, read on every filter call: the hot path of a replay.
    key: str = field(init=False)
    cpu: int = field(init=False)
    memory: int = field(init=False)
    other_requests: tuple[tuple[str, int], ...] = field(init=False)
    constraint_key: tuple[Any, ...] = field(init=False)  # what shape-level filters read
    resource_key: tuple[Any, ...] = field(init=False)  # what state-level filters and scores read

    def __post_init__(self) -> None:
        setattr_ = object.__setattr__  # frozen dataclass: derived fields are set once, here
        setattr_(self, "key", f"{self.namespace}/{self.name}")
        setattr_(self, "cpu", self.requests.get(names.CPU, 0))
        setattr_(self, "memory", self.requests.get(names.MEMORY, 0))
        setattr_(self, "other_requests", tuple(sorted(
            (r, a) for r, a in self.requests.items()
            if r not in (names.CPU, names.MEMORY, names.GPU, names.GPU_MILLI))))
        setattr_(self, "constraint_key", (self.node_affinity, self.gpu_models, self.tolerations))
        setattr_(self, "resource_key", (self.cpu, self.memory, self.other_requests, self.gpu))

    @classmethod
    def from_pod(cls, pod: Mapping[str, Any]) -> "PodInfo":
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        labels = meta.get("labels") or {}
        annotations = meta.get("annotations") or {}
        try:
            requests = effective_requests(spec)
            gpu, error = _gpu_request(requests)
        except ValueError as err:
            requests, gpu, error = {}, GpuRequest(), str(err)
        node_affinity = RequiredNodeAffinity.from_pod_spec(spec)
        models, model_error = _gpu_models(annotations.get(names.GPU_MODELS_ANNOTATION))
        error = error or model_error
        tolerations = tolerations_of(spec.get("tolerations"))
        tolerations += _extended_resource_tolerations(requests, tolerations)
        devices: DeviceAssignment = ()
        raw_devices = annotations.get(names.GPU_DEVICES_ANNOTATION)
        if raw_devices:
            try:
                devices = parse_device_annotation(str(raw_devices))
            except ValueError:
                devices = ()  # a bound pod then gets devices re-chosen; see add_bound_pod
        identity = any(key in _NODE_IDENTITY_KEYS for key in node_affinity.keys())
        return cls(
            namespace=str(meta.get("namespace") or "default"),
            name=str(meta.get("name") or ""),
            uid=str(meta.get("uid") or ""),
            requests=requests,
            gpu=gpu,
            request_error=error,
            node_name=str(spec.get("nodeName") or ""),
            node_affinity=node_affinity,
            gpu_models=models,
            tolerations=tolerations,
            priority=int(spec.get("priority") or 0),
            scheduler_name=str(spec.get("schedulerName") or names.DEFAULT_SCHEDULER_NAME),
            group=_pod_group(labels, annotations),
            devices=devices,
            uses_node_identity=identity,
        )


def _container_requests(container: Mapping[str, Any]) -> dict[str, int]:
    resources = container.get("resources") or {}
    # The API server defaults missing requests to limits; do the same for raw manifests.
    merged = dict(resources.get("limits") or {})
    merged.update(resources.get("requests") or {})
    out: dict[str, int] = {}
    for resource, quantity in merged.items():
        try:
            out[str(resource)] = milli(quantity)
        except ValueError:
            raise ValueError(f"container {container.get('name', '')!r}: invalid quantity "
                             f"{quantity!r} for {resource}") from None
    return out


def _add(total: dict[str, int], extra: Mapping[str, int]) -> None:
    for resource, amount in extra.items():
        total[resource] = total.get(resource, 0) + amount


def _max_into(total: dict[str, int], other: Mapping[str, int]) -> None:
    for resource, amount in other.items():
        if amount > total.get(resource, 0):
            total[resource] = amount


def effective_requests(spec: Mapping[str, Any]) -> dict[str, int]:
    """kube-scheduler's pod request: max(containers + sidecars, each init step) + overhead."""
    running: dict[str, int] = {}
    for container in spec.get("containers") or ():
        _add(running, _container_requests(container))
    sidecars: dict[str, int] = {}
    init_peak: dict[str, int] = {}
    for container in spec.get("initContainers") or ():
        req = _container_requests(container)
        if container.get("restartPolicy") == "Always":
            _add(sidecars, req)  # sidecars keep running beside everything that starts after them
            _max_into(init_peak, sidecars)
        else:
            step = dict(sidecars)
            _add(step, req)
            _max_into(init_peak, step)
    _add(running, sidecars)
    _max_into(running, init_peak)
    overhead = {str(k): milli(v) for k, v in (spec.get("overhead") or {}).items()}
    _add(running, overhead)
    return {k: v for k, v in running.items() if v}


def _gpu_request(requests: Mapping[str, int]) -> tuple[GpuRequest, str | None]:
    for resource, amount in requests.items():
        if resource in _FRACTIONAL_OK or resource.startswith("hugepages-") or amount % 1000 == 0:
            continue
        shown = format_milli(resource, amount)
        if resource.startswith(names.MIG_PREFIX):
            return GpuRequest(), (f"{resource}: {shown} is not a whole number of MIG slices; "
                                  "a MIG slice cannot be shared, request 1 or more")
        if resource == names.GPU:
            return GpuRequest(), (f"{resource}: {shown} is not a whole number of GPUs; to share "
                                  f"one GPU request {names.GPU_MILLI} (1..1000) instead")
        return GpuRequest(), f"{resource}: {shown} is not a whole number (extended resources are counted in units)"
    whole = requests.get(names.GPU, 0) // 1000
    shared = requests.get(names.GPU_MILLI, 0) // 1000
    if whole and shared:
        return GpuRequest(), (f"pod requests both {names.GPU} and {names.GPU_MILLI}; "
                              "ask for whole GPUs or one GPU share, not both")
    if shared > names.MILLI_PER_GPU:
        return GpuRequest(), (f"{names.GPU_MILLI}: {shared} is more than one GPU; a shared-GPU "
                              f"request must be 1..1000 (1000 = one whole GPU), request whole "
                              f"GPUs with {names.GPU} instead")
    if whole:
        return GpuRequest(whole, names.MILLI_PER_GPU), None
    if shared:
        return GpuRequest(1, shared), None
    return GpuRequest(), None


def _gpu_models(raw: Any) -> tuple[frozenset[str] | None, str | None]:
    if raw is None:
        return None, None
    models = frozenset(m.strip() for m in str(raw).split("|") if m.strip())
    if not models:
        return None, f"annotation {names.GPU_MODELS_ANNOTATION} is empty; list models like A100|H100"
    return models, None


def _extended_resource_tolerations(requests: Mapping[str, int],
                                   existing: Iterable[Toleration]) -> tuple[Toleration, ...]:
    """What the ExtendedResourceToleration admission plugin adds: GPU pods tolerate GPU taints."""
    keys = {r for r in requests if "/" in r and not r.startswith("kubernetes.io/")}
    if any(r in (names.GPU, names.GPU_MILLI) or r.startswith(names.MIG_PREFIX) for r in keys):
        keys.add(names.GPU)
    have = set(existing)
    added = (Toleration(key=k, operator="Exists", effect="NoSchedule") for k in sorted(keys))
    return tuple(t for t in added if t not in have)


def _pod_group(labels: Mapping[str, Any], annotations: Mapping[str, Any]) -> PodGroupRef | None:
    name = labels.get(names.POD_GROUP_LABEL) or annotations.get(names.VOLCANO_GROUP_ANNOTATION)
    if not name:
        return None
    raw = annotations.get(names.MIN_MEMBER_ANNOTATION)
    try:
        minimum = int(raw) if raw is not None else None
    except (TypeError, ValueError):
        minimum = None
    return PodGroupRef(str(name), minimum if minimum is None or minimum > 0 else None)
