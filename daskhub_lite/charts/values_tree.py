"""The values a chart and its subcharts read, as a `values.ValuesTree`, from a chart
directory or archive (subcharts in `charts/`, unpacked or `.tgz`, at any depth).

Beside each chart's `values.yaml`, two things are read without being declared there: the
dependencies' `condition` and `tags` paths (Helm itself reads them), and `.Values.global.X`
in templates (charts often read a global they do not default).
"""

from __future__ import annotations

import itertools
import re
import tempfile
from pathlib import Path
from typing import Any, Iterator

import helm_python as helm

from .values import ValuesTree, deep_merge

_GLOBAL_READ = re.compile(r"\.Values\.global\.([A-Za-z_][A-Za-z0-9_]*)")


def load(path: Path) -> ValuesTree:
    with tempfile.TemporaryDirectory(prefix="daskhub-lite-values-") as tmp:
        counter = itertools.count()
        return _tree(_unpacked(path, Path(tmp), counter), Path(tmp), counter)


def _unpacked(path: Path, tmp: Path, counter: Iterator[int]) -> Path:
    if path.is_dir():
        return path
    dest = tmp / str(next(counter))
    helm.expand(dest, path)
    return next(p for p in dest.iterdir() if p.is_dir())


def _with_path(values: dict[str, Any], dotted: str) -> dict[str, Any]:
    """`values` with `dotted` defined (as a leaf) unless it already is."""
    keys = [k for k in dotted.strip().split(".") if k]
    if not keys:
        return values
    nested: Any = None
    for key in reversed(keys):
        nested = {key: nested}
    return deep_merge(nested, values)


def _tree(chart_dir: Path, tmp: Path, counter: Iterator[int]) -> ValuesTree:
    with helm.Chart.load(chart_dir) as chart:
        name, defaults = chart.name, chart.values
        deps = chart.metadata.get("dependencies") or []
        sources = [t.get("data", "") for t in chart.templates]
    found: dict[str, ValuesTree] = {}
    charts = chart_dir / "charts"
    if charts.is_dir():
        for entry in sorted(charts.iterdir()):
            if (entry.is_dir() and (entry / "Chart.yaml").is_file()) or entry.suffix == ".tgz":
                sub = _tree(_unpacked(entry, tmp, counter), tmp, counter)
                found.setdefault(sub.chart, sub)
    subcharts: dict[str, ValuesTree] = {}
    for dep in deps:
        loaded = found.get(dep.get("name", ""))
        if loaded is not None:
            subcharts[dep.get("alias") or dep["name"]] = loaded
        for condition in str(dep.get("condition") or "").split(","):
            defaults = _with_path(defaults, condition)
        for tag in dep.get("tags") or []:
            defaults = _with_path(defaults, f"tags.{tag}")
    declared = {d.get("name") for d in deps}
    for sub_name, sub in found.items():
        if sub_name not in declared:
            subcharts.setdefault(sub_name, sub)  # in charts/ without a Chart.yaml entry
    for source in sources:
        for key in _GLOBAL_READ.findall(source):
            defaults = _with_path(defaults, f"global.{key}")
    return ValuesTree(name, defaults, subcharts)
