"""Dynamic Resource Allocation's API (resource.k8s.io/v1) as Kubernetes 1.34+ serves it, through
kubectl and the official `kubernetes` client: the four kinds are served, printed and described,
a bad ResourceClaim is refused in kube's words, and a namespace editor may claim devices but not
define device classes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from orchestrator import ControlPlane
from tests.conftest import Kubectl
from tests.tenants import make_tenant

NS = "dra"
_OBJECTS = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {NS}}}
---
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata: {{name: gpu.example.com}}
spec:
  selectors:
  - cel: {{expression: 'device.driver == "gpu.example.com"'}}
---
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {{name: one-gpu, namespace: {NS}}}
spec:
  devices:
    requests:
    - name: gpu
      exactly: {{deviceClassName: gpu.example.com}}
---
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {{name: gpu-template, namespace: {NS}}}
spec:
  spec:
    devices:
      requests:
      - name: gpu
        exactly: {{deviceClassName: gpu.example.com}}
---
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {{name: node-1-gpu.example.com}}
spec:
  driver: gpu.example.com
  nodeName: node-1
  pool: {{name: node-1, generation: 1, resourceSliceCount: 1}}
  devices:
  - name: gpu-0
"""


@pytest.fixture(scope="module")
def applied(kubectl: Kubectl) -> Iterator[Kubectl]:
    kubectl.run("apply", "-f", "-", input=_OBJECTS)
    yield kubectl
    kubectl.run("delete", "-f", "-", "--ignore-not-found", "--wait=false", input=_OBJECTS)


@pytest.fixture(scope="module")
def resource_api(control_plane: ControlPlane) -> Any:
    api = k8s_config.new_client_from_config(config_file=control_plane.kubeconfig)
    return k8s.ResourceV1Api(api)


def _table(kubectl: Kubectl, *args: str) -> list[list[str]]:
    lines = kubectl.run("get", *args).stdout.strip().splitlines()
    return [line.split() for line in lines]


def test_api_resources_lists_the_four_kinds(kubectl: Kubectl) -> None:
    rows = _table_of(kubectl.run("api-resources", "--api-group=resource.k8s.io").stdout)
    assert rows == [
        ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"],
        ["deviceclasses", "resource.k8s.io/v1", "false", "DeviceClass"],
        ["resourceclaims", "resource.k8s.io/v1", "true", "ResourceClaim"],
        ["resourceclaimtemplates", "resource.k8s.io/v1", "true", "ResourceClaimTemplate"],
        ["resourceslices", "resource.k8s.io/v1", "false", "ResourceSlice"],
    ]


def _table_of(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines()]


def test_printer_columns(applied: Kubectl) -> None:
    claims = _table(applied, "resourceclaims", "-n", NS)
    assert claims[0] == ["NAME", "STATE", "AGE"]
    assert claims[1][:2] == ["one-gpu", "pending"]
    slices = _table(applied, "resourceslices")
    assert slices[0] == ["NAME", "NODE", "DRIVER", "POOL", "AGE"]
    assert slices[1][:4] == ["node-1-gpu.example.com", "node-1", "gpu.example.com", "node-1"]
    on_node = applied.run("get", "resourceslices", "--field-selector", "spec.nodeName=node-1",
                          "-o", "name").stdout.split()
    assert on_node == ["resourceslice.resource.k8s.io/node-1-gpu.example.com"]
    assert applied.run("get", "resourceslices", "--field-selector", "spec.driver=other",
                       "-o", "name").stdout.split() == []
    assert _table(applied, "deviceclasses")[0] == ["NAME", "AGE"]
    assert _table(applied, "resourceclaimtemplates", "-n", NS)[0] == ["NAME", "AGE"]


def test_describe_each_kind(applied: Kubectl) -> None:
    for args in (("deviceclass", "gpu.example.com"), ("resourceslice", "node-1-gpu.example.com"),
                 ("resourceclaim", "one-gpu", "-n", NS),
                 ("resourceclaimtemplate", "gpu-template", "-n", NS)):
        out = applied.run("describe", *args).stdout
        assert f"Name:         {args[1]}" in out
        assert "API Version:  resource.k8s.io/v1" in out
    # kubectl explain reads the group's OpenAPI v3 document.
    explained = applied.run("explain", "resourceclaim.spec.devices.requests").stdout
    assert "GROUP:      resource.k8s.io" in explained
    assert "exactly\t<ExactDeviceRequest>" in explained


def test_python_client_reads_and_writes_status(applied: Kubectl, resource_api: Any) -> None:
    assert [c.metadata.name for c in resource_api.list_device_class().items] == [
        "gpu.example.com"]
    claim = resource_api.read_namespaced_resource_claim("one-gpu", NS)
    assert claim.spec.devices.requests[0].exactly.device_class_name == "gpu.example.com"
    template = resource_api.read_namespaced_resource_claim_template("gpu-template", NS)
    assert template.spec.spec.devices.requests[0].name == "gpu"
    assert resource_api.read_resource_slice("node-1-gpu.example.com").spec.node_name == "node-1"
    # The status subresource: what a scheduler writes once it allocates and reserves.
    result = {"request": "gpu", "driver": "gpu.example.com", "pool": "node-1",
              "device": "gpu-0"}
    resource_api.patch_namespaced_resource_claim_status("one-gpu", NS, {"status": {
        "allocation": {"devices": {"results": [result]}},
        "reservedFor": [{"resource": "pods", "name": "worker", "uid": "1234"}]}})
    assert _table(applied, "resourceclaims", "-n", NS)[1][:2] == ["one-gpu", "allocated,reserved"]
    # A write to the main resource leaves the status alone.
    applied.run("label", "resourceclaim", "one-gpu", "-n", NS, "team=a")
    status = applied.json("get", "resourceclaim", "one-gpu", "-n", NS)["status"]
    assert status["allocation"]["devices"]["results"] == [result]


def test_a_claim_is_defaulted_and_its_spec_fixed(applied: Kubectl) -> None:
    claim = applied.json("get", "resourceclaim", "one-gpu", "-n", NS)
    exactly = claim["spec"]["devices"]["requests"][0]["exactly"]
    assert (exactly["allocationMode"], exactly["count"]) == ("ExactCount", 1)
    # Applying the same manifest again changes nothing, so it is accepted.
    applied.run("apply", "-f", "-", input=_OBJECTS)
    patch = ('{"spec":{"devices":{"requests":[{"name":"other",'
             '"exactly":{"deviceClassName":"x"}}]}}}')
    proc = applied.run("patch", "resourceclaim", "one-gpu", "-n", NS, "--type=merge", "-p",
                       patch, check=False)
    assert proc.returncode != 0
    assert 'The ResourceClaim "one-gpu" is invalid: spec: Invalid value:' in proc.stderr
    assert proc.stderr.rstrip().endswith(": field is immutable")


def test_bad_claim_is_refused_with_kube_s_message(applied: Kubectl) -> None:
    bad = f"""
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {{name: bad, namespace: {NS}}}
spec:
  devices:
    requests:
    - name: Bad_Name
      exactly: {{}}
    - name: twice
      exactly: {{deviceClassName: gpu.example.com}}
    - name: twice
      firstAvailable: [{{name: a, deviceClassName: gpu.example.com}}]
"""
    proc = applied.run("apply", "-f", "-", input=bad, check=False)
    assert proc.returncode != 0
    assert 'The ResourceClaim "bad" is invalid:' in proc.stderr
    assert ('spec.devices.requests[0].name: Invalid value: "Bad_Name": a lowercase RFC 1123 '
            "label must consist of") in proc.stderr
    assert "spec.devices.requests[0].exactly.deviceClassName: Required value" in proc.stderr
    assert 'spec.devices.requests[2].name: Duplicate value: "twice"' in proc.stderr
    assert applied.run("get", "resourceclaim", "bad", "-n", NS, check=False).returncode != 0


def test_bad_slice_names_one_node_selection(applied: Kubectl) -> None:
    bad = """
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {name: everywhere}
spec:
  driver: gpu.example.com
  nodeName: node-1
  allNodes: true
  pool: {name: shared, generation: 0, resourceSliceCount: 1}
"""
    proc = applied.run("apply", "-f", "-", input=bad, check=False)
    assert proc.returncode != 0
    assert ("spec: Invalid value: \"{`nodeName`, `allNodes`}\": exactly one of `nodeName`, "
            "`nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required, but multiple "
            "fields are set") in proc.stderr


def test_namespace_editor_claims_devices_but_defines_no_class(
        control_plane: ControlPlane, applied: Kubectl, tmp_path: Path) -> None:
    tenant = make_tenant(control_plane, applied, "dra-tenant", tmp_path)
    try:
        claim = f"""
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {{name: mine, namespace: {tenant.namespace}}}
spec:
  devices:
    requests:
    - name: gpu
      exactly: {{deviceClassName: gpu.example.com}}
"""
        tenant.kubectl.run("apply", "-f", "-", input=claim)
        assert tenant.kubectl.run("get", "resourceclaims", "-n", tenant.namespace,
                                  "-o", "name").stdout.split() == [
            "resourceclaim.resource.k8s.io/mine"]
        device_class = ("apiVersion: resource.k8s.io/v1\nkind: DeviceClass\n"
                        "metadata: {name: mine}\n")
        proc = tenant.kubectl.run("create", "-f", "-", input=device_class, check=False)
        assert proc.returncode != 0
        assert ('deviceclasses.resource.k8s.io is forbidden: User '
                f'"system:serviceaccount:{tenant.namespace}:jupyter" cannot create resource '
                '"deviceclasses" in API group "resource.k8s.io" at the cluster scope'
                ) in proc.stderr
    finally:
        applied.run("delete", "namespace", tenant.namespace, "--wait=false")
