"""A container's environment, as the kubelet builds it: `envFrom`, then `env` with `$(VAR)`
expansion and `valueFrom` (fieldRef, resourceFieldRef, configMapKeyRef, secretKeyRef).

Lookups of ConfigMaps and Secrets go through an injected async function so this module does no
I/O of its own. A reference that cannot be resolved raises `ConfigError` with the message the
kubelet gives (`couldn't find key X in ConfigMap ns/name`), which becomes the container's
`CreateContainerConfigError`.
"""

from __future__ import annotations

import base64
import math
import re
from decimal import Decimal
from typing import Any, Awaitable, Callable, Mapping

from orchestrator.api.quantity import QuantityError, parse_quantity

Lookup = Callable[[str, str], Awaitable[dict[str, Any] | None]]  # (kind, name) -> object

_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)")
_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.*)'\]$")


class ConfigError(Exception):
    """The container cannot be configured until an object it refers to changes."""


def expand(text: str, env: Mapping[str, str]) -> str:
    """`$(VAR)` → its value when defined, else left as is; `$$` → `$` (Kubernetes' escape)."""

    def replace(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env[name] if name in env else m.group(0)

    return _REF.sub(replace, text)


def field_value(pod: Mapping[str, Any], path: str) -> str:
    md = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    sub = _SUBSCRIPT.match(path)
    if sub:
        return str((md.get(sub.group(1)) or {}).get(sub.group(2), ""))
    simple = {
        "metadata.name": md.get("name"), "metadata.namespace": md.get("namespace"),
        "metadata.uid": md.get("uid"), "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.hostIP": status.get("hostIP"), "status.podIP": status.get("podIP"),
        "status.hostIPs": ",".join(i.get("ip", "") for i in status.get("hostIPs") or []),
        "status.podIPs": ",".join(i.get("ip", "") for i in status.get("podIPs") or []),
    }
    if path in ("metadata.labels", "metadata.annotations"):
        values = md.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(values.items()))
    if path not in simple:
        raise ConfigError(f"unsupported fieldRef path {path!r}")
    return str(simple[path] or "")


def resource_value(container: Mapping[str, Any], ref: Mapping[str, Any],
                   allocatable: Mapping[str, str]) -> str:
    """`resourceFieldRef`: limits fall back to node allocatable, as in Kubernetes."""
    resource = str(ref.get("resource", ""))
    kind, _, name = resource.partition(".")
    resources = container.get("resources") or {}
    raw = (resources.get(kind) or {}).get(name)
    if raw is None and kind == "requests":
        raw = (resources.get("limits") or {}).get(name)
    if raw is None:
        raw = allocatable.get(name, "0") if kind == "limits" else "0"
    try:
        value = parse_quantity(raw)
        divisor = parse_quantity(ref.get("divisor") or "1")
    except QuantityError as exc:
        raise ConfigError(f"resourceFieldRef {resource}: {exc}") from exc
    if divisor == 0:
        divisor = Decimal(1)
    return str(int(math.ceil(value / divisor)))


def _data(obj: Mapping[str, Any], secret: bool) -> dict[str, str]:
    out = {k: str(v) for k, v in (obj.get("data") or {}).items()}
    if secret:
        out = {k: base64.b64decode(v).decode(errors="replace") for k, v in out.items()}
        out.update({k: str(v) for k, v in (obj.get("stringData") or {}).items()})
    else:
        out.update({k: base64.b64decode(v).decode(errors="replace")
                    for k, v in (obj.get("binaryData") or {}).items()})
    return out


_KINDS = {"configMapKeyRef": ("ConfigMap", "configmap"), "secretKeyRef": ("Secret", "secret"),
          "configMapRef": ("ConfigMap", "configmap"), "secretRef": ("Secret", "secret")}


async def build_env(pod: Mapping[str, Any], container: Mapping[str, Any], lookup: Lookup,
                    base: Mapping[str, str], allocatable: Mapping[str, str]) -> dict[str, str]:
    """`base` (the runtime's own variables) overlaid with envFrom and env, in order."""
    namespace = (pod.get("metadata") or {}).get("namespace", "default")
    env = dict(base)
    for source in container.get("envFrom") or []:
        key = "configMapRef" if "configMapRef" in source else "secretRef"
        ref = source.get(key) or {}
        kind, lower = _KINDS[key]
        obj = await lookup(kind, str(ref.get("name", "")))
        if obj is None:
            if ref.get("optional"):
                continue
            raise ConfigError(f'{lower} "{ref.get("name")}" not found')
        prefix = str(source.get("prefix") or "")
        for k, v in _data(obj, kind == "Secret").items():
            env[prefix + k] = v
    for item in container.get("env") or []:
        name = str(item.get("name", ""))
        if "valueFrom" not in item:
            env[name] = expand(str(item.get("value") or ""), env)
            continue
        source = item["valueFrom"] or {}
        if "fieldRef" in source:
            env[name] = field_value(pod, str(source["fieldRef"].get("fieldPath", "")))
        elif "resourceFieldRef" in source:
            env[name] = resource_value(container, source["resourceFieldRef"], allocatable)
        else:
            key = "configMapKeyRef" if "configMapKeyRef" in source else "secretKeyRef"
            ref = source.get(key) or {}
            kind, lower = _KINDS[key]
            obj = await lookup(kind, str(ref.get("name", "")))
            if obj is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'{lower} "{ref.get("name")}" not found')
            data = _data(obj, kind == "Secret")
            if ref.get("key") not in data:
                if ref.get("optional"):
                    continue
                raise ConfigError(f"couldn't find key {ref.get('key')} in {kind} "
                                  f"{namespace}/{ref.get('name')}")
            env[name] = data[str(ref["key"])]
    return env
