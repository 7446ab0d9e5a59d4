"""What admission costs a create: two of our API servers in the same run, one with every
admission plugin on (as `daskhub-lite up` runs) and one started with
`--disable-admission-plugins` naming them all, in rounds that alternate between them.

    .venv/bin/pytest -s -m bench tests/benchmarks/bench_admission.py
    .venv/bin/python -m tests.benchmarks.bench_admission

Creates go to a namespace set up as the daskhub chart sets up a user's: Pod Security
`restricted` (enforce, warn, audit), a LimitRange with container defaults and a
ResourceQuota on CPU, memory, pods and GPUs; so a Pod create runs LimitRanger, PodSecurity,
Priority, DefaultTolerationSeconds, the webhook plugins (no configurations) and ResourceQuota
(a charge committed with the pod). ConfigMaps meet only the webhook and quota plugins.
Figures are printed, never asserted: the median of the rounds and the ratio on/off, for
throughput and for the server process's CPU time per create (less noisy on a shared
machine: it counts only the server's own work).
"""

from __future__ import annotations

import asyncio
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from orchestrator.server.admission import ORDERED_PLUGINS
from tests.benchmarks.bench_apiserver import Target, _free_port, _run_ops, _wait_ready

OPS = int(os.environ.get("BENCH_OPS", "600"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
NS = "bench-user"
# Explicit, as KubeSpawner's and the operator's pods have them: LimitRanger then checks and
# defaults nothing, and both servers store the same pod (a measure of admission, not of a
# bigger object).
RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"},
             "limits": {"cpu": "1", "memory": "1Gi"}}
RESTRICTED = {
    "allowPrivilegeEscalation": False, "runAsNonRoot": True, "runAsUser": 1000,
    "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
}


def start(tmp: Path, name: str, admission: bool) -> Target:
    port = _free_port()
    cmd = [sys.executable, "-m", "orchestrator.cli", "up", "--foreground", "--data-dir",
           str(tmp), "--port", str(port), "--components", "none"]
    if not admission:
        cmd += ["--disable-admission-plugins", ",".join(n for n, _ in ORDERED_PLUGINS)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not (tmp / "kubeconfig").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    ctx = ssl.create_default_context()
    ctx.load_verify_locations(str(tmp / "pki" / "ca.crt"))
    url = f"https://127.0.0.1:{port}"
    _wait_ready(url, ctx)
    token = yaml.safe_load((tmp / "kubeconfig").read_text())["users"][0]["user"]["token"]
    return Target(name, url, {"Authorization": f"Bearer {token}"}, ctx, proc)


async def user_namespace(t: Target) -> None:
    """The namespace a daskhub user gets (see charts/daskhub)."""
    labels = {f"pod-security.kubernetes.io/{m}": "restricted"
              for m in ("enforce", "warn", "audit")}
    objects: list[tuple[str, dict[str, Any]]] = [
        ("/api/v1/namespaces", {"metadata": {"name": NS, "labels": labels}}),
        (f"/api/v1/namespaces/{NS}/limitranges", {
            "metadata": {"name": "defaults"},
            "spec": {"limits": [{"type": "Container",
                                 "default": {"cpu": "1", "memory": "1Gi"},
                                 "defaultRequest": {"cpu": "100m", "memory": "128Mi"}}]}}),
        (f"/api/v1/namespaces/{NS}/resourcequotas", {
            "metadata": {"name": "user"},
            "spec": {"hard": {"requests.cpu": "100000", "requests.memory": "100000Gi",
                              "pods": "1000000", "requests.nvidia.com/gpu": "1"}}}),
    ]
    async with aiohttp.ClientSession(t.url, headers=t.headers,
                                     connector=aiohttp.TCPConnector(ssl=t.ssl)) as s:
        for path, body in objects:
            async with s.post(path, json=body) as r:
                if r.status >= 400:
                    raise RuntimeError(f"{t.name}: {path}: {r.status} {await r.text()}")


def server_cpu_seconds(t: Target) -> float:
    """The API server process's CPU time so far (user + system, from /proc): per create it
    says what the server spent, whatever else the shared machine was doing meanwhile."""
    fields = Path(f"/proc/{t.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def creates(t: Target, concurrency: int, tag: str) -> dict[str, float]:
    def configmap(s: aiohttp.ClientSession, i: int) -> object:
        return s.post(f"/api/v1/namespaces/{NS}/configmaps", json={
            "metadata": {"name": f"{tag}-{i}"}, "data": {"k": "v"}})

    def pod(s: aiohttp.ClientSession, i: int) -> object:
        return s.post(f"/api/v1/namespaces/{NS}/pods", json={
            "metadata": {"name": f"{tag}-{i}"},
            "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["true"],
                                     "securityContext": RESTRICTED, "resources": RESOURCES}]}})

    figures = {}
    for kind, make in (("ConfigMap", configmap), ("Pod", pod)):
        cpu = server_cpu_seconds(t)
        figures[f"{kind} create/s"] = await _run_ops(t, concurrency, make, OPS)
        figures[f"{kind} server CPU us/create"] = (server_cpu_seconds(t) - cpu) / OPS * 1e6
    return figures


def run() -> str:
    samples: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        targets = [start(Path(a), "admission on", True), start(Path(b), "admission off", False)]
        try:
            for t in targets:
                asyncio.run(user_namespace(t))
            for r in range(ROUNDS):
                # Alternate which goes first, so drift on a shared machine hits both alike.
                for t in (targets if r % 2 == 0 else targets[::-1]):
                    for c in (1, 8):
                        for figure, value in asyncio.run(creates(t, c, f"r{r}c{c}")).items():
                            samples.setdefault(f"{figure} x{c}", {}).setdefault(
                                t.name, []).append(value)
        finally:
            for t in targets:
                t.proc.terminate()
                t.proc.wait()
    lines = [f"{'figure (median of ' + str(ROUNDS) + ' rounds)':30} {'admission on':>13} "
             f"{'admission off':>14} {'on/off':>7}"]
    for figure, row in samples.items():
        on, off = statistics.median(row["admission on"]), statistics.median(row["admission off"])
        lines.append(f"{figure:30} {on:13.1f} {off:14.1f} {on / off:7.2f}")
    return "\n".join(lines)


@pytest.mark.bench
def test_admission_benchmark() -> None:
    print("\n" + run())


if __name__ == "__main__":
    print(run())
