"""OpenAPI v3 documents: what kubectl's field-validation check and `explain` read."""

from __future__ import annotations

from typing import Any

from orchestrator.api.kinds import BUILTIN_TYPES, ResourceType
from orchestrator.api.openapi import (
    document_hash,
    openapi_document,
    openapi_index,
)

RESOURCES = list(BUILTIN_TYPES)
DASK = ResourceType(
    group="kubernetes.dask.org", version="v1", kind="DaskCluster", plural="daskclusters",
    singular="daskcluster", namespaced=True, subresources=("status", "scale"), custom=True,
    crd_schema={"type": "object", "properties": {"spec": {
        "type": "object", "description": "The cluster.",
        "properties": {"workers": {"type": "integer"}}}}},
)


def _query_names(op: dict[str, Any]) -> set[str]:
    return {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}


def test_index_lists_each_group_version_with_its_hash() -> None:
    apps = openapi_document("apps", "v1", RESOURCES)
    index = openapi_index([("", "v1"), ("apps", "v1")], {("apps", "v1"): document_hash(apps)})
    assert set(index["paths"]) == {"api/v1", "apis/apps/v1"}
    url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
    assert url == f"/openapi/v3/apis/apps/v1?hash={document_hash(apps)}"
    assert index["paths"]["api/v1"]["serverRelativeURL"].startswith("/openapi/v3/api/v1?hash=")


def test_every_apps_patch_takes_field_validation_and_names_its_kind() -> None:
    doc = openapi_document("apps", "v1", RESOURCES)
    patches = {path: item["patch"] for path, item in doc["paths"].items() if "patch" in item}
    assert "/apis/apps/v1/namespaces/{namespace}/deployments/{name}" in patches
    assert "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status" in patches
    assert "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale" in patches
    for path, op in patches.items():
        assert {"fieldValidation", "dryRun", "fieldManager", "force"} <= _query_names(op), path
        assert op["x-kubernetes-action"] == "patch"
        assert set(op["x-kubernetes-group-version-kind"]) == {"group", "version", "kind"}
    scale = patches["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]
    assert scale["x-kubernetes-group-version-kind"] == {
        "group": "autoscaling", "version": "v1", "kind": "Scale"}


def test_collections_and_items_have_the_verbs_kube_apiserver_publishes() -> None:
    doc = openapi_document("", "v1", RESOURCES)
    configmaps = doc["paths"]["/api/v1/namespaces/{namespace}/configmaps"]
    assert configmaps["post"]["x-kubernetes-action"] == "post"
    assert "fieldValidation" in _query_names(configmaps["post"])
    assert configmaps["get"]["x-kubernetes-action"] == "list"
    assert configmaps["delete"]["x-kubernetes-action"] == "deletecollection"
    item = doc["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]
    assert {"get", "put", "patch", "delete"} <= set(item)
    assert "fieldValidation" in _query_names(item["put"])
    # cluster-scoped: no namespace segment
    assert "/api/v1/nodes/{name}" in doc["paths"]
    assert "patch" in doc["paths"]["/api/v1/namespaces/{name}"]
    assert doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/log"]["get"]


def test_components_keep_kubernetes_extensions_and_descriptions() -> None:
    doc = openapi_document("apps", "v1", RESOURCES)
    schemas = doc["components"]["schemas"]
    deployment = schemas["io.k8s.api.apps.v1.Deployment"]
    assert deployment["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}]
    assert deployment["properties"]["spec"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"}]
    assert "required" not in deployment
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["type"] == "array"  # no JSON-Schema ["array", "null"] leaks through
    assert schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"] == "int-or-string"
    spec = schemas["io.k8s.api.apps.v1.DeploymentSpec"]
    assert spec["description"].startswith("DeploymentSpec is the specification")


def test_every_ref_resolves_inside_the_document() -> None:
    for group, version in (("", "v1"), ("apps", "v1"), ("batch", "v1")):
        doc = openapi_document(group, version, RESOURCES + [DASK])
        names = set(doc["components"]["schemas"])
        refs: set[str] = set()

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "$ref":
                        refs.add(value.removeprefix("#/components/schemas/"))
                    else:
                        walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(doc)
        assert refs <= names, refs - names


def test_custom_resource_document() -> None:
    doc = openapi_document("kubernetes.dask.org", "v1", RESOURCES + [DASK])
    component = doc["components"]["schemas"]["org.dask.kubernetes.v1.DaskCluster"]
    assert component["x-kubernetes-group-version-kind"] == [
        {"group": "kubernetes.dask.org", "kind": "DaskCluster", "version": "v1"}]
    assert component["properties"]["spec"]["description"] == "The cluster."
    item = doc["paths"]["/apis/kubernetes.dask.org/v1/namespaces/{namespace}/daskclusters/{name}"]
    assert "fieldValidation" in _query_names(item["patch"])
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in doc["components"]["schemas"]


def test_documents_are_stable_and_independent_copies() -> None:
    first = openapi_document("apps", "v1", RESOURCES)
    second = openapi_document("apps", "v1", RESOURCES)
    assert document_hash(first) == document_hash(second)
    first["paths"].clear()
    assert openapi_document("apps", "v1", RESOURCES)["paths"]
    with_crd = openapi_document("kubernetes.dask.org", "v1", RESOURCES + [DASK])
    assert document_hash(with_crd) != document_hash(first)
