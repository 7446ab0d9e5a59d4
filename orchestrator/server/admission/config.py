"""The admission configuration, in kube-apiserver's own format
(`--admission-control-config-file`):

    apiVersion: apiserver.config.k8s.io/v1
    kind: AdmissionConfiguration
    plugins:
    - name: PodSecurity
      configuration:
        apiVersion: pod-security.admission.config.k8s.io/v1
        kind: PodSecurityConfiguration
        defaults: {enforce: privileged, audit: privileged, warn: privileged}
        exemptions: {usernames: [], runtimeClasses: [], namespaces: []}

given to `ControlPlane(admission_config=...)` as a dict or a YAML file path. Each plugin's
`configuration` is checked here, so a bad file fails at start with one line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import yaml

from orchestrator.api import podsecurity
from orchestrator.server.admission.chain import ORDERED_PLUGINS

API_VERSIONS = ("apiserver.config.k8s.io/v1", "apiserver.k8s.io/v1alpha1")
KIND = "AdmissionConfiguration"


def load(source: str | os.PathLike[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    """{plugin name: its parsed configuration}; ValueError naming what is wrong."""
    if source is None:
        return {}
    if isinstance(source, Mapping):
        raw: Any = source
        where = KIND
    else:
        where = str(source)
        try:
            raw = yaml.safe_load(Path(source).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"admission configuration {where}: {_one_line(exc)}") from None
    if not isinstance(raw, Mapping) or raw.get("kind") != KIND or \
            raw.get("apiVersion") not in API_VERSIONS:
        raise ValueError(f"admission configuration {where}: must be apiVersion "
                         f"{API_VERSIONS[0]}, kind {KIND}")
    known = [name for name, _ in ORDERED_PLUGINS]
    plugins = raw.get("plugins") or []
    if not isinstance(plugins, list):
        raise ValueError(f"admission configuration {where}: plugins must be a list")
    out: dict[str, Any] = {}
    for i, entry in enumerate(plugins):
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if name not in known:
            raise ValueError(f"admission configuration {where}: plugins[{i}].name: "
                             f"unknown plugin {name!r} (known: {', '.join(known)})")
        if "path" in entry:
            raise ValueError(f"admission configuration {where}: plugins[{i}].path: not "
                             "supported; give the configuration inline")
        try:
            out[name] = _parse(name, entry.get("configuration"))
        except ValueError as exc:
            raise ValueError(f"admission configuration {where}: plugins[{i}]: {exc}") from None
    return out


def _parse(name: str, configuration: Any) -> Any:
    if name == "PodSecurity":
        return podsecurity.parse(configuration)
    return configuration


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
