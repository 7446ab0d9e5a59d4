"""ResourceQuota admission and the quota controller, through kubectl and the `kubernetes`
client: a tenant (tests/tenants.py) with a quota of one GPU on a node with four gets its first
GPU pod and is refused the second with kube-apiserver's own message; usage is charged at
admission (two racing creates cannot both pass) and released when a pod goes or finishes;
scopes, object counts and storage are enforced as Kubernetes enforces them."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from orchestrator import ControlPlane
from tests.conftest import Kubectl, wait_for
from tests.tenants import Tenant, make_tenant

NODES = {"nodes": [
    {"name": "gpu", "runtime": "simulated", "count": 1,
     "capacity": {"cpu": "32", "memory": "128Gi", "pods": "110", "nvidia.com/gpu": "4",
                  "daskhub-lite.io/gpu-milli": "4000"}},
]}


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    data = tmp_path_factory.mktemp("quota-cp")
    nodes_file = Path(data) / "nodes.yaml"
    nodes_file.write_text(yaml.safe_dump(NODES))
    with ControlPlane(data_dir=data / "state", nodes=str(nodes_file)) as cp:
        yield cp


@pytest.fixture(scope="module")
def tmp_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tenants")


def _quota(kubectl: Kubectl, namespace: str, name: str, hard: dict[str, str],
           **spec: Any) -> dict[str, Any]:
    """Made by the admin (tenants may not write quotas); returned once the controller has
    filled in its status, as admission only enforces what `status.hard` lists."""
    body = {"apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"hard": hard, **spec}}
    kubectl.run("apply", "-f", "-", input=json.dumps(body))
    return wait_for(lambda: _settled(kubectl, namespace, name, hard), timeout=15)


def _settled(kubectl: Kubectl, namespace: str, name: str,
             hard: dict[str, str]) -> dict[str, Any] | None:
    quota = kubectl.json("get", "resourcequota", name, "-n", namespace)
    status = quota.get("status") or {}
    if set(status.get("hard") or {}) == set(hard) and set(status.get("used") or {}) == set(hard):
        return quota
    return None


def _used(kubectl: Kubectl, namespace: str, name: str) -> dict[str, str]:
    return dict(kubectl.json("get", "resourcequota", name, "-n", namespace)["status"]["used"])


def _pod(name: str, requests: dict[str, str] | None = None,
         limits: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "python",
                                     "command": ["sleep", "3600"], "resources": resources}],
                     **spec}}


def _create(tenant: Tenant, *objs: dict[str, Any], check: bool = False) -> Any:
    return tenant.kubectl.run("create", "-n", tenant.namespace, "-f", "-",
                              input="\n---\n".join(json.dumps(o) for o in objs), check=check)


def _forbidden(proc: Any) -> str:
    """The server's message, from kubectl's `Error from server (Forbidden): error when
    creating "STDIN": <message>`."""
    assert proc.returncode != 0, proc.stdout
    assert "Error from server (Forbidden)" in proc.stderr, proc.stderr
    return str(proc.stderr.split('error when creating "STDIN": ', 1)[-1].strip())


@pytest.fixture(scope="module")
def gpu_tenant(control_plane: ControlPlane, kubectl: Kubectl, tmp_module: Path) -> Tenant:
    return make_tenant(control_plane, kubectl, "quota-gpu", tmp_module)


def test_a_second_gpu_pod_is_refused_with_kubes_message(gpu_tenant: Tenant,
                                                        kubectl: Kubectl) -> None:
    ns = gpu_tenant.namespace
    quota = _quota(kubectl, ns, "gpus", {"requests.nvidia.com/gpu": "1"})
    assert quota["status"]["used"] == {"requests.nvidia.com/gpu": "0"}
    # Limits alone: requests default to them, as kube-apiserver's Pod defaulting does.
    _create(gpu_tenant, _pod("train-1", limits={"nvidia.com/gpu": "1"}), check=True)
    # Charged at admission, not when the controller next looks.
    assert _used(kubectl, ns, "gpus") == {"requests.nvidia.com/gpu": "1"}
    message = _forbidden(_create(gpu_tenant, _pod("train-2", limits={"nvidia.com/gpu": "1"})))
    assert message == ('pods "train-2" is forbidden: exceeded quota: gpus, requested: '
                       'requests.nvidia.com/gpu=1, used: requests.nvidia.com/gpu=1, '
                       'limited: requests.nvidia.com/gpu=1')
    # The tenant may neither raise nor drop its quota, nor forge its usage.
    for args in (("delete", "resourcequota", "gpus"),
                 ("patch", "resourcequota", "gpus", "--type=merge", "-p",
                  '{"spec":{"hard":{"requests.nvidia.com/gpu":"8"}}}'),
                 ("patch", "resourcequota", "gpus", "--subresource=status", "--type=merge",
                  "-p", '{"status":{"used":{"requests.nvidia.com/gpu":"0"}}}')):
        proc = gpu_tenant.kubectl.run(*args, "-n", ns, check=False)
        assert proc.returncode != 0 and "Forbidden" in proc.stderr, (args, proc.stderr)
    assert "exceeded quota: gpus," in _forbidden(
        _create(gpu_tenant, _pod("train-2", limits={"nvidia.com/gpu": "1"})))
    # A CPU pod is no business of a GPU quota.
    _create(gpu_tenant, _pod("notebook", requests={"cpu": "1"}), check=True)
    # Deleting the GPU pod frees the GPU: the controller recounts, the next one fits.
    kubectl.run("delete", "pod", "train-1", "-n", ns, "--wait=true")
    wait_for(lambda: _used(kubectl, ns, "gpus") == {"requests.nvidia.com/gpu": "0"},
             timeout=15)
    _create(gpu_tenant, _pod("train-2", limits={"nvidia.com/gpu": "1"}), check=True)
    kubectl.run("delete", "pods", "--all", "-n", ns, "--wait=true")


def test_racing_creates_cannot_both_pass(control_plane: ControlPlane, kubectl: Kubectl,
                                         tmp_module: Path) -> None:
    tenant = make_tenant(control_plane, kubectl, "quota-race", tmp_module)
    _quota(kubectl, tenant.namespace, "gpus", {"requests.nvidia.com/gpu": "2"})
    core = k8s.CoreV1Api(k8s_config.new_client_from_config(config_file=tenant.kubeconfig))

    def create(i: int) -> int:
        try:
            core.create_namespaced_pod(tenant.namespace,
                                       _pod(f"racer-{i}", limits={"nvidia.com/gpu": "1"}))
            return 201
        except ApiException as exc:
            return int(exc.status)

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(create, range(12)))
    assert sorted(codes) == [201, 201] + [403] * 10, codes
    assert _used(kubectl, tenant.namespace, "gpus") == {"requests.nvidia.com/gpu": "2"}
    assert len(kubectl.json("get", "pods", "-n", tenant.namespace)["items"]) == 2


def test_finished_pods_do_not_count(control_plane: ControlPlane, kubectl: Kubectl,
                                    tmp_module: Path) -> None:
    tenant = make_tenant(control_plane, kubectl, "quota-finished", tmp_module)
    ns = tenant.namespace
    _quota(kubectl, ns, "compute", {"pods": "1", "count/pods": "5",
                                    "requests.nvidia.com/gpu": "1"})
    # On no node (no simulated kubelet to keep it Running): its status is ours to write.
    _create(tenant, _pod("done", limits={"nvidia.com/gpu": "1"},
                         nodeSelector={"quota-test": "nowhere"}), check=True)
    assert _used(kubectl, ns, "compute") == {"pods": "1", "count/pods": "1",
                                             "requests.nvidia.com/gpu": "1"}
    message = _forbidden(_create(tenant, _pod("waiting")))
    assert message == ('pods "waiting" is forbidden: exceeded quota: compute, requested: '
                       'pods=1, used: pods=1, limited: pods=1')
    # The pod finishes (as a kubelet would report): it stops counting, except in count/pods,
    # which counts every pod object in storage.
    kubectl.run("patch", "pod", "done", "-n", ns, "--subresource=status", "--type=merge",
                "-p", '{"status":{"phase":"Succeeded"}}')
    wait_for(lambda: _used(kubectl, ns, "compute") == {
        "pods": "0", "count/pods": "1", "requests.nvidia.com/gpu": "0"}, timeout=15)
    _create(tenant, _pod("waiting"), check=True)


def test_several_resources_are_reported_in_kubes_order(control_plane: ControlPlane,
                                                       kubectl: Kubectl,
                                                       tmp_module: Path) -> None:
    tenant = make_tenant(control_plane, kubectl, "quota-compute", tmp_module)
    ns = tenant.namespace
    _quota(kubectl, ns, "compute", {"requests.cpu": "1", "requests.memory": "1Gi",
                                    "limits.cpu": "2", "limits.memory": "2Gi",
                                    "requests.ephemeral-storage": "1Gi"})
    _create(tenant, _pod("small", requests={"cpu": "500m", "memory": "512Mi"},
                         limits={"cpu": "1", "memory": "1Gi"}), check=True)
    assert _used(kubectl, ns, "compute") == {
        "requests.cpu": "500m", "requests.memory": "512Mi", "limits.cpu": "1",
        "limits.memory": "1Gi", "requests.ephemeral-storage": "0"}
    message = _forbidden(_create(tenant, _pod(
        "big", requests={"cpu": "2", "memory": "2Gi", "ephemeral-storage": "2Gi"},
        limits={"cpu": "2", "memory": "2Gi"})))
    assert message == (
        'pods "big" is forbidden: exceeded quota: compute, requested: limits.cpu=2,'
        'limits.memory=2Gi,requests.cpu=2,requests.ephemeral-storage=2Gi,'
        'requests.memory=2Gi, used: limits.cpu=1,limits.memory=1Gi,requests.cpu=500m,'
        'requests.ephemeral-storage=0,requests.memory=512Mi, limited: limits.cpu=2,'
        'limits.memory=2Gi,requests.cpu=1,requests.ephemeral-storage=1Gi,requests.memory=1Gi')
    # A quota on cpu/memory requires every container to say how much.
    message = _forbidden(_create(tenant, _pod("vague", requests={"cpu": "100m"})))
    assert message == ('pods "vague" is forbidden: failed quota: compute: must specify '
                       'limits.cpu for: c; limits.memory for: c; requests.memory for: c')
    # `cpu` and `memory` are the same as requests.cpu / requests.memory.
    _quota(kubectl, ns, "plain", {"cpu": "600m", "memory": "1Gi"})
    message = _forbidden(_create(tenant, _pod("over", requests={"cpu": "200m",
                                                                  "memory": "100Mi"},
                                              limits={"cpu": "200m", "memory": "100Mi"})))
    assert message == ('pods "over" is forbidden: exceeded quota: plain, requested: cpu=200m, '
                       'used: cpu=500m, limited: cpu=600m')


def test_shared_gpus_and_dry_runs(control_plane: ControlPlane, kubectl: Kubectl,
                                  tmp_module: Path) -> None:
    tenant = make_tenant(control_plane, kubectl, "quota-milli", tmp_module)
    ns = tenant.namespace
    _quota(kubectl, ns, "shared", {"requests.daskhub-lite.io/gpu-milli": "1000"})
    half = {"daskhub-lite.io/gpu-milli": "500"}
    # A dry run is checked, never charged.
    tenant.kubectl.run("create", "-n", ns, "--dry-run=server", "-f", "-",
                       input=json.dumps(_pod("half-0", limits=half)))
    assert _used(kubectl, ns, "shared") == {"requests.daskhub-lite.io/gpu-milli": "0"}
    _create(tenant, _pod("half-1", limits=half), _pod("half-2", limits=half), check=True)
    message = _forbidden(_create(tenant, _pod("half-3", limits=half)))
    assert message == ('pods "half-3" is forbidden: exceeded quota: shared, requested: '
                       'requests.daskhub-lite.io/gpu-milli=500, used: '
                       'requests.daskhub-lite.io/gpu-milli=1k, limited: '
                       'requests.daskhub-lite.io/gpu-milli=1k')
    proc = tenant.kubectl.run("create", "-n", ns, "--dry-run=server", "-f", "-",
                              input=json.dumps(_pod("half-4", limits=half)), check=False)
    assert "exceeded quota: shared" in proc.stderr


def test_scopes(control_plane: ControlPlane, kubectl: Kubectl, tmp_module: Path) -> None:
    tenant = make_tenant(control_plane, kubectl, "quota-scopes", tmp_module)
    ns = tenant.namespace
    for name, value in (("batch-low", 10), ("interactive-high", 1000)):
        kubectl.run("apply", "-f", "-", input=json.dumps({
            "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name}, "value": value}))
    _quota(kubectl, ns, "best-effort", {"pods": "1"}, scopes=["BestEffort"])
    _quota(kubectl, ns, "high", {"pods": "1"}, scopeSelector={"matchExpressions": [
        {"scopeName": "PriorityClass", "operator": "In", "values": ["interactive-high"]}]})
    _quota(kubectl, ns, "deadline", {"pods": "1"}, scopes=["Terminating"])
    _create(tenant, _pod("be-1"), check=True)
    assert "exceeded quota: best-effort," in _forbidden(_create(tenant, _pod("be-2")))
    # A GPU-only pod is BestEffort too: QoS looks at cpu and memory only.
    assert "exceeded quota: best-effort," in _forbidden(
        _create(tenant, _pod("be-gpu", limits={"nvidia.com/gpu": "1"})))
    burstable = {"cpu": "100m"}
    _create(tenant, _pod("hi-1", requests=burstable, priorityClassName="interactive-high"),
            check=True)
    assert "exceeded quota: high," in _forbidden(_create(
        tenant, _pod("hi-2", requests=burstable, priorityClassName="interactive-high")))
    _create(tenant, _pod("low-1", requests=burstable, priorityClassName="batch-low"),
            _pod("low-2", requests=burstable, priorityClassName="batch-low"), check=True)
    _create(tenant, _pod("dl-1", requests=burstable, activeDeadlineSeconds=600), check=True)
    assert "exceeded quota: deadline," in _forbidden(
        _create(tenant, _pod("dl-2", requests=burstable, activeDeadlineSeconds=600)))
    assert _used(kubectl, ns, "high") == {"pods": "1"}
    assert _used(kubectl, ns, "best-effort") == {"pods": "1"}


def test_object_counts_and_storage(control_plane: ControlPlane, kubectl: Kubectl,
                                   tmp_module: Path) -> None:
    tenant = make_tenant(control_plane, kubectl, "quota-objects", tmp_module)
    ns = tenant.namespace
    baseline = {kind: len(kubectl.json("get", kind, "-n", ns)["items"])
                for kind in ("configmaps", "secrets")}
    hard = {"services": "1", "configmaps": str(baseline["configmaps"] + 1),
            "secrets": str(baseline["secrets"] + 1), "persistentvolumeclaims": "2",
            "requests.storage": "3Gi", "count/deployments.apps": "1",
            "count/jobs.batch": "1", "services.nodeports": "0"}
    _quota(kubectl, ns, "objects", hard)

    def service(name: str, kind: str = "ClusterIP") -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                "spec": {"type": kind, "selector": {"app": name},
                         "ports": [{"port": 80}]}}

    def claim(name: str, size: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": name},
                "spec": {"accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": size}}}}

    def deployment(name: str) -> dict[str, Any]:
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
                "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
                         "template": {"metadata": {"labels": {"app": name}},
                                      "spec": {"containers": [{"name": "c",
                                                               "image": "python"}]}}}}

    assert "exceeded quota: objects, requested: services.nodeports=1, used: " \
           "services.nodeports=0, limited: services.nodeports=0" in _forbidden(
               _create(tenant, service("np", "NodePort")))
    _create(tenant, service("web"), check=True)
    assert _forbidden(_create(tenant, service("web-2"))) == (
        'services "web-2" is forbidden: exceeded quota: objects, requested: services=1, '
        'used: services=1, limited: services=1')
    _create(tenant, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}},
            check=True)
    assert "exceeded quota: objects, requested: configmaps=1," in _forbidden(_create(
        tenant, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}}))
    _create(tenant, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a"}},
            check=True)
    assert "exceeded quota: objects, requested: secrets=1," in _forbidden(_create(
        tenant, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b"}}))
    _create(tenant, claim("data", "2Gi"), check=True)
    assert _forbidden(_create(tenant, claim("more", "2Gi"))) == (
        'persistentvolumeclaims "more" is forbidden: exceeded quota: objects, requested: '
        'requests.storage=2Gi, used: requests.storage=2Gi, limited: requests.storage=3Gi')
    _create(tenant, deployment("one"), check=True)
    assert _forbidden(_create(tenant, deployment("two"))) == (
        'deployments.apps "two" is forbidden: exceeded quota: objects, requested: '
        'count/deployments.apps=1, used: count/deployments.apps=1, limited: '
        'count/deployments.apps=1')
    used = _used(kubectl, ns, "objects")
    assert used["services"] == "1" and used["persistentvolumeclaims"] == "1"
    assert used["requests.storage"] == "2Gi" and used["count/deployments.apps"] == "1"
    assert used["count/jobs.batch"] == "0"
    # Deleting frees the count (the controller recounts every resource it tracks).
    kubectl.run("delete", "deployment", "one", "-n", ns, "--wait=true")
    wait_for(lambda: _used(kubectl, ns, "objects")["count/deployments.apps"] == "0",
             timeout=15)
    _create(tenant, deployment("two"), check=True)


def test_kubectl_get_and_describe_quota(control_plane: ControlPlane, kubectl: Kubectl,
                                        tmp_module: Path) -> None:
    tenant = make_tenant(control_plane, kubectl, "quota-show", tmp_module)
    ns = tenant.namespace
    _quota(kubectl, ns, "compute", {"requests.cpu": "2", "limits.cpu": "4",
                                    "requests.nvidia.com/gpu": "1"})
    _create(tenant, _pod("a", requests={"cpu": "500m"}, limits={"cpu": "1",
                                                                 "nvidia.com/gpu": "1"}),
            check=True)
    table = tenant.kubectl.run("get", "quota", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "REQUEST", "LIMIT", "AGE"]
    assert table[1].startswith("compute   requests.cpu: 500m/2, requests.nvidia.com/gpu: 1/1"
                               "   limits.cpu: 1/4   "), table
    described = tenant.kubectl.run("describe", "quota", "compute", "-n", ns).stdout
    lines = [line.split() for line in described.splitlines()]
    assert ["limits.cpu", "1", "4"] in lines
    assert ["requests.cpu", "500m", "2"] in lines
    assert ["requests.nvidia.com/gpu", "1", "1"] in lines


def test_quotas_and_limit_ranges_that_cannot_work_are_refused(kubectl: Kubectl) -> None:
    kubectl.run("create", "namespace", "quota-bad")

    def refused(obj: dict[str, Any]) -> list[str]:
        """kubectl's lines for a 422: the headline, then one `* cause` each."""
        proc = kubectl.run("create", "-n", "quota-bad", "-f", "-", input=json.dumps(obj),
                           check=False)
        assert proc.returncode != 0, proc.stdout
        gone = kubectl.run("get", obj["kind"].lower(), obj["metadata"]["name"], "-n",
                           "quota-bad", check=False)
        assert "NotFound" in gone.stderr, gone.stdout  # nothing stored
        return [line.strip() for line in proc.stderr.splitlines() if line.strip()]

    quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "bad"},
             "spec": {"hard": {"pods": "-1"}, "scopes": ["Bogus"],
                      "scopeSelector": {"matchExpressions": [
                          {"scopeName": "PriorityClass", "operator": "Near", "values": ["x"]}]}}}
    assert refused(quota) == [
        'The ResourceQuota "bad" is invalid:',
        '* spec.hard[pods]: Invalid value: "-1": must be greater than or equal to 0',
        '* spec.scopes[0]: Unsupported value: "Bogus": supported values: "BestEffort", '
        '"CrossNamespacePodAffinity", "NotBestEffort", "NotTerminating", "PriorityClass", '
        '"Terminating"',
        '* spec.scopeSelector.matchExpressions[0].operator: Invalid value: "Near": not a '
        'valid selector operator']
    limits = {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "bad"},
              "spec": {"limits": [{"type": "Container", "min": {"cpu": "2"},
                                   "max": {"cpu": "1"}, "default": {"cpu": "1"},
                                   "defaultRequest": {"cpu": "2"}},
                                  {"type": "Pod", "default": {"cpu": "1"}}]}}
    assert refused(limits) == [
        'The LimitRange "bad" is invalid:',
        '* spec.limits[0].min[cpu]: Invalid value: "2": min value 2 is greater than max value 1',
        '* spec.limits[0].defaultRequest[cpu]: Invalid value: "2": default request value 2 is '
        'greater than max value 1',
        '* spec.limits[0].defaultRequest[cpu]: Invalid value: "2": default request value 2 is '
        'greater than default limit value 1',
        '* spec.limits[0].default[cpu]: Invalid value: "1": min value 2 is greater than '
        'default value 1',
        "* spec.limits[1].default: Forbidden: may not be specified when `type` is 'Pod'"]
