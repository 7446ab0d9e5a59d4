"""One embedded control plane per test module for the Dask stories: a CPU node and a virtual
GPU node (2 GPUs), the dask-operator chart installed (with the idle reaper), and the
commands pods run (`dask`, `kopf`) on PATH."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import kr8s

from orchestrator import ControlPlane

NODES = [
    {"name": "cpu-node", "runtime": "process"},
    {"name": "gpu-node", "runtime": "process",
     "capacity": {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "2", "pods": "110"},
     "labels": {"nvidia.com/gpu.product": "virtual"}},
]


def start(data_dir: Path) -> Iterator[ControlPlane]:
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]
    from daskhub_lite.clusters import target

    with ControlPlane(data_dir=data_dir, nodes=NODES) as cp:
        target.ensure_operator(cp.kubeconfig, with_reaper=True)
        yield cp


def poll(predicate: Any, timeout: float = 30.0, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # not there yet
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


def objects(cp: ControlPlane, cluster: str, namespace: str = "default") -> list[str]:
    """Everything in the namespace that belongs to `cluster`."""
    api = kr8s.api(kubeconfig=cp.kubeconfig)
    out = []
    for kind in ("daskclusters.kubernetes.dask.org", "daskworkergroups.kubernetes.dask.org",
                 "deployments", "replicasets", "services", "pods", "ingresses"):
        for obj in api.get(kind, namespace=namespace):
            labels = obj.raw["metadata"].get("labels") or {}
            if obj.name == cluster or labels.get("dask.org/cluster-name") == cluster:
                out.append(f"{kind}/{obj.name}")
    return out


def processes(word: str) -> list[str]:
    """Command lines of live processes that mention `word` (pods' processes name it)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if "Z" in (entry / "stat").read_text().split(")")[-1].split()[0]:
                continue  # a zombie is no process
        except OSError:
            continue
        if word in cmd and "pytest" not in cmd:
            out.append(cmd)
    return out


def kubectl(cp: ControlPlane, *args: str) -> str:
    done = subprocess.run([str(Path(sys.executable).parent / "kubectl"), "--kubeconfig",
                           cp.kubeconfig, *args], capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr
