"""Cluster manifests, profiles and images: pure functions, no server."""

from __future__ import annotations

import warnings

import dask
import distributed
import pytest

from daskhub_lite.clusters import profiles, spec


def test_builtin_profiles_and_unknown_profile() -> None:
    assert {"cpu-small", "cpu-large", "gpu"} <= set(profiles.available())
    assert profiles.get("gpu").gpus == 1
    with pytest.raises(profiles.ProfileError, match="'huge' does not exist.*cpu-small"):
        profiles.get("huge")


def test_user_profiles_from_dask_config() -> None:
    with dask.config.set({"daskhub-lite.profiles": {
            "gpu-big": {"cores": 8, "memory": "64Gi", "gpus": 2},
            "cpu-small": {"cores": 2}}}):
        assert profiles.get("gpu-big").gpus == 2
        small = profiles.get("cpu-small")
        assert small.cores == 2 and small.memory == "2Gi"  # merged over the built-in
    with dask.config.set({"daskhub-lite.profiles": {"bad": {"gpus": -1}}}):
        with pytest.raises(profiles.ProfileError, match="gpus must be"):
            profiles.get("bad")
    with dask.config.set({"daskhub-lite.profiles": {"typo": {"corse": 1}}}):
        with pytest.raises(profiles.ProfileError, match="unknown fields"):
            profiles.get("typo")


def _containers(body: dict) -> tuple[dict, dict]:
    return (body["spec"]["scheduler"]["spec"]["containers"][0],
            body["spec"]["worker"]["spec"]["containers"][0])


def test_gpu_only_on_workers_and_dask_commands() -> None:
    body = spec.cluster_body("c1", "ns", profiles.get("gpu"), n_workers=2,
                             image="img", env={"A": "1"}, idle_timeout=60, heartbeat="5")
    sched, worker = _containers(body)
    assert sched["command"] == ["dask", "scheduler"]
    assert worker["command"] == ["dask", "worker"]
    assert "nvidia.com/gpu" not in str(sched["resources"])
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert worker["args"][-2:] == ["--resources", "GPU=1"]
    assert "--resources" not in sched.get("args", [])
    assert body["spec"]["worker"]["replicas"] == 2
    md = body["metadata"]
    assert md["annotations"][spec.IDLE_TIMEOUT_ANNOTATION] == "60"
    assert md["annotations"][spec.HEARTBEAT_ANNOTATION] == "5"
    assert body["spec"]["scheduler"]["service"]["selector"] == {
        "dask.org/cluster-name": "c1", "dask.org/component": "scheduler"}


def test_scheduler_service_publishes_the_scheduler_before_it_is_ready() -> None:
    # Workers connect as soon as the scheduler listens, not after its next readiness probe.
    body = spec.cluster_body("c1", "ns", profiles.get(None), n_workers=1, image="img", env={})
    assert body["spec"]["scheduler"]["service"]["publishNotReadyAddresses"] is True


def test_cpu_workers_have_no_gpu_and_no_resources_flag() -> None:
    body = spec.cluster_body("c1", "ns", profiles.get("cpu-small"), n_workers=1,
                             image="img", env={})
    _, worker = _containers(body)
    assert "--resources" not in worker["args"]
    assert "nvidia.com/gpu" not in str(worker["resources"])
    assert worker["args"][worker["args"].index("--memory-limit") + 1] == str(2 * 2**30)


def test_worker_group_body() -> None:
    body = spec.worker_group_body("c1", "gpu", "ns", profiles.get("gpu"), n_workers=3,
                                  image="img", env={})
    assert body["kind"] == "DaskWorkerGroup" and body["metadata"]["name"] == "c1-gpu"
    assert body["spec"] == {"cluster": "c1", "worker": body["spec"]["worker"]}
    assert body["spec"]["worker"]["replicas"] == 3
    with pytest.raises(spec.SpecError, match="n_workers"):
        spec.worker_group_body("c1", "g", "ns", profiles.get("gpu"), n_workers=-1,
                               image="i", env={})


@pytest.mark.parametrize("name", ["", "Upper", "1abc", "a_b", "x" * 41])
def test_bad_names(name: str) -> None:
    with pytest.raises(spec.SpecError):
        spec.check_name(name)


def test_image_default_and_version_warning() -> None:
    assert spec.resolve_image(None) == spec.default_image()
    assert distributed.__version__ in spec.default_image()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spec.resolve_image(spec.default_image())
        spec.resolve_image("example.com/custom:latest")
    with pytest.warns(UserWarning, match="runs Dask 2020.1.0"):
        spec.resolve_image("ghcr.io/dask/dask:2020.1.0-py3.11")


def test_dashboard_ingress_and_its_url() -> None:
    body = spec.dashboard_ingress_body("c1", "ns", "daskhub-lite", "uid-1")
    path = body["spec"]["rules"][0]["http"]["paths"][0]
    assert path["path"] == "/dask/ns/c1" and path["pathType"] == "Prefix"
    assert path["backend"]["service"]["name"] == "c1-scheduler"
    assert body["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert spec.ingress_url(body) is None  # no address yet
    body["status"] = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1",
                                                    "ports": [{"port": 8080}]}]}}
    assert spec.ingress_url(body) == "http://127.0.0.1:8080/dask/ns/c1/status"
    body["status"] = {"loadBalancer": {"ingress": [{"hostname": "lb.example"}]}}
    assert spec.ingress_url(body) == "http://lb.example/dask/ns/c1/status"
    sched = spec.scheduler_spec("img", {}, dashboard_prefix="/dask/ns/c1")
    assert sched["spec"]["containers"][0]["args"][-2:] == ["--dashboard-prefix", "/dask/ns/c1"]
