"""The manifests a training job becomes, and the arguments that cannot make one."""

from __future__ import annotations

from typing import Any

import pytest

from daskhub_lite.jobs.spec import (CODE_DIR, OUTPUT_DIR, WORK_DIR, JobRequest, JobSpecError,
                                    code_configmap, dask_job_manifest, default_name,
                                    job_manifest, outputs_claim, validate)


def req(**kw: Any) -> JobRequest:
    base: dict[str, Any] = {"command": ["python", "train.py"], "name": "train", "code": b"x"}
    base.update(kw)
    return JobRequest(**base)


def main_container(job: dict[str, Any]) -> dict[str, Any]:
    return job["spec"]["template"]["spec"]["containers"][0]


def test_plain_job_ships_code_and_outputs() -> None:
    job = job_manifest(req(retries=2, deadline=30.4, ttl=60, env={"LR": "0.1"}))
    spec = job["spec"]
    assert spec["backoffLimit"] == 2 and spec["activeDeadlineSeconds"] == 30
    assert spec["ttlSecondsAfterFinished"] == 60 and "completionMode" not in spec
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    main = main_container(job)
    assert main["workingDir"] == WORK_DIR
    env = {e["name"]: e["value"] for e in main["env"]}
    assert env["OUTPUT_DIR"] == OUTPUT_DIR and env["LR"] == "0.1"
    assert pod["initContainers"][0]["command"] == ["tar", "-xzf", f"{CODE_DIR}/code.tar.gz",
                                                   "-C", WORK_DIR]
    claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]
              if "persistentVolumeClaim" in v]
    assert claims == ["train-outputs"]
    assert "resources" not in main and "tolerations" not in pod


def test_no_code_no_outputs() -> None:
    pod = job_manifest(req(code=None, outputs=False))["spec"]["template"]["spec"]
    assert pod["volumes"] == [] and "initContainers" not in pod
    assert "workingDir" not in pod["containers"][0]


def test_gpus_and_model() -> None:
    job = job_manifest(req(gpus=2, gpu_model="A100|H100", cpus=4, memory="8Gi"))
    res = main_container(job)["resources"]
    assert res["limits"] == {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "2"}
    assert res["requests"] == res["limits"]
    tmpl = job["spec"]["template"]
    assert tmpl["metadata"]["annotations"]["daskhub-lite.io/gpu-models"] == "A100|H100"
    assert tmpl["spec"]["tolerations"][0]["key"] == "nvidia.com/gpu"


def test_gpu_share_in_milli() -> None:
    res = main_container(job_manifest(req(gpu_share=0.25)))["resources"]
    assert res["limits"] == {"daskhub-lite.io/gpu-milli": "250"}


def test_indexed_gpu_sweep_is_gang_scheduled() -> None:
    job = job_manifest(req(completions=4, gpus=1))
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["parallelism"] == 4
    meta = job["spec"]["template"]["metadata"]
    assert meta["labels"]["daskhub-lite.io/pod-group"] == "train"
    assert meta["annotations"]["daskhub-lite.io/min-member"] == "4"


def test_cpu_sweep_is_not_gang_scheduled() -> None:
    job = job_manifest(req(completions=4, parallelism=2))
    assert job["spec"]["parallelism"] == 2
    assert "daskhub-lite.io/pod-group" not in job["spec"]["template"]["metadata"]["labels"]


def test_code_configmap_and_claim() -> None:
    cm = code_configmap(req(code=b"\x00\x01"))
    assert cm["binaryData"] == {"code.tar.gz": "AAE="}
    claim = outputs_claim(req(outputs="5Gi"))
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert claim["metadata"]["labels"]["daskhub-lite.io/job"] == "train"


def test_dask_job_has_workers_and_the_job_pod() -> None:
    dj = dask_job_manifest(req(dask_workers=3))
    assert dj["kind"] == "DaskJob"
    assert dj["spec"]["cluster"]["spec"]["worker"]["replicas"] == 3
    assert dj["spec"]["job"]["spec"]["containers"][0]["workingDir"] == WORK_DIR


@pytest.mark.parametrize("kw,match", [
    ({"command": []}, "command"),
    ({"name": "Bad_Name"}, "name"),
    ({"name": "x" * 60}, "name"),
    ({"gpus": -1}, "gpus"),
    ({"gpus": 1.5}, "gpus"),
    ({"gpu_share": 1.5}, "gpu_share"),
    ({"gpu_share": 0.5, "gpus": 1}, "not both"),
    ({"gpu_model": "A100"}, "gpu_model needs"),
    ({"retries": -1}, "retries"),
    ({"deadline": 0}, "deadline"),
    ({"completions": 0}, "completions"),
    ({"parallelism": 0}, "parallelism"),
    ({"memory": "lots"}, "memory"),
    ({"env": {"1BAD": "x"}}, "environment"),
    ({"outputs": "huge"}, "outputs"),
])
def test_bad_arguments(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(JobSpecError, match=match):
        validate(req(**kw))


def test_default_name_from_the_script() -> None:
    name = default_name(["python", "-u", "My_Train.py"])
    assert name.startswith("my-train-") and len(name) == len("my-train-") + 5
    assert default_name(["./run"]).startswith("run-")
