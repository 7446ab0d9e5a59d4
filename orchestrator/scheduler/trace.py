"""The openb trace format (Alibaba cluster-trace-gpu-v2023): reading rows, and turning them
into the real Node and Pod objects the scheduler reads everywhere else."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from . import names

NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")
POD_COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli")
# The published replays gave every node room for 1001 pods, i.e. no pod-count limit.
TRACE_MAX_PODS = 1001


class TraceError(ValueError):
    """A malformed trace file or row; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class TraceNode:
    name: str
    cpu_milli: int
    memory_mib: int
    gpus: int
    model: str


@dataclass(frozen=True, slots=True)
class TracePod:
    name: str
    cpu_milli: int
    memory_mib: int
    num_gpu: int
    gpu_milli: int
    gpu_spec: tuple[str, ...] = ()

    @property
    def gpu_request_milli(self) -> int:
        return self.num_gpu * self.gpu_milli


def _rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as err:
        raise TraceError(f"{path}: cannot read: {err.strerror}") from None
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise TraceError(f"{path}:1: empty file; expected a header with {', '.join(required)}")
        header = [h.strip() for h in header]
        missing = [c for c in required if c not in header]
        if missing:
            raise TraceError(f"{path}:1: header lacks column(s) {', '.join(missing)}")
        for row in reader:
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise TraceError(f"{path}:{line}: expected {len(header)} fields, found {len(row)}")
            yield line, dict(zip(header, (cell.strip() for cell in row)))


def _int(path: Path, line: int, row: dict[str, str], column: str) -> int:
    text = row[column]
    try:
        value = int(text)
    except ValueError:
        raise TraceError(f"{path}:{line}: column {column} must be a whole number, got {text!r}") from None
    if value < 0:
        raise TraceError(f"{path}:{line}: column {column} must not be negative, got {value}")
    return value


def read_nodes(path: str | Path) -> list[TraceNode]:
    path = Path(path)
    nodes: list[TraceNode] = []
    for line, row in _rows(path, NODE_COLUMNS):
        if not row["sn"]:
            raise TraceError(f"{path}:{line}: column sn (node name) is empty")
        nodes.append(TraceNode(row["sn"], _int(path, line, row, "cpu_milli"),
                               _int(path, line, row, "memory_mib"), _int(path, line, row, "gpu"),
                               row["model"]))
    return nodes


def read_pods(path: str | Path) -> list[TracePod]:
    path = Path(path)
    pods: list[TracePod] = []
    for line, row in _rows(path, POD_COLUMNS):
        count = _int(path, line, row, "num_gpu")
        share = _int(path, line, row, "gpu_milli")
        if not row["name"]:
            raise TraceError(f"{path}:{line}: column name is empty")
        if count == 0 and share != 0:
            raise TraceError(f"{path}:{line}: gpu_milli is {share} but num_gpu is 0")
        if count > 0 and not 0 < share <= names.MILLI_PER_GPU:
            raise TraceError(f"{path}:{line}: gpu_milli must be 1..1000 when num_gpu > 0, got {share}")
        if count > 1 and share != names.MILLI_PER_GPU:
            raise TraceError(f"{path}:{line}: a pod with {count} GPUs must take whole GPUs "
                             f"(gpu_milli 1000), got {share}")
        spec = tuple(m for m in row.get("gpu_spec", "").split("|") if m)
        pods.append(TracePod(row["name"], _int(path, line, row, "cpu_milli"),
                             _int(path, line, row, "memory_mib"), count, share, spec))
    return pods


def node_object(node: TraceNode, max_pods: int = TRACE_MAX_PODS) -> dict[str, Any]:
    """The Node a GPU node pool would register for this row (untainted: in the trace, CPU-only
    pods run on GPU nodes, so a GPU taint would change the experiment)."""
    resources = {names.CPU: f"{node.cpu_milli}m", names.MEMORY: f"{node.memory_mib}Mi",
                 names.PODS: str(max_pods)}
    labels = {names.HOSTNAME_LABEL: node.name}
    if node.gpus:
        resources[names.GPU] = str(node.gpus)
        labels[names.GPU_PRODUCT_LABEL] = node.model
        labels[names.GPU_COUNT_LABEL] = str(node.gpus)
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": node.name, "labels": labels},
            "status": {"capacity": dict(resources), "allocatable": resources}}


def pod_object(pod: TracePod, name: str | None = None, namespace: str = "default") -> dict[str, Any]:
    """The Pod a user would submit for this row: whole GPUs through `nvidia.com/gpu`, shares
    through `daskhub-lite.io/gpu-milli`, GPU models through the annotation shorthand."""
    requests = {names.CPU: f"{pod.cpu_milli}m", names.MEMORY: f"{pod.memory_mib}Mi"}
    if pod.num_gpu and pod.gpu_milli == names.MILLI_PER_GPU:
        requests[names.GPU] = str(pod.num_gpu)
    elif pod.num_gpu:
        requests[names.GPU_MILLI] = str(pod.gpu_milli)
    metadata: dict[str, Any] = {"name": name or pod.name, "namespace": namespace}
    if pod.gpu_spec:
        metadata["annotations"] = {names.GPU_MODELS_ANNOTATION: "|".join(pod.gpu_spec)}
    container = {"name": "main", "image": "trace", "resources": {"requests": requests,
                                                                  "limits": dict(requests)}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
            "spec": {"containers": [container]}}
