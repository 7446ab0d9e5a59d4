"""User values: `-f` files and `--set`/`--set-string`, merged the way Helm merges them, and
warnings for keys that no chart of the release reads (the chart, its subcharts, `global`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

from .errors import ChartError, one_line

# Keys under these hold free-form maps (labels, selectors, resources...): any key is fine.
_FREE_FORM_PARENTS = {"annotations", "labels", "nodeSelector", "resources", "limits",
                      "requests", "config", "extraConfig", "extraEnv", "podAnnotations",
                      "podLabels", "affinity", "securityContext", "podSecurityContext",
                      "kubespawner_override"}


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load(files: list[str], sets: list[str], set_strings: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in files:
        path = Path(name)
        try:
            data = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise ChartError(f"values file {name} does not exist") from None
        except yaml.YAMLError as err:
            raise ChartError(f"values file {name} is not valid YAML: {one_line(str(err))}") from err
        if data is None:
            continue
        if not isinstance(data, dict):
            raise ChartError(f"values file {name} must hold a mapping at the top level")
        values = deep_merge(values, data)
    for expr in sets:
        values = deep_merge(values, _parse(helm.parse_set_string, expr, "--set"))
    for expr in set_strings:
        values = deep_merge(values, _parse(helm.parse_set_string_values, expr, "--set-string"))
    return values


def _parse(parser: Any, expr: str, flag: str) -> dict[str, Any]:
    try:
        parsed: dict[str, Any] = parser(expr)
    except helm.HelmError as err:
        raise ChartError(f"{flag} {expr!r}: {one_line(str(err))}") from err
    return parsed


def unknown_keys(defaults: dict[str, Any], values: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths set by the user that the chart's defaults do not define."""
    found: list[str] = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if key not in defaults:
            found.append(path)
        elif (isinstance(value, dict) and isinstance(defaults[key], dict) and defaults[key]
              and key not in _FREE_FORM_PARENTS):
            found.extend(unknown_keys(defaults[key], value, path + "."))
    return found


@dataclass(frozen=True)
class ValuesTree:
    """A chart's default values and its subcharts', keyed as the parent's values address
    them (the dependency's alias, else its name)."""

    chart: str
    defaults: dict[str, Any]
    subcharts: dict[str, ValuesTree] = field(default_factory=dict)

    def globals(self) -> dict[str, Any]:
        """`global` as any chart of the tree declares it (every chart reads every global)."""
        merged: dict[str, Any] = {}
        for sub in self.subcharts.values():
            merged = deep_merge(merged, sub.globals())
        own = self.defaults.get("global")
        return deep_merge(merged, own) if isinstance(own, dict) else merged


@dataclass(frozen=True)
class Unread:
    path: str   # dotted, from the release's top
    chart: str  # the chart whose values it would be


def unread_keys(tree: ValuesTree, values: dict[str, Any]) -> list[Unread]:
    """User values that no chart in `tree` reads: keys under a subchart's key are checked
    against that subchart's defaults (with the parent's overrides), recursively, and keys
    under `global` against the globals of the whole tree."""
    return _walk(tree, values, "", tree.globals(), tree.chart)


def _walk(tree: ValuesTree, values: dict[str, Any], prefix: str, globals_: dict[str, Any],
          root: str) -> list[Unread]:
    found: list[Unread] = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if key == "global":
            if isinstance(value, dict):
                found += [Unread(p, root) for p in unknown_keys(globals_, value, path + ".")]
            continue
        sub = tree.subcharts.get(key)
        if sub is not None:
            if isinstance(value, dict):
                override = tree.defaults.get(key)
                merged = ValuesTree(sub.chart, deep_merge(
                    sub.defaults, override if isinstance(override, dict) else {}),
                    sub.subcharts)
                found += _walk(merged, value, path + ".", globals_, root)
            continue
        found += [Unread(p, tree.chart) for p in unknown_keys(tree.defaults, {key: value},
                                                              prefix)]
    return found
