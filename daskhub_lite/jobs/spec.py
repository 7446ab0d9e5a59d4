"""What a training job is on the wire: the request, its manifests, and reading its state back.

Pure: no I/O. `manifests(request)` builds the Job (or DaskJob), the code ConfigMap and the
outputs PersistentVolumeClaim; `summarize(job, pods)` turns what the API reports into one
`JobState` that `wait`, `status` and the CLI print.
"""

from __future__ import annotations

import base64
import re
import secrets
import shlex
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Mapping, Sequence

from daskhub_lite.securitycontext import harden

JOB_LABEL = "daskhub-lite.io/job"
MANAGED_BY = {"app.kubernetes.io/managed-by": "daskhub-lite"}
POD_GROUP_LABEL = "daskhub-lite.io/pod-group"
MIN_MEMBER_ANNOTATION = "daskhub-lite.io/min-member"
GPU_MODELS_ANNOTATION = "daskhub-lite.io/gpu-models"
GPU = "nvidia.com/gpu"
GPU_MILLI = "daskhub-lite.io/gpu-milli"
DEFAULT_IMAGE = "ghcr.io/dask/dask:latest"

BASE = "/opt/daskhub-lite"
CODE_DIR = f"{BASE}/code"
WORK_DIR = f"{BASE}/work"
OUTPUT_DIR = f"{BASE}/outputs"
ARCHIVE_KEY = "code.tar.gz"

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$")
NAME_MAX = 52  # pod names add "-<index>-<5 chars>" to the Job's name and must stay <= 63


class JobSpecError(ValueError):
    """An argument that cannot make a valid job; the message names it and what is allowed."""


@dataclass
class JobRequest:
    command: list[str]
    name: str
    namespace: str = "default"
    image: str = DEFAULT_IMAGE
    code: bytes | None = None  # the packed tar.gz
    gpus: int = 0
    gpu_share: float | None = None
    gpu_model: str | None = None
    cpus: float | str | None = None
    memory: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    retries: int = 3
    deadline: float | None = None
    ttl: int | None = None
    completions: int | None = None
    parallelism: int | None = None
    priority: str | None = None
    dask_workers: int = 0
    outputs: bool | str = True

    @property
    def outputs_size(self) -> str:
        return self.outputs if isinstance(self.outputs, str) else "1Gi"


def default_name(command: Sequence[str]) -> str:
    """`python train.py` → `train-x7k2q`: the script's stem (else the program), made DNS-safe."""
    word = next((a for a in command[1:] if not a.startswith("-")), command[0]) \
        if len(command) > 1 else command[0]
    stem = PurePosixPath(word).stem.lower()
    stem = re.sub(r"[^a-z0-9-]+", "-", stem).strip("-")[:30] or "job"
    suffix = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(5))
    return f"{stem}-{suffix}"


def _positive_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise JobSpecError(f"{name} must be an integer >= {minimum}, not {value!r}")
    return value


def validate(req: JobRequest) -> None:
    if not req.command or not all(isinstance(a, str) and a for a in req.command):
        raise JobSpecError("command must be a non-empty list of strings, e.g. "
                           "['python', 'train.py']")
    if not _NAME.match(req.name) or len(req.name) > NAME_MAX:
        raise JobSpecError(f"name {req.name!r} must be lowercase letters, digits and '-', "
                           f"start and end with a letter or digit, at most {NAME_MAX} long")
    _positive_int("gpus", req.gpus, 0)
    _positive_int("retries", req.retries, 0)
    _positive_int("dask_workers", req.dask_workers, 0)
    if req.gpu_share is not None:
        if isinstance(req.gpu_share, bool) or not isinstance(req.gpu_share, (int, float)) \
                or not 0 < req.gpu_share < 1:
            raise JobSpecError(f"gpu_share must be a fraction of one GPU between 0 and 1 "
                               f"(e.g. 0.5), not {req.gpu_share!r}; use gpus=N for whole GPUs")
        if req.gpus:
            raise JobSpecError("ask for either whole GPUs (gpus) or a share of one "
                               "(gpu_share), not both")
    if req.gpu_model is not None:
        if not isinstance(req.gpu_model, str) or not req.gpu_model.strip("| "):
            raise JobSpecError(f"gpu_model must name a model like 'A100' or 'A100|H100', "
                               f"not {req.gpu_model!r}")
        if not req.gpus and req.gpu_share is None:
            raise JobSpecError("gpu_model needs gpus=N or gpu_share=F: it constrains which "
                               "GPU the job gets")
    if req.deadline is not None and (isinstance(req.deadline, bool) or not isinstance(
            req.deadline, (int, float)) or req.deadline <= 0):
        raise JobSpecError(f"deadline must be a positive number of seconds, not "
                           f"{req.deadline!r}")
    if req.ttl is not None:
        _positive_int("ttl", req.ttl, 0)
    if req.completions is not None:
        _positive_int("completions", req.completions, 1)
    if req.parallelism is not None:
        _positive_int("parallelism", req.parallelism, 1)
    for label, value in (("cpus", req.cpus), ("memory", req.memory)):
        if value is not None and not _QUANTITY.match(str(value)):
            raise JobSpecError(f"{label} must be a Kubernetes quantity like "
                               f"{'2 or 500m' if label == 'cpus' else '4Gi'}, not {value!r}")
    for key in req.env:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_.-]*$", str(key)):
            raise JobSpecError(f"environment variable name {key!r} is not valid")
    if isinstance(req.outputs, str) and not _QUANTITY.match(req.outputs):
        raise JobSpecError(f"outputs must be True, False or a size like '5Gi', not "
                           f"{req.outputs!r}")


def labels(req: JobRequest) -> dict[str, str]:
    return {**MANAGED_BY, JOB_LABEL: req.name}


def _resources(req: JobRequest) -> dict[str, Any]:
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if req.cpus is not None:
        requests["cpu"] = limits["cpu"] = str(req.cpus)
    if req.memory is not None:
        requests["memory"] = limits["memory"] = str(req.memory)
    if req.gpus:
        requests[GPU] = limits[GPU] = str(req.gpus)
    if req.gpu_share is not None:
        requests[GPU_MILLI] = limits[GPU_MILLI] = str(max(1, round(req.gpu_share * 1000)))
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def uses_gpus(req: JobRequest) -> bool:
    return bool(req.gpus) or req.gpu_share is not None


def parallelism(req: JobRequest) -> int:
    if req.parallelism is not None:
        return req.parallelism
    return req.completions or 1


def pod_template(req: JobRequest) -> dict[str, Any]:
    meta_labels = labels(req)
    annotations: dict[str, str] = {}
    if req.gpu_model:
        annotations[GPU_MODELS_ANNOTATION] = req.gpu_model
    if uses_gpus(req) and parallelism(req) > 1:
        # All-or-nothing: a sweep holding half its GPUs while waiting for the rest helps nobody.
        meta_labels[POD_GROUP_LABEL] = req.name
        annotations[MIN_MEMBER_ANNOTATION] = str(min(parallelism(req), req.completions or parallelism(req)))
    env = [{"name": "OUTPUT_DIR", "value": OUTPUT_DIR},
           {"name": "DASKHUB_LITE_JOB", "value": req.name},
           {"name": "PYTHONUNBUFFERED", "value": "1"}]
    env += [{"name": str(k), "value": str(v)} for k, v in req.env.items()]
    main: dict[str, Any] = {"name": "main", "image": req.image, "command": list(req.command),
                            "env": env, "volumeMounts": []}
    volumes: list[dict[str, Any]] = []
    init: list[dict[str, Any]] = []
    if req.code is not None:
        volumes += [{"name": "code", "configMap": {"name": f"{req.name}-code"}},
                    {"name": "work", "emptyDir": {}}]
        main["workingDir"] = WORK_DIR
        main["volumeMounts"].append({"name": "work", "mountPath": WORK_DIR})
        init.append({"name": "unpack-code", "image": req.image,
                     "command": ["tar", "-xzf", f"{CODE_DIR}/{ARCHIVE_KEY}", "-C", WORK_DIR],
                     "volumeMounts": [{"name": "code", "mountPath": CODE_DIR, "readOnly": True},
                                      {"name": "work", "mountPath": WORK_DIR}]})
    if req.outputs:
        volumes.append({"name": "outputs",
                        "persistentVolumeClaim": {"claimName": f"{req.name}-outputs"}})
        main["volumeMounts"].append({"name": "outputs", "mountPath": OUTPUT_DIR})
    resources = _resources(req)
    if resources:
        main["resources"] = resources
    spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [main], "volumes": volumes}
    if init:
        spec["initContainers"] = init
    if req.priority:
        spec["priorityClassName"] = req.priority
    if uses_gpus(req):
        spec["tolerations"] = [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}]
    metadata: dict[str, Any] = {"labels": meta_labels}
    if annotations:
        metadata["annotations"] = annotations
    return {"metadata": metadata, "spec": harden(spec)}


def job_manifest(req: JobRequest) -> dict[str, Any]:
    spec: dict[str, Any] = {"backoffLimit": req.retries, "template": pod_template(req)}
    if req.completions is not None:
        spec["completions"] = req.completions
        spec["parallelism"] = parallelism(req)
        spec["completionMode"] = "Indexed"
    elif req.parallelism is not None:
        spec["parallelism"] = req.parallelism
    if req.deadline is not None:
        spec["activeDeadlineSeconds"] = max(1, int(round(req.deadline)))
    if req.ttl is not None:
        spec["ttlSecondsAfterFinished"] = req.ttl
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": req.name, "namespace": req.namespace, "labels": labels(req),
                         "annotations": {"daskhub-lite.io/command": shlex.join(req.command)}},
            "spec": spec}


# The runner starts with the cluster; it waits (an init container) until the scheduler answers
# so that user scripts can simply connect.
WAIT_FOR_SCHEDULER = """\
import os, sys, time
from distributed import Client
deadline = time.monotonic() + 300
while True:
    try:
        Client(os.environ["DASK_SCHEDULER_ADDRESS"], timeout=5).close()
        break
    except Exception as exc:
        if time.monotonic() > deadline:
            sys.exit("the Dask scheduler did not answer within 300s: %s" % exc)
        time.sleep(0.5)
"""


def dask_job_manifest(req: JobRequest, dask: str = "dask",
                      python: str = "python") -> dict[str, Any]:
    """A dask-kubernetes `DaskJob`: the job pod runs beside a Dask cluster whose address the
    operator puts in `DASK_SCHEDULER_ADDRESS`. `dask` and `python` are the programs (paths on
    the embedded control plane, whose pods run on this machine)."""
    template = pod_template(req)
    address = (f"tcp://{req.name}-scheduler.{req.namespace}.svc.cluster.local:8786")
    template["spec"].setdefault("initContainers", []).append({
        "name": "wait-for-scheduler", "image": req.image,
        "command": [python, "-c", WAIT_FOR_SCHEDULER],
        "env": [{"name": "DASK_SCHEDULER_ADDRESS", "value": address}]})
    harden(template["spec"])
    worker = {"name": "worker", "image": req.image, "command": [dask, "worker"],
              "args": ["--name", "$(DASK_WORKER_NAME)", "--dashboard-address", ":8788"],
              "ports": [{"name": "http-dashboard", "containerPort": 8788}]}
    scheduler = {"name": "scheduler", "image": req.image, "command": [dask, "scheduler"],
                 "args": ["--port", "8786", "--dashboard-address", ":8787"],
                 "ports": [{"name": "tcp-comm", "containerPort": 8786},
                           {"name": "http-dashboard", "containerPort": 8787}]}
    return {"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskJob",
            "metadata": {"name": req.name, "namespace": req.namespace, "labels": labels(req)},
            "spec": {"job": {"metadata": template["metadata"], "spec": template["spec"]},
                     "cluster": {"spec": {
                         "worker": {"replicas": req.dask_workers,
                                    "spec": harden({"containers": [worker]})},
                         "scheduler": {"spec": harden({"containers": [scheduler]}),
                                       "service": {
                             "type": "ClusterIP", "selector": {
                                 "dask.org/cluster-name": req.name,
                                 "dask.org/component": "scheduler"},
                             "ports": [{"name": "tcp-comm", "protocol": "TCP", "port": 8786,
                                        "targetPort": "tcp-comm"},
                                       {"name": "http-dashboard", "protocol": "TCP",
                                        "port": 8787, "targetPort": "http-dashboard"}]}}}}}}


def code_configmap(req: JobRequest) -> dict[str, Any]:
    assert req.code is not None
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"{req.name}-code", "namespace": req.namespace,
                         "labels": labels(req)},
            "binaryData": {ARCHIVE_KEY: base64.b64encode(req.code).decode()}}


def outputs_claim(req: JobRequest) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": f"{req.name}-outputs", "namespace": req.namespace,
                         "labels": labels(req)},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": req.outputs_size}}}}


def owner_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    meta = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"],
            "uid": meta["uid"], "blockOwnerDeletion": True}
