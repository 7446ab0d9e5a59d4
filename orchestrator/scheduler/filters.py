"""Filter plugins: can this node take this pod at all? Reasons use kube-scheduler's wording."""

from __future__ import annotations

from orchestrator.api.taints import Taint, untolerated_taint

from . import devices as dev
from . import names
from .framework import Scope, Status
from .podinfo import PodInfo
from .state import NodeState

AFFINITY_REASON = "node(s) didn't match Pod's node affinity/selector"
NODE_NAME_REASON = "node(s) didn't match the requested node name"
UNSCHEDULABLE_REASON = "node(s) were unschedulable"
NOMINATED_REASON = "node(s) were held for a preempting pod of equal or higher priority"


class NodeName:
    """`spec.nodeName` pins a pod to one node (the scheduler also short-cuts this case)."""

    name = "NodeName"
    scope: Scope = "shape"  # the scheduler evaluates it per node; see Scheduler._candidates

    def filter(self, pod: PodInfo, node: NodeState) -> Status | None:
        if pod.node_name and pod.node_name != node.name:
            return Status((NODE_NAME_REASON,), self.name, unresolvable=True)
        return None


class NodeUnschedulable:
    """Cordoned nodes take no new pods unless the pod tolerates the unschedulable taint."""

    name = "NodeUnschedulable"
    scope: Scope = "shape"
    _taint = Taint(names.UNSCHEDULABLE_TAINT_KEY, "", "NoSchedule")

    def filter(self, pod: PodInfo, node: NodeState) -> Status | None:
        if node.info.unschedulable and not any(t.tolerates(self._taint) for t in pod.tolerations):
            return Status((UNSCHEDULABLE_REASON,), self.name, unresolvable=True)
        return None


class NodeAffinity:
    """`nodeSelector` and required node-affinity terms (terms are ORed, expressions ANDed)."""

    name = "NodeAffinity"
    scope: Scope = "shape"

    def filter(self, pod: PodInfo, node: NodeState) -> Status | None:
        if pod.node_affinity.matches(node.info.labels, node.name):
            return None
        return Status((AFFINITY_REASON,), self.name, unresolvable=True)


class TaintToleration:
    """NoSchedule/NoExecute taints keep pods off unless tolerated (GPU pods tolerate GPU taints,
    added in `PodInfo.from_pod` as the ExtendedResourceToleration admission plugin does)."""

    name = "TaintToleration"
    scope: Scope = "shape"

    def filter(self, pod: PodInfo, node: NodeState) -> Status | None:
        taint = untolerated_taint(node.info.taints, pod.tolerations)
        if taint is None:
            return None
        return Status((f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}",),
                      self.name, unresolvable=True)


def model_matches(product: str, wanted: frozenset[str]) -> bool:
    """The shorthand names a model the way people say it: `A100` matches the product label
    `A100`, `NVIDIA-A100-SXM4-40GB` and `A100-PCIE-40GB`, by whole dash/space-separated
    words, case-insensitively (`A10` does not match `A100`). The node affinity form on
    `nvidia.com/gpu.product` keeps Kubernetes' exact matching."""
    if product in wanted:
        return True
    words = product.upper().replace(" ", "-").split("-")
    for model in wanted:
        parts = model.upper().replace(" ", "-").split("-")
        n = len(parts)
        if any(words[i:i + n] == parts for i in range(len(words) - n + 1)):
            return True
    return False


class GpuModel:
    """The `daskhub-lite.io/gpu-models: A100|H100` shorthand: only nodes with one of those."""

    name = "GpuModel"
    scope: Scope = "shape"

    def filter(self, pod: PodInfo, node: NodeState) -> Status | None:
        if pod.gpu_models is None or model_matches(node.info.gpu_model, pod.gpu_models):
            return None
        wanted = "|".join(sorted(pod.gpu_models))
        return Status((f"node(s) didn't have the requested GPU model ({wanted})",), self.name,
                      unresolvable=True)


class ResourceFit:
    """cpu, memory, pods, ephemeral storage and extended resources (MIG slices included).
    Whole and shared GPUs are per-device questions, answered by `GpuFit`."""

    name = "NodeResourcesFit"
    scope: Scope = "state"

    def filter(self, pod: PodInfo, node: NodeState) -> Status | None:
        cpu_short = pod.cpu > node.free_cpu
        memory_short = pod.memory > node.free_memory
        if not (cpu_short or memory_short or pod.other_requests or node.free_pods < 1):
            return None  # the common case, decided without building anything
        reasons: list[str] = []
        if node.free_pods < 1:
            reasons.append("Too many pods")
        if cpu_short:
            reasons.append(f"Insufficient {names.CPU}")
        if memory_short:
            reasons.append(f"Insufficient {names.MEMORY}")
        for resource, amount in pod.other_requests:
            if amount > node.free(resource):
                reasons.append(f"Insufficient {resource}")
        return Status(tuple(reasons), self.name) if reasons else None


class GpuFit:
    """Whole GPUs need wholly free devices; a share (1..999 milli) must fit in one device."""

    name = "GpuFit"
    scope: Scope = "state"

    def filter(self, pod: PodInfo, node: NodeState) -> Status | None:
        gpu = pod.gpu
        if gpu.count == 0 or dev.fits(node.gpu_free, gpu.count, gpu.milli):
            return None
        resource = names.GPU_MILLI if gpu.shared else names.GPU
        return Status((f"Insufficient {resource}",), self.name)


class NominatedPods:
    """A node where a pod preempted, while its victims terminate, takes no pod of the same or
    lower priority. kube-scheduler instead adds the nominated pods' requests to the node and
    filters again; holding the node whole is simpler and never lets a smaller pod slip into
    the space before the preemptor binds. Evicting more cannot help: unresolvable."""

    name = "NominatedPods"
    scope: Scope = "state"

    def filter(self, pod: PodInfo, node: NodeState) -> Status | None:
        if node.reserved_for is not None and pod.priority <= node.reserved_for:
            return Status((NOMINATED_REASON,), self.name, unresolvable=True)
        return None


def default_filters() -> list["NodeUnschedulable | NodeAffinity | TaintToleration | GpuModel | ResourceFit | GpuFit | NominatedPods"]:
    """kube-scheduler's order: cheap static checks first, then resources; a held node last,
    so a node that is also full says so."""
    return [NodeUnschedulable(), TaintToleration(), NodeAffinity(), GpuModel(), ResourceFit(),
            GpuFit(), NominatedPods()]


__all__ = ["NodeName", "NodeUnschedulable", "NodeAffinity", "TaintToleration", "GpuModel",
           "ResourceFit", "GpuFit", "NominatedPods", "default_filters"]
