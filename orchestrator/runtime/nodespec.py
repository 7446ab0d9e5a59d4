"""The nodes file (`daskhub-lite up --nodes nodes.yaml`): parsing and validation.

```yaml
nodes:
- name: gpu-a
  runtime: process          # or: simulated
  count: 1                  # >1 makes gpu-a-0 .. gpu-a-N-1
  capacity: {cpu: "8", memory: 32Gi, nvidia.com/gpu: "2"}
  labels: {nvidia.com/gpu.product: A100-SXM4-40GB}
  taints: [{key: nvidia.com/gpu, value: present, effect: NoSchedule}]
```
A process node without `capacity` reports the host's. Errors name the entry at fault.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchestrator.api.quantity import QuantityError, parse_quantity

RUNTIMES = ("process", "simulated")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_KEYS = {"name", "runtime", "count", "capacity", "allocatable", "labels", "annotations", "taints"}


class NodesFileError(ValueError):
    """A nodes file that cannot be used; the message names the entry and the field."""


@dataclass
class NodeSpec:
    name: str
    runtime: str = "process"
    capacity: dict[str, str] = field(default_factory=dict)
    allocatable: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)
    local: bool = False  # the machine itself: capacity from the host


def load(nodes: Any) -> list[dict[str, Any]]:
    """The raw entries from None, a path, a parsed document or a list."""
    if nodes is None:
        return []
    if isinstance(nodes, (str, os.PathLike)):
        path = Path(nodes)
        try:
            doc = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise NodesFileError(f"cannot read nodes file {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise NodesFileError(f"nodes file {path} is not valid YAML: {exc}") from exc
        nodes = doc
    if isinstance(nodes, dict):
        nodes = nodes.get("nodes")
    if nodes is None:
        return []
    if not isinstance(nodes, list):
        raise NodesFileError("nodes file: `nodes` must be a list of node entries")
    return nodes


def _string_map(where: str, key: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise NodesFileError(f"{where}: `{key}` must be a mapping")
    return {str(k): str(v) for k, v in value.items()}


def _resources(where: str, key: str, value: Any) -> dict[str, str]:
    out = _string_map(where, key, value)
    for name, qty in out.items():
        try:
            parse_quantity(qty)
        except QuantityError as exc:
            raise NodesFileError(f"{where}: {key}.{name}: {qty!r} is not a quantity ({exc})"
                                 ) from exc
    return out


def _taints(where: str, value: Any) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise NodesFileError(f"{where}: `taints` must be a list")
    out = []
    for i, taint in enumerate(value):
        if not isinstance(taint, dict) or not taint.get("key"):
            raise NodesFileError(f"{where}: taints[{i}] needs a `key`")
        effect = taint.get("effect")
        if effect not in TAINT_EFFECTS:
            raise NodesFileError(f"{where}: taints[{i}].effect must be one of "
                                 f"{', '.join(TAINT_EFFECTS)} (got {effect!r})")
        entry = {"key": str(taint["key"]), "effect": str(effect)}
        if taint.get("value") is not None:
            entry["value"] = str(taint["value"])
        out.append(entry)
    return out


def parse(nodes: Any) -> list[NodeSpec]:
    """Validated node specs, `count` expanded; names are unique."""
    specs: list[NodeSpec] = []
    for i, entry in enumerate(load(nodes)):
        where = f"nodes[{i}]"
        if not isinstance(entry, dict):
            raise NodesFileError(f"{where}: each entry must be a mapping with at least `name`")
        name = entry.get("name")
        if name:
            where = f"nodes[{i}] ({name})"
        unknown = sorted(set(entry) - _KEYS)
        if unknown:
            raise NodesFileError(f"{where}: unknown field(s) {', '.join(unknown)}; "
                                 f"known: {', '.join(sorted(_KEYS))}")
        if not isinstance(name, str) or not _NAME.match(name) or len(name) > 240:
            raise NodesFileError(f"{where}: `name` must be a lowercase DNS-1123 name "
                                 f"(got {name!r})")
        runtime = entry.get("runtime", "process")
        if runtime not in RUNTIMES:
            raise NodesFileError(f"{where}: `runtime` must be one of {', '.join(RUNTIMES)} "
                                 f"(got {runtime!r})")
        count = entry.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise NodesFileError(f"{where}: `count` must be a positive integer (got {count!r})")
        capacity = _resources(where, "capacity", entry.get("capacity"))
        allocatable = _resources(where, "allocatable", entry.get("allocatable"))
        labels = _string_map(where, "labels", entry.get("labels"))
        annotations = _string_map(where, "annotations", entry.get("annotations"))
        taints = _taints(where, entry.get("taints"))
        names = [name] if count == 1 and "count" not in entry else [
            f"{name}-{n}" for n in range(count)]
        for node_name in names:
            specs.append(NodeSpec(node_name, runtime, dict(capacity), dict(allocatable),
                                  dict(labels), dict(annotations),
                                  [dict(t) for t in taints]))
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise NodesFileError(f"nodes file: node name {spec.name!r} is used twice")
        seen.add(spec.name)
    return specs
