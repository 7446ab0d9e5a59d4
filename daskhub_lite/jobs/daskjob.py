"""Training jobs with a Dask cluster attached: dask-kubernetes `DaskJob` resources.

The operator starts a Dask cluster named after the job and a runner pod from our pod template
(so it carries the job label, the code and the outputs claim) with `DASK_SCHEDULER_ADDRESS`
set. `as_job` presents a DaskJob as a batch Job so the rest of `jobs` reads it the same way.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping

from daskhub_lite.jobs.kube import Cluster
from daskhub_lite.kubehttp import APIStatusError, resource_path
from daskhub_lite.jobs.spec import JobRequest, dask_job_manifest

# The operator labels the cluster's pods with the DaskJob's labels (ours among them).
NOT_CLUSTER_PODS = "dask.org/component notin (scheduler,worker)"
GROUP, VERSION, PLURAL = "kubernetes.dask.org", "v1", "daskjobs"
CRD = f"{PLURAL}.{GROUP}"
API_VERSION = f"{GROUP}/{VERSION}"
_STATUS = {"Successful": ("Complete", ""), "Failed": ("Failed", "DaskJobFailed")}


def available(cluster: Cluster) -> bool:
    """Whether the dask-kubernetes operator's DaskJob resource exists on the cluster."""
    try:
        cluster.http.get(resource_path("apiextensions.k8s.io/v1", "customresourcedefinitions",
                                       name=CRD))
        return True
    except APIStatusError as exc:
        if exc.status in (403, 404):
            return False
        raise


def submit(req: JobRequest, cluster: Cluster) -> Any:
    from daskhub_lite import jobs

    if not available(cluster):
        raise jobs.JobError(
            "dask_workers needs the dask-kubernetes operator (its DaskJob resource) on the "
            "cluster: install it with `daskhub-lite install dask-operator dask-operator -n "
            "dask-operator --create-namespace --wait`, or submit with dask_workers=0")
    dask, python = "dask", "python"
    if cluster.embedded:  # pods run on this machine: this environment's dask
        dask, python = str(Path(sys.executable).parent / "dask"), sys.executable
    jobs._create(cluster, req, dask_job_manifest(req, dask, python))
    return jobs.TrainingJob(req.name, cluster, req.namespace, kind="DaskJob")


def read(cluster: Cluster, name: str, namespace: str) -> dict[str, Any]:
    return as_job(cluster.http.get(resource_path(API_VERSION, PLURAL, namespace, name)))


def list_all(cluster: Cluster, namespace: str, selector: str) -> list[dict[str, Any]]:
    if not available(cluster):
        return []
    found = cluster.http.get(resource_path(API_VERSION, PLURAL, namespace),
                             labelSelector=selector)
    return [as_job(obj) for obj in found["items"]]


def delete(cluster: Cluster, name: str, namespace: str) -> None:
    cluster.http.delete(resource_path(API_VERSION, PLURAL, namespace, name))


def as_job(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A DaskJob in the shape of a batch Job (metadata, spec.template, status conditions)."""
    status = obj.get("status") or {}
    job_status = str(status.get("jobStatus") or "")
    conditions = []
    if job_status in _STATUS:
        kind, reason = _STATUS[job_status]
        conditions.append({"type": kind, "status": "True", "reason": reason,
                           "message": f"the DaskJob's runner pod {job_status.lower()}"})
    job = (obj.get("spec") or {}).get("job") or {}
    return {"apiVersion": obj.get("apiVersion"), "kind": "DaskJob",
            "metadata": obj.get("metadata") or {},
            "spec": {"completions": 1, "template": {"metadata": job.get("metadata") or {},
                                                    "spec": job.get("spec") or {}}},
            "status": {"conditions": conditions,
                       "active": 1 if job_status == "Running" else 0,
                       "succeeded": 1 if job_status == "Successful" else 0,
                       "failed": 1 if job_status == "Failed" else 0,
                       "startTime": status.get("startTime") or "",
                       "completionTime": status.get("endTime") or ""}}
