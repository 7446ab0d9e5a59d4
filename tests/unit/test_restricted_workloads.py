"""Every pod daskhub_lite generates (Dask schedulers and workers, training Jobs, DaskJobs, the
outputs helper) meets the `restricted` Pod Security Standard, checked with the same pure
checks the API server's PodSecurity admission runs."""

from __future__ import annotations

from typing import Any

import pytest

from daskhub_lite.clusters import profiles, spec as clusters
from daskhub_lite.jobs import outputs, spec as jobs
from daskhub_lite.securitycontext import harden
from orchestrator.api.podsecurity.levels import LATEST, RESTRICTED, LevelVersion
from orchestrator.api.podsecurity.registry import aggregate

RESTRICTED_LATEST = LevelVersion(RESTRICTED, LATEST)


def _violations(meta: dict[str, Any], spec: dict[str, Any]) -> str:
    return aggregate(RESTRICTED_LATEST, meta, spec).detail()


def _cluster_pods() -> list[dict[str, Any]]:
    gpu = profiles.Profile(name="gpu", cores=2, memory="8Gi", gpus=1)
    body = clusters.cluster_body("c", "ns", profiles.get(profiles.DEFAULT_PROFILE),
                                 n_workers=1, image="img", env={"A": "b"})
    group = clusters.worker_group_body("c", "gpus", "ns", gpu, n_workers=1, image="img",
                                       env={})
    return [body["spec"]["worker"]["spec"], body["spec"]["scheduler"]["spec"],
            group["spec"]["worker"]["spec"]]


def _job_pods() -> list[dict[str, Any]]:
    plain = jobs.JobRequest(command=["python", "train.py"], name="train", code=b"tgz",
                            gpus=1, completions=2)
    dask = jobs.JobRequest(command=["python", "train.py"], name="with-dask", dask_workers=2)
    manifest = jobs.dask_job_manifest(dask)["spec"]
    return [jobs.job_manifest(plain)["spec"]["template"]["spec"], manifest["job"]["spec"],
            manifest["cluster"]["spec"]["worker"]["spec"],
            manifest["cluster"]["spec"]["scheduler"]["spec"],
            outputs.helper_pod("train", "ns", "img", "node-1")["spec"]]


@pytest.mark.parametrize("pod_spec", _cluster_pods() + _job_pods(),
                         ids=["worker", "scheduler", "gpu-worker", "job", "daskjob-runner",
                              "daskjob-worker", "daskjob-scheduler", "outputs-helper"])
def test_generated_pods_meet_restricted(pod_spec: dict[str, Any]) -> None:
    assert _violations({}, pod_spec) == ""
    containers = pod_spec["containers"] + pod_spec.get("initContainers", [])
    assert all(c["securityContext"]["capabilities"] == {"drop": ["ALL"]} for c in containers)


def test_without_hardening_the_same_pods_would_be_refused() -> None:
    bare = {"containers": [{"name": "worker", "image": "img"}]}
    assert "runAsNonRoot != true" in _violations({}, bare)


def test_what_a_caller_sets_explicitly_is_kept() -> None:
    spec = harden({"securityContext": {"runAsUser": 2000},
                   "containers": [{"name": "c", "securityContext": {"readOnlyRootFilesystem":
                                                                      True}}]})
    assert spec["securityContext"]["runAsUser"] == 2000
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["containers"][0]["securityContext"] == {
        "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True}
