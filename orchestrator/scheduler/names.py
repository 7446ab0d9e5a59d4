"""Names the scheduler shares with the runtime, the API and users' manifests."""

from __future__ import annotations

CPU = "cpu"
MEMORY = "memory"
PODS = "pods"

GPU = "nvidia.com/gpu"
GPU_MILLI = "daskhub-lite.io/gpu-milli"
MIG_PREFIX = "nvidia.com/mig-"
MILLI_PER_GPU = 1000

GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_MEMORY_LABEL = "nvidia.com/gpu.memory"
GPU_COUNT_LABEL = "nvidia.com/gpu.count"
HOSTNAME_LABEL = "kubernetes.io/hostname"

GPU_DEVICES_ANNOTATION = "daskhub-lite.io/gpu-devices"
GPU_MODELS_ANNOTATION = "daskhub-lite.io/gpu-models"
POD_GROUP_LABEL = "daskhub-lite.io/pod-group"
MIN_MEMBER_ANNOTATION = "daskhub-lite.io/min-member"
VOLCANO_GROUP_ANNOTATION = "scheduling.k8s.io/group-name"

UNSCHEDULABLE_TAINT_KEY = "node.kubernetes.io/unschedulable"
DEFAULT_SCHEDULER_NAME = "default-scheduler"
