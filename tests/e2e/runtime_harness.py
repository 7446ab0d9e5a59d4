"""Helpers shared by the runtime tests: a control plane with a fast crash-loop back-off, and
small pod builders over real kubectl."""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from orchestrator import ControlPlane
from tests.conftest import Kubectl, wait_for

PY = sys.executable
FAST_BACKOFF = {"DASKHUB_LITE_BACKOFF_BASE_SECONDS": "1", "DASKHUB_LITE_BACKOFF_MAX_SECONDS": "8",
                "DASKHUB_LITE_SHUTDOWN_GRACE_SECONDS": "3"}


@contextmanager
def runtime_env() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in FAST_BACKOFF}
    os.environ.update(FAST_BACKOFF)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def control_plane(data_dir: Path, nodes: Any = None) -> Iterator[ControlPlane]:
    with runtime_env(), ControlPlane(data_dir=data_dir, nodes=nodes) as cp:
        yield cp


def node_name(kubectl: Kubectl, runtime: str = "process") -> str:
    nodes = kubectl.json("get", "nodes")["items"]
    return str(next(n["metadata"]["name"] for n in nodes
                    if n["metadata"]["labels"].get("daskhub-lite.io/runtime") == runtime))


def pod(name: str, node: str, *containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "containers": list(containers), **spec}}


def py(name: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "python:3.11", "command": [PY, "-u", "-c", code], **extra}


def apply(kubectl: Kubectl, obj: dict[str, Any]) -> None:
    kubectl.run("apply", "-f", "-", input=json.dumps(obj))


def get(kubectl: Kubectl, name: str) -> dict[str, Any]:
    result: dict[str, Any] = kubectl.json("get", "pod", name)
    return result


def container_status(p: dict[str, Any], name: str | None = None, init: bool = False
                     ) -> dict[str, Any]:
    key = "initContainerStatuses" if init else "containerStatuses"
    for c in (p.get("status") or {}).get(key) or []:
        if name is None or c["name"] == name:
            return dict(c)
    return {}


def wait_phase(kubectl: Kubectl, name: str, phase: str, timeout: float = 20) -> dict[str, Any]:
    last: dict[str, Any] = {}

    def check() -> dict[str, Any] | None:
        last.update(get(kubectl, name))
        return last if last.get("status", {}).get("phase") == phase else None
    try:
        result: dict[str, Any] = wait_for(check, timeout=timeout, interval=0.2)
    except AssertionError as exc:
        raise AssertionError(f"pod {name} not {phase}: {json.dumps(last.get('status'))}"
                             ) from exc
    return result


def events(kubectl: Kubectl, name: str) -> list[dict[str, Any]]:
    items = kubectl.json("get", "events", "--field-selector",
                         f"involvedObject.name={name}")["items"]
    return list(items)


def event_reasons(kubectl: Kubectl, name: str) -> set[str]:
    return {e["reason"] for e in events(kubectl, name)}


def pids_with(marker: str) -> list[int]:
    """Live processes whose command line contains `marker` (the process table, not the API)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z" and int(entry.name) != os.getpid():
            out.append(int(entry.name))
    return out
