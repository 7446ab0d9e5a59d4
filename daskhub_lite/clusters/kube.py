"""The few Kubernetes calls a DaskCluster makes (kr8s asyncio), in one place."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import kr8s
import kr8s.asyncio
from kr8s.asyncio.objects import new_class, object_from_spec

DASKCLUSTERS = "daskclusters.kubernetes.dask.org"
WORKERGROUPS = "daskworkergroups.kubernetes.dask.org"
INGRESSES = "ingresses.networking.k8s.io"

# Registered once, with their real kinds: otherwise kr8s makes a class on the first `get`
# of an unknown kind from discovery's singular name ("daskworkergroup"), and every later
# create of that kind in this process sends that lower-case kind, which the server refuses.
DaskClusterObject = new_class("DaskCluster", "kubernetes.dask.org/v1", plural="daskclusters")
DaskWorkerGroupObject = new_class("DaskWorkerGroup", "kubernetes.dask.org/v1",
                                  plural="daskworkergroups")


class ClusterStartError(RuntimeError):
    """The cluster cannot come up; the message says why (unschedulable, crashing...)."""


class WorkersRefused(UserWarning):
    """Worker pods the API refused to create (a ResourceQuota, a LimitRange, Pod Security):
    the request stands, and the workers come when the namespace can take them. `messages`
    are the API's own (`pods "..." is forbidden: exceeded quota: ...`)."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        super().__init__("; ".join(messages))


def forbidden(exc: BaseException) -> bool:
    """A 403 from the API (what a hub user's namespace-bound account gets for nodes)."""
    response = getattr(exc, "response", None)
    return isinstance(exc, kr8s.ServerError) and \
        getattr(response, "status_code", None) == 403


def creation_refusals(replica_sets: list[dict[str, Any]]) -> list[str]:
    """Why pods of these ReplicaSets could not be created (their ReplicaFailure condition:
    the API's refusal, as the replicaset controller got it), without repeats."""
    out: list[str] = []
    for rs in replica_sets:
        for cond in (rs.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True":
                message = str(cond.get("message") or cond.get("reason") or "FailedCreate")
                if message not in out:
                    out.append(message)
    return out


async def refusals(api: Any, namespace: str, labels: dict[str, str]) -> list[str]:
    """`creation_refusals` of the ReplicaSets carrying `labels`."""
    return creation_refusals(await list_raw(api, "replicasets", namespace, labels))


async def create(api: Any, body: dict[str, Any]) -> Any:
    obj = await object_from_spec(body, api=api, allow_unknown_type=True)
    await obj.create()
    return obj


async def get_one(api: Any, kind: str, name: str, namespace: str) -> Any | None:
    try:
        async for obj in api.async_get(kind, name, namespace=namespace):
            return obj
    except kr8s.NotFoundError:
        return None
    return None


async def list_raw(api: Any, kind: str, namespace: str | None,
                   labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    out = []
    async for obj in api.async_get(kind, namespace=namespace, label_selector=labels or None):
        out.append(obj.raw)
    return out


async def patch(api: Any, kind: str, name: str, namespace: str, body: dict[str, Any]) -> None:
    obj = await get_one(api, kind, name, namespace)
    if obj is None:
        raise kr8s.NotFoundError(f"{kind} {namespace}/{name} not found")
    await obj.patch(body, type="merge")


async def delete(api: Any, kind: str, name: str, namespace: str) -> bool:
    obj = await get_one(api, kind, name, namespace)
    if obj is None:
        return False
    try:
        await obj.delete(propagation_policy="Background")
    except kr8s.NotFoundError:
        return False
    return True


def pod_problem(pod: dict[str, Any]) -> str | None:
    """Why a pod will not come up by itself, or None while it still may."""
    status = pod.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False" \
                and cond.get("reason") == "Unschedulable":
            return f"pod {pod['metadata']['name']} cannot be scheduled: {cond.get('message')}"
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in ("CrashLoopBackOff", "CreateContainerError",
                                     "RunContainerError", "StartError"):
            last = (cs.get("lastState") or {}).get("terminated") or {}
            return (f"pod {pod['metadata']['name']} container {cs['name']} is "
                    f"{waiting['reason']}: {waiting.get('message') or last.get('message') or ''}"
                    ).strip()
    return None


def pod_ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


async def wait_for_scheduler(api: Any, cluster: str, namespace: str, timeout: float,
                             progress: Any = None) -> Any:
    """The scheduler Service once its pod is Ready; raises ClusterStartError early when the
    pod cannot come up (unschedulable, crashing) instead of waiting out the timeout."""
    deadline = time.monotonic() + timeout
    labels = {"dask.org/cluster-name": cluster, "dask.org/component": "scheduler"}
    last = "waiting for the operator to create the scheduler"
    while time.monotonic() < deadline:
        pods = await list_raw(api, "pods", namespace, labels)
        for pod in pods:
            problem = pod_problem(pod)
            if problem:
                raise ClusterStartError(problem)
        if not pods:
            refused = await refusals(api, namespace, labels)
            if refused:
                raise ClusterStartError(f"DaskCluster {namespace}/{cluster}: the scheduler "
                                        f"pod cannot be created: {'; '.join(refused)}")
        if pods:
            last = "waiting for the scheduler pod to be ready"
        if any(pod_ready(p) for p in pods):
            svc = await get_one(api, "services", f"{cluster}-scheduler", namespace)
            if svc is not None:
                return svc
            last = "waiting for the scheduler Service"
        if progress is not None:
            progress(last)
        await asyncio.sleep(0.25)
    raise ClusterStartError(f"DaskCluster {namespace}/{cluster}: timed out after {timeout:.0f}s "
                            f"{last}")


async def pods_left(api: Any, cluster: str, namespace: str) -> list[str]:
    pods = await list_raw(api, "pods", namespace, {"dask.org/cluster-name": cluster})
    return [p["metadata"]["name"] for p in pods]


CLEANUP_ORDER = (WORKERGROUPS, "deployments", "replicasets", INGRESSES, "services", "pods")


async def delete_labelled(api: Any, namespace: str, labels: dict[str, str]) -> None:
    """Delete what carries `labels`, owners before what they own (so nothing is recreated)."""
    for kind in CLEANUP_ORDER:
        for raw in await list_raw(api, kind, namespace, labels):
            await delete(api, kind, raw["metadata"]["name"], namespace)
