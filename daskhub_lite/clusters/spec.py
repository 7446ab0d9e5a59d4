"""Manifests for the dask-kubernetes operator's custom resources (pure functions).

What we write differently from dask-kubernetes' `make_cluster_spec`:
- commands are `dask scheduler` / `dask worker` (the hyphenated ones left distributed in 2026.6);
- GPU limits and the Dask resource `GPU=n` go on GPU workers only, never on the scheduler;
- the image defaults to the public Dask image matching this client's version.
"""

from __future__ import annotations

import re
import sys
import warnings
from typing import Any

import distributed

from daskhub_lite.clusters.names import (API_VERSION, DASHBOARD_PREFIX_ANNOTATION,
                                         GROUP_PROFILE_ANNOTATION, HEARTBEAT_ANNOTATION,
                                         IDLE_TIMEOUT_ANNOTATION, MANAGED_BY,
                                         PROFILE_ANNOTATION)
from daskhub_lite.clusters.profiles import Profile, nthreads
from daskhub_lite.securitycontext import harden

IMAGE_REPOSITORY = "ghcr.io/dask/dask"
GPU_RESOURCE = "nvidia.com/gpu"
SCHEDULER_PORT = 8786
DASHBOARD_PORT = 8787
WORKER_DASHBOARD_PORT = 8788

_MEMORY_RE = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")
_TAG = re.compile(r"^(?P<version>\d+\.\d+\.\d+)(-py(?P<python>\d+\.\d+))?$")


class SpecError(ValueError):
    """Input that cannot become a valid cluster; the message says what to change."""


def check_name(name: str, what: str = "cluster name") -> str:
    if not _NAME.match(name or ""):
        raise SpecError(f"{what} {name!r} must be lower-case letters, digits and '-', start "
                        "with a letter and be at most 40 characters")
    return name


def default_image() -> str:
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return f"{IMAGE_REPOSITORY}:{distributed.__version__}-py{python}"


def resolve_image(image: str | None) -> str:
    """`image`, or the default; warns when a Dask image's version differs from the client's."""
    if not image:
        return default_image()
    repo, _, tag = image.rpartition(":")
    if repo.endswith(IMAGE_REPOSITORY.split("/", 1)[1]) and "/" not in tag:
        match = _TAG.match(tag)
        if match and match["version"] != distributed.__version__:
            warnings.warn(f"image {image} runs Dask {match['version']} but this client runs "
                          f"{distributed.__version__}; use {default_image()} to match",
                          UserWarning, stacklevel=3)
        python = f"{sys.version_info.major}.{sys.version_info.minor}"
        if match and match["python"] and match["python"] != python:
            warnings.warn(f"image {image} runs Python {match['python']} but this client runs "
                          f"{python}; pickled functions may not load", UserWarning,
                          stacklevel=3)
    return image


def _env_list(env: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": str(v)} for k, v in sorted(env.items())]


def _cpu(cores: float) -> str:
    return str(int(cores)) if float(cores).is_integer() else f"{int(cores * 1000)}m"


def worker_container(profile: Profile, image: str, env: dict[str, str]) -> dict[str, Any]:
    args = ["dask", "worker", "--name", "$(DASK_WORKER_NAME)",
            "--nthreads", str(nthreads(profile)), "--memory-limit", _memory_bytes(profile.memory),
            "--dashboard-address", str(WORKER_DASHBOARD_PORT)]
    limits: dict[str, str] = {"cpu": _cpu(profile.cores), "memory": profile.memory}
    requests = dict(profile.requests) or {"cpu": _cpu(profile.cores), "memory": profile.memory}
    if profile.gpus:
        args += ["--resources", f"GPU={profile.gpus}"]
        limits[GPU_RESOURCE] = str(profile.gpus)
        requests[GPU_RESOURCE] = str(profile.gpus)
    return {"name": "worker", "image": image, "imagePullPolicy": "IfNotPresent",
            "command": args[:2], "args": args[2:],
            "env": _env_list({**profile.env, **env}),
            "resources": {"requests": requests, "limits": limits},
            "ports": [{"name": "http-dashboard", "containerPort": WORKER_DASHBOARD_PORT,
                       "protocol": "TCP"}]}


def worker_pod_spec(profile: Profile, image: str, env: dict[str, str]) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [worker_container(profile, image, env)]}
    if profile.gpus:
        # GPU nodes are commonly tainted so that only GPU work lands there.
        spec["tolerations"] = [{"key": GPU_RESOURCE, "operator": "Exists",
                                "effect": "NoSchedule"}]
    return harden(spec)


def scheduler_spec(image: str, env: dict[str, str], idle_timeout: int = 0,
                   dashboard_prefix: str | None = None) -> dict[str, Any]:
    args = ["--port", str(SCHEDULER_PORT), "--dashboard-address", f":{DASHBOARD_PORT}"]
    if dashboard_prefix:
        # Served under the Ingress path as is: ingress controllers need no rewrite rule.
        args += ["--dashboard-prefix", dashboard_prefix]
    container = {
        "name": "scheduler", "image": image, "imagePullPolicy": "IfNotPresent",
        "command": ["dask", "scheduler"],
        "args": args,
        "env": _env_list(env),
        # No GPU here, ever: the scheduler runs no tasks.
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                      "limits": {"cpu": "1", "memory": "2Gi"}},
        "ports": [{"name": "tcp-comm", "containerPort": SCHEDULER_PORT, "protocol": "TCP"},
                  {"name": "http-dashboard", "containerPort": DASHBOARD_PORT,
                   "protocol": "TCP"}],
        "readinessProbe": {"tcpSocket": {"port": "tcp-comm"}, "periodSeconds": 1,
                           "initialDelaySeconds": 0},
    }
    return {
        "spec": harden({"containers": [container]}),
        # publishNotReadyAddresses: workers reach the scheduler as soon as it listens, not
        # after the next readiness probe (up to periodSeconds later, about 0.8 s measured by
        # tests/benchmarks/bench_dask.py); there is one scheduler pod, nothing to balance.
        "service": {"type": "ClusterIP", "selector": {},  # the operator fills the selector
                    "publishNotReadyAddresses": True,
                    "ports": [{"name": "tcp-comm", "protocol": "TCP", "port": SCHEDULER_PORT,
                               "targetPort": "tcp-comm"},
                              {"name": "http-dashboard", "protocol": "TCP",
                               "port": DASHBOARD_PORT, "targetPort": "http-dashboard"}]},
    }


def cluster_body(name: str, namespace: str, profile: Profile, *, n_workers: int,
                 image: str, env: dict[str, str], idle_timeout: int = 0,
                 heartbeat: str | None = None,
                 dashboard_prefix: str | None = None) -> dict[str, Any]:
    check_name(name)
    if n_workers < 0:
        raise SpecError(f"n_workers must be >= 0, got {n_workers}")
    sched = scheduler_spec(image, env, dashboard_prefix=dashboard_prefix)
    sched["service"]["selector"] = {"dask.org/cluster-name": name,
                                    "dask.org/component": "scheduler"}
    annotations = {PROFILE_ANNOTATION: profile.name}
    if idle_timeout:
        annotations[IDLE_TIMEOUT_ANNOTATION] = str(int(idle_timeout))
    if heartbeat:
        annotations[HEARTBEAT_ANNOTATION] = heartbeat
    if dashboard_prefix:
        annotations[DASHBOARD_PREFIX_ANNOTATION] = dashboard_prefix
    return {
        "apiVersion": API_VERSION, "kind": "DaskCluster",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"app.kubernetes.io/managed-by": MANAGED_BY},
                     "annotations": annotations},
        "spec": {"worker": {"replicas": n_workers,
                            "spec": worker_pod_spec(profile, image, env)},
                 "scheduler": sched},
    }


def dashboard_prefix(cluster: str, namespace: str) -> str:
    return f"/dask/{namespace}/{cluster}"


def dashboard_ingress_name(cluster: str) -> str:
    return f"{cluster}-dashboard"


def dashboard_ingress_body(cluster: str, namespace: str, ingress_class: str,
                           owner_uid: str | None) -> dict[str, Any]:
    """An Ingress sending the cluster's dashboard prefix to its scheduler Service; owned by
    the DaskCluster, so it goes with it."""
    metadata: dict[str, Any] = {
        "name": dashboard_ingress_name(cluster), "namespace": namespace,
        "labels": {"dask.org/cluster-name": cluster, "app.kubernetes.io/managed-by": MANAGED_BY}}
    if owner_uid:
        metadata["ownerReferences"] = [{"apiVersion": API_VERSION, "kind": "DaskCluster",
                                        "name": cluster, "uid": owner_uid}]
    backend = {"service": {"name": scheduler_service_name(cluster),
                           "port": {"number": DASHBOARD_PORT}}}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": metadata,
            "spec": {"ingressClassName": ingress_class, "rules": [{"http": {"paths": [
                {"path": dashboard_prefix(cluster, namespace), "pathType": "Prefix",
                 "backend": backend}]}}]}}


def ingress_url(ingress: dict[str, Any]) -> str | None:
    """The dashboard URL an Ingress's status announces, or None until it has an address."""
    lbs = ((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    paths = [p for rule in (ingress.get("spec") or {}).get("rules") or []
             for p in (rule.get("http") or {}).get("paths") or []]
    if not lbs or not paths:
        return None
    host = lbs[0].get("hostname") or lbs[0].get("ip")
    if not host:
        return None
    ports = [p.get("port") for p in lbs[0].get("ports") or [] if p.get("port")]
    netloc = host if not ports or ports[0] == 80 else f"{host}:{ports[0]}"
    return f"http://{netloc}{paths[0]['path'].rstrip('/')}/status"


def worker_group_body(cluster: str, group: str, namespace: str, profile: Profile, *,
                      n_workers: int, image: str, env: dict[str, str]) -> dict[str, Any]:
    check_name(group, "worker group name")
    if n_workers < 0:
        raise SpecError(f"n_workers must be >= 0, got {n_workers}")
    return {
        "apiVersion": API_VERSION, "kind": "DaskWorkerGroup",
        "metadata": {"name": f"{cluster}-{group}", "namespace": namespace,
                     "labels": {"dask.org/cluster-name": cluster,
                                "app.kubernetes.io/managed-by": MANAGED_BY},
                     "annotations": {GROUP_PROFILE_ANNOTATION: profile.name}},
        "spec": {"cluster": cluster,
                 "worker": {"replicas": n_workers,
                            "spec": worker_pod_spec(profile, image, env)}},
    }


_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def _memory_bytes(quantity: str) -> str:
    match = re.match(r"^([0-9.]+)([A-Za-z]*)$", str(quantity))
    if not match or match[2] not in _UNITS:
        raise SpecError(f"memory {quantity!r} is not a quantity like 4Gi")
    return str(int(float(match[1]) * _UNITS[match[2]]))


def scheduler_service_name(cluster: str) -> str:
    return f"{cluster}-scheduler"


def worker_group_name(cluster: str, group: str) -> str:
    return f"{cluster}-{group}"


# distributed's own default for `distributed.dashboard.link`.
DEFAULT_DASHBOARD_LINK = "{scheme}://{host}:{port}/status"


def configured_dashboard_link(cluster: str, namespace: str) -> str | None:
    """The dashboard link the user's dask config asks for (`distributed.dashboard.link`, as
    every Dask cluster manager honours it), with `host` the scheduler Service's in-cluster
    name and `port` its dashboard port; None where the config holds distributed's default.
    DaskHub's user servers set it to their own proxy,
    `{JUPYTERHUB_SERVICE_PREFIX}proxy/{host}:{port}/status`."""
    import dask.config
    from distributed.utils import format_dashboard_link

    if dask.config.get("distributed.dashboard.link") == DEFAULT_DASHBOARD_LINK:
        return None
    return str(format_dashboard_link(f"{scheduler_service_name(cluster)}.{namespace}",
                                     DASHBOARD_PORT))
