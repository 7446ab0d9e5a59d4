"""Copying a job's outputs folder (its PersistentVolumeClaim) to a local folder.

Works on any cluster through the API alone: a short-lived helper pod mounts the claim
read-only, writes the folder as a base64 tar.gz to its log, and exits; we read the log and
unpack it. The helper prefers the node the job last ran on (a ReadWriteOnce claim can only be
attached there). Needs `sh`, `tar` and `base64` in the job's image.
"""

from __future__ import annotations

import base64
import io
import secrets
import tarfile
import time
from pathlib import Path
from typing import Any, Mapping

from daskhub_lite.jobs.kube import Cluster
from daskhub_lite.jobs.spec import GPU, JOB_LABEL, MANAGED_BY, OUTPUT_DIR
from daskhub_lite.kubehttp import APIStatusError, resource_path
from daskhub_lite.securitycontext import harden

HELPER_ROLE = "daskhub-lite.io/role"


class OutputsError(RuntimeError):
    pass


def helper_pod(job: str, namespace: str, image: str, node: str | None) -> dict[str, Any]:
    name = f"{job[:40]}-outputs-{secrets.token_hex(3)}"
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [{"name": "copy", "image": image,
                        "command": ["sh", "-c", f"tar -czf - -C {OUTPUT_DIR} . | base64"],
                        "volumeMounts": [{"name": "outputs", "mountPath": OUTPUT_DIR,
                                          "readOnly": True}]}],
        "volumes": [{"name": "outputs", "persistentVolumeClaim": {
            "claimName": f"{job}-outputs", "readOnly": True}}],
        "tolerations": [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}],
    }
    if node:
        spec["affinity"] = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 100, "preference": {"matchExpressions": [{
                "key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}}]}}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {**MANAGED_BY, JOB_LABEL: job, HELPER_ROLE: "outputs"}},
            "spec": harden(spec)}


def unpack(archive: bytes, dest: Path) -> list[str]:
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        members = [m for m in tar.getmembers() if m.name not in (".", "./")]
        tar.extractall(dest, members=members, filter="data")
    return sorted(m.name.removeprefix("./") for m in members if m.isfile())


def fetch(cluster: Cluster, job: str, namespace: str, dest: Path, image: str,
          node: str | None, timeout: float = 120.0) -> list[str]:
    """Copy the outputs of `job` into `dest`; returns the files copied (relative names)."""
    pod = helper_pod(job, namespace, image, node)
    name = pod["metadata"]["name"]
    cluster.http.create(resource_path("v1", "pods", namespace), pod)
    try:
        deadline = time.monotonic() + timeout
        while True:
            current = cluster.http.get(resource_path("v1", "pods", namespace, name))
            phase = (current.get("status") or {}).get("phase")
            if phase == "Succeeded":
                break
            if phase == "Failed" or time.monotonic() > deadline:
                log = _log(cluster, name, namespace)
                raise OutputsError(f"copying the outputs of job {job} failed (helper pod {name} "
                                   f"{phase or 'did not finish'}): {log[-500:].strip()}")
            time.sleep(0.1)
        data = _log(cluster, name, namespace)
    finally:
        try:
            cluster.http.delete(resource_path("v1", "pods", namespace, name),
                                gracePeriodSeconds=0)
        except APIStatusError:
            pass
    try:
        archive = base64.b64decode(data)
        return unpack(archive, dest)
    except (ValueError, tarfile.TarError) as exc:
        raise OutputsError(f"the outputs of job {job} came back unreadable ({exc}); does the "
                           "image have sh, tar and base64?") from exc


def _log(cluster: Cluster, pod: str, namespace: str) -> str:
    data = cluster.http.request("GET", resource_path("v1", "pods", namespace, pod, "log"))
    return data.decode(errors="replace")


def last_node(pods: list[Mapping[str, Any]]) -> str | None:
    nodes = [(str((p.get("metadata") or {}).get("creationTimestamp") or ""),
              (p.get("spec") or {}).get("nodeName")) for p in pods]
    nodes = [n for n in nodes if n[1]]
    return max(nodes)[1] if nodes else None
