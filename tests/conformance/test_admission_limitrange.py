"""LimitRange admission through kubectl: a tenant's pods get the namespace's container
defaults (and kube's `kubernetes.io/limit-ranger` annotation), and pods or claims outside a
range's min, max or limit/request ratio are refused with kube-apiserver's own messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from orchestrator import ControlPlane
from tests.conftest import Kubectl
from tests.tenants import Tenant, make_tenant


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    # Admission needs no node, scheduler or controller.
    with ControlPlane(data_dir=tmp_path_factory.mktemp("cp"), components=()) as cp:
        yield cp


@pytest.fixture(scope="module")
def tmp_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tenants")


def _limit_range(kubectl: Kubectl, namespace: str, *items: dict[str, Any]) -> None:
    kubectl.run("apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "LimitRange",
        "metadata": {"name": "limits", "namespace": namespace},
        "spec": {"limits": list(items)}}))


def _pod(name: str, *containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": list(containers) or [_container("c")], **spec}}


def _container(name: str, requests: dict[str, str] | None = None,
               limits: dict[str, str] | None = None) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    return {"name": name, "image": "python", "command": ["true"], "resources": resources}


def _create(tenant: Tenant, obj: dict[str, Any], check: bool = False) -> Any:
    return tenant.kubectl.run("create", "-n", tenant.namespace, "-f", "-",
                              input=json.dumps(obj), check=check)


def _refusal(proc: Any) -> str:
    assert proc.returncode != 0, proc.stdout
    assert "Error from server (Forbidden)" in proc.stderr, proc.stderr
    return str(proc.stderr.split('error when creating "STDIN": ', 1)[-1].strip())


@pytest.fixture(scope="module")
def tenant(control_plane: ControlPlane, kubectl: Kubectl, tmp_module: Path) -> Tenant:
    tenant = make_tenant(control_plane, kubectl, "limits-container", tmp_module)
    _limit_range(kubectl, tenant.namespace, {
        "type": "Container",
        "default": {"cpu": "500m", "memory": "512Mi"},
        "defaultRequest": {"cpu": "200m"},
        "min": {"cpu": "100m"},
        "max": {"cpu": "2", "memory": "1Gi"},
        "maxLimitRequestRatio": {"cpu": "4"}})
    return tenant


def test_containers_get_the_defaults(tenant: Tenant, kubectl: Kubectl) -> None:
    _create(tenant, _pod("plain", _container("main"), _container("side",
                                                                 requests={"cpu": "300m"})),
            check=True)
    pod = kubectl.json("get", "pod", "plain", "-n", tenant.namespace)
    main, side = pod["spec"]["containers"]
    assert main["resources"] == {"requests": {"cpu": "200m", "memory": "512Mi"},
                                 "limits": {"cpu": "500m", "memory": "512Mi"}}
    assert side["resources"] == {"requests": {"cpu": "300m", "memory": "512Mi"},
                                 "limits": {"cpu": "500m", "memory": "512Mi"}}
    assert pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container main; cpu, memory limit "
        "for container main; memory request for container side; cpu, memory limit for "
        "container side")
    assert pod["status"]["qosClass"] == "Burstable"


def test_min_max_and_ratio_are_refused_with_kubes_messages(tenant: Tenant) -> None:
    assert _refusal(_create(tenant, _pod("tiny", _container(
        "c", requests={"cpu": "50m"}, limits={"cpu": "100m"})))) == (
        'pods "tiny" is forbidden: minimum cpu usage per Container is 100m, but request is 50m')
    assert _refusal(_create(tenant, _pod("huge", _container(
        "c", limits={"memory": "2Gi"})))) == (
        'pods "huge" is forbidden: maximum memory usage per Container is 1Gi, but limit is 2Gi')
    assert _refusal(_create(tenant, _pod("spiky", _container(
        "c", requests={"cpu": "100m"}, limits={"cpu": "1"})))) == (
        'pods "spiky" is forbidden: cpu max limit to request ratio per Container is 4, but '
        'provided ratio is 10.000000')
    # Several problems at once read as kube's error aggregate.
    assert _refusal(_create(tenant, _pod("worse", _container(
        "c", requests={"cpu": "50m"}, limits={"cpu": "3", "memory": "2Gi"})))) == (
        'pods "worse" is forbidden: [minimum cpu usage per Container is 100m, but request is '
        '50m, maximum cpu usage per Container is 2, but limit is 3, maximum memory usage per '
        'Container is 1Gi, but limit is 2Gi, cpu max limit to request ratio per Container is '
        '4, but provided ratio is 60.000000]')
    # Init containers are held to the same range.
    assert "minimum cpu usage per Container is 100m, but request is 10m" in _refusal(_create(
        tenant, _pod("init", _container("c"), initContainers=[
            _container("setup", requests={"cpu": "10m"})])))


def test_pod_and_claim_ranges(control_plane: ControlPlane, kubectl: Kubectl,
                              tmp_module: Path) -> None:
    tenant = make_tenant(control_plane, kubectl, "limits-pod", tmp_module)
    _limit_range(kubectl, tenant.namespace,
                 {"type": "Pod", "max": {"cpu": "2"}, "min": {"memory": "64Mi"}},
                 {"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"},
                  "max": {"storage": "2Gi"}})
    two = [_container(f"c{i}", requests={"cpu": "1", "memory": "64Mi"},
                      limits={"cpu": "1500m", "memory": "64Mi"}) for i in range(2)]
    assert _refusal(_create(tenant, _pod("pair", *two))) == (
        'pods "pair" is forbidden: maximum cpu usage per Pod is 2, but limit is 3')
    assert _refusal(_create(tenant, _pod("unbounded", _container(
        "c", requests={"cpu": "1", "memory": "64Mi"})))) == (
        'pods "unbounded" is forbidden: maximum cpu usage per Pod is 2.  No limit is specified')
    _create(tenant, _pod("fits", _container("c", requests={"cpu": "1", "memory": "64Mi"},
                                            limits={"cpu": "2"})), check=True)

    def claim(name: str, size: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
                "spec": {"accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": size}}}}

    assert _refusal(_create(tenant, claim("big", "5Gi"))) == (
        'persistentvolumeclaims "big" is forbidden: maximum storage usage per '
        'PersistentVolumeClaim is 2Gi, but request is 5Gi')
    assert _refusal(_create(tenant, claim("small", "100Mi"))) == (
        'persistentvolumeclaims "small" is forbidden: minimum storage usage per '
        'PersistentVolumeClaim is 1Gi, but request is 100Mi')
    _create(tenant, claim("right", "2Gi"), check=True)


def test_defaults_satisfy_a_quota_that_wants_limits(control_plane: ControlPlane,
                                                    kubectl: Kubectl,
                                                    tmp_module: Path) -> None:
    """The usual pairing: a quota on cpu/memory, and a LimitRange so that pods which say
    nothing still say enough (LimitRanger runs before ResourceQuota)."""
    tenant = make_tenant(control_plane, kubectl, "limits-quota", tmp_module)
    ns = tenant.namespace
    _limit_range(kubectl, ns, {"type": "Container", "default": {"cpu": "1", "memory": "1Gi"}})
    range_obj = kubectl.json("get", "limitrange", "limits", "-n", ns)
    # kube's LimitRange defaulting: defaultRequest falls back to default.
    assert range_obj["spec"]["limits"][0]["defaultRequest"] == {"cpu": "1", "memory": "1Gi"}
    kubectl.run("apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": {"name": "compute", "namespace": ns},
        "spec": {"hard": {"limits.cpu": "1", "limits.memory": "2Gi"}}}))
    # No quota controller runs in this control plane: the admin writes the status.
    kubectl.run("patch", "resourcequota", "compute", "-n", ns, "--subresource=status",
                "--type=merge", "-p", json.dumps({"status": {
                    "hard": {"limits.cpu": "1", "limits.memory": "2Gi"},
                    "used": {"limits.cpu": "0", "limits.memory": "0"}}}))
    _create(tenant, _pod("first"), check=True)
    assert _refusal(_create(tenant, _pod("second"))) == (
        'pods "second" is forbidden: exceeded quota: compute, requested: limits.cpu=1, used: '
        'limits.cpu=1, limited: limits.cpu=1')
