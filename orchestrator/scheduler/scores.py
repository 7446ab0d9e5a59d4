"""Simple score plugins: best fit, and keeping CPU-only pods off GPU nodes."""

from __future__ import annotations

from . import names
from .devices import DeviceAssignment
from .podinfo import PodInfo
from .state import NodeState


class BestFit:
    """Prefer the node left with the least free CPU and GPU (equal weights), as in the FGD
    paper's best-fit baseline; normalised by the largest node shape it was tuned for."""

    name = "BestFit"

    def __init__(self, max_cpu_milli: int = 128_000, max_gpu_milli: int = 8_000) -> None:
        self.max_cpu = max_cpu_milli
        self.max_gpu = max_gpu_milli

    def score(self, pod: PodInfo, node: NodeState, devices: DeviceAssignment) -> float:
        cpu_left = node.free_cpu - pod.cpu
        gpu_left = node.gpu_free_total - pod.gpu.total_milli
        return -(0.5 * cpu_left / self.max_cpu + 0.5 * gpu_left / self.max_gpu)


class GpuNodeAvoidance:
    """CPU-only pods prefer nodes without GPUs, keeping GPU nodes' CPU for GPU work."""

    name = "GpuNodeAvoidance"

    def score(self, pod: PodInfo, node: NodeState, devices: DeviceAssignment) -> float:
        if pod.gpu.count == 0 and node.info.gpus:
            return -1.0
        return 0.0


class LeastDeviceShare:
    """Among equally good devices for a share, prefer the fullest one that fits (best fit
    inside the node); only ever a tie-breaker."""

    name = "LeastDeviceShare"

    def score(self, pod: PodInfo, node: NodeState, devices: DeviceAssignment) -> float:
        if not pod.gpu.shared or not devices:
            return 0.0
        index = devices[0][0]
        return -float(node.gpu_free[index] - pod.gpu.milli) / names.MILLI_PER_GPU
