"""The resource metrics API (`metrics.k8s.io/v1beta1`), as metrics-server serves it: pure parts.

- figures: CPU as a rate in nanocores over a window (cumulative CPU time at two moments, as
  metrics-server turns two kubelet scrapes into a rate), memory as the working set in bytes;
- their wire form: `cpu: 12345n` (apimachinery's canonical DecimalSI for a nano-scaled
  quantity, so `12000000n` reads `12m`), `memory: 12345Ki` (canonical BinarySI), `window` as
  Go prints a `time.Duration` (`15.002s`);
- PodMetrics / NodeMetrics objects from the node agents' stats summaries (kubelet's
  `/stats/summary`, stats/v1alpha1 shape) and metrics-server's Table for them.

No I/O here: the node agent measures (orchestrator/runtime/stats.py), the API server asks the
node agents and serves (orchestrator/server/metrics_api.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Mapping, Sequence

from orchestrator.api.errors import BadRequest
from orchestrator.api.resource_type import ResourceType
from orchestrator.api.quantity import format_quantity, parse_quantity

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
# The name metrics-server's APIService registers the group under.
APISERVICE_NAME = f"{VERSION}.{GROUP}"
_READ = ("get", "list")
PODMETRICS = ResourceType(GROUP, VERSION, "PodMetrics", "pods", "podmetrics", True, verbs=_READ)
NODEMETRICS = ResourceType(GROUP, VERSION, "NodeMetrics", "nodes", "nodemetrics", False,
                           verbs=_READ)
TYPES = (NODEMETRICS, PODMETRICS)


# -- figures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One reading of a cumulative CPU counter (nanoseconds of CPU time) at `at` (seconds)."""
    at: float
    cpu_ns: int


def nanocores(earlier: Sample, later: Sample) -> int:
    """CPU use between two readings in nanocores (1e9 = one core busy the whole time).

    A counter that went backwards (a restarted container measured as the same one) or no
    time between the readings gives 0 rather than a negative or infinite rate."""
    elapsed = later.at - earlier.at
    used = later.cpu_ns - earlier.cpu_ns
    if elapsed <= 0 or used <= 0:
        return 0
    return round(used / elapsed)


def window_start(history: Sequence[Sample], now: float, start: Sample,
                 min_window: float = 1.0) -> Sample:
    """The reading a rate at `now` is measured from: the newest earlier reading at least
    `min_window` seconds old (metrics-server's previous scrape), else `start` (the counter's
    zero at the container's start, as metrics-server treats a fresh container)."""
    for sample in reversed(history):
        if sample.at <= now - min_window and sample.at >= start.at:
            return sample
    return start


def ticks_to_ns(ticks: int, clock_ticks_per_second: int) -> int:
    """/proc's clock ticks (USER_HZ) as nanoseconds."""
    return ticks * 1_000_000_000 // max(1, clock_ticks_per_second)


def cpu_quantity(nano: int) -> str:
    """metrics-server's `resource.NewScaledQuantity(n, resource.Nano)`, serialised."""
    return format_quantity(Decimal(max(0, int(nano))).scaleb(-9))


def memory_quantity(size: int) -> str:
    """metrics-server's `resource.NewQuantity(bytes, resource.BinarySI)`, serialised."""
    return format_quantity(Decimal(max(0, int(size))), binary=True)


def go_duration(seconds: float) -> str:
    """`time.Duration.String()`: `0s`, `850ms`, `15.002s`, `1m5s`, `2h0m1.5s`."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign, ns = ("-" if ns < 0 else ""), abs(ns)
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_fraction(ns, 1_000)}µs"
    if ns < 1_000_000_000:
        return f"{sign}{_fraction(ns, 1_000_000)}ms"
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _fraction(rest, 1_000_000_000) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text


def _fraction(value: int, unit: int) -> str:
    whole, part = divmod(value, unit)
    if not part:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{part:0{digits}d}".rstrip("0")


# -- objects from the node agents' summaries ------------------------------------------------


def _usage(stats: Mapping[str, Any]) -> dict[str, str]:
    cpu = stats.get("cpu") or {}
    memory = stats.get("memory") or {}
    return {"cpu": cpu_quantity(int(cpu.get("usageNanoCores") or 0)),
            "memory": memory_quantity(int(memory.get("workingSetBytes") or 0))}


def _window(stats: Mapping[str, Any]) -> float:
    return float(((stats.get("cpu") or {}).get("windowNanoSeconds") or 0)) / 1e9


def _time(stats: Mapping[str, Any], fallback: str) -> str:
    stamp = str((stats.get("cpu") or {}).get("time") or fallback)
    # metav1.Time is whole seconds on the wire.
    return stamp.split(".")[0].rstrip("Z") + "Z" if stamp else fallback


def pod_metrics(pod: Mapping[str, Any], stats: Mapping[str, Any] | None, now: str
                ) -> dict[str, Any] | None:
    """A PodMetrics for `pod` from its entry in a stats summary; None without figures (a pod
    with no running container, or on a node that did not answer), as metrics-server leaves
    such pods out."""
    if stats is None or not stats.get("containers"):
        return None
    md = pod.get("metadata") or {}
    containers = [{"name": c.get("name", ""), "usage": _usage(c)}
                  for c in stats.get("containers") or []]
    windows = [_window(c) for c in stats.get("containers") or []]
    stamps = [_time(c, now) for c in stats.get("containers") or []]
    meta: dict[str, Any] = {"name": md.get("name"), "namespace": md.get("namespace"),
                            "creationTimestamp": now}
    if md.get("labels"):
        meta["labels"] = dict(md["labels"])
    # Like metrics-server: the earliest container reading names the pod's moment.
    return {"kind": "PodMetrics", "apiVersion": API_VERSION, "metadata": meta,
            "timestamp": min(stamps), "window": go_duration(min(windows)),
            "containers": containers}


def node_metrics(node: Mapping[str, Any], stats: Mapping[str, Any] | None, now: str
                 ) -> dict[str, Any] | None:
    if stats is None:
        return None
    md = node.get("metadata") or {}
    meta: dict[str, Any] = {"name": md.get("name"), "creationTimestamp": now}
    if md.get("labels"):
        meta["labels"] = dict(md["labels"])
    return {"kind": "NodeMetrics", "apiVersion": API_VERSION, "metadata": meta,
            "timestamp": _time(stats, now), "window": go_duration(_window(stats)),
            "usage": _usage(stats)}


def idle_pod_stats(pod: Mapping[str, Any]) -> dict[str, Any]:
    """Zero figures for a pod of a simulated node (nothing runs there)."""
    names = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
    return {"containers": [{"name": n, "cpu": {}, "memory": {}} for n in names]}


def metrics_list(rt: ResourceType, items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": f"{rt.kind}List", "apiVersion": API_VERSION, "metadata": {},
            "items": list(items)}


# -- Table (metrics-server's table convertor) ------------------------------------------------

_INCLUDE_OBJECT = ("None", "Metadata", "Object")


def metrics_table(items: list[dict[str, Any]], include_object: str = "Metadata"
                  ) -> dict[str, Any]:
    """Name, one column per resource (a pod's summed over its containers), Window."""
    include_object = include_object or "Metadata"
    if include_object not in _INCLUDE_OBJECT:
        raise BadRequest(f'unrecognized includeObject value: "{include_object}"')
    columns: list[dict[str, Any]] = []
    rows = []
    for item in items:
        usage = _summed_usage(item)
        if not columns:
            columns = [{"name": "Name", "type": "string", "format": "name",
                        "description": "Name of the resource", "priority": 0}]
            columns += [{"name": name, "type": "string", "format": "quantity",
                         "description": "", "priority": 0} for name in sorted(usage)]
            columns.append({"name": "Window", "type": "string", "format": "duration",
                            "description": "", "priority": 0})
        names = [c["name"] for c in columns[1:-1]]
        row: dict[str, Any] = {"cells": [item["metadata"]["name"]]
                               + [usage.get(n, "0") for n in names] + [item["window"]]}
        if include_object == "Object":
            row["object"] = item
        elif include_object == "Metadata":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": dict(item["metadata"])}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {},
            "columnDefinitions": columns, "rows": rows}


def _summed_usage(item: Mapping[str, Any]) -> dict[str, str]:
    if "usage" in item:
        return dict(item["usage"])
    totals: dict[str, Decimal] = {}
    for container in item.get("containers") or []:
        for name, value in (container.get("usage") or {}).items():
            totals[name] = totals.get(name, Decimal(0)) + parse_quantity(value)
    return {name: format_quantity(value, binary=name == "memory")
            for name, value in totals.items()}
