"""The official `kubernetes` and `kubernetes_asyncio` clients, and kr8s, against a live
ControlPlane."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException

from orchestrator import ControlPlane


@pytest.fixture(scope="module")
def api(control_plane: ControlPlane) -> k8s.ApiClient:
    return k8s_config.new_client_from_config(config_file=control_plane.kubeconfig)


def _cm(name: str, **data: str) -> k8s.V1ConfigMap:
    return k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name=name), data=data)


def test_crud_on_several_kinds(api: k8s.ApiClient) -> None:
    core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
    created = core.create_namespaced_config_map("default", _cm("crud", a="1"))
    assert created.metadata.uid and int(created.metadata.resource_version) > 0
    got = core.read_namespaced_config_map("crud", "default")
    got.data["a"] = "2"
    updated = core.replace_namespaced_config_map("crud", "default", got)
    assert updated.data == {"a": "2"}
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)
    # A stale resourceVersion is a 409 Conflict.
    got.data["a"] = "3"
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("crud", "default", got)
    assert err.value.status == 409

    secret = core.create_namespaced_secret("default", k8s.V1Secret(
        metadata=k8s.V1ObjectMeta(name="creds"), string_data={"token": "s3cret"}))
    assert secret.type == "Opaque"

    deploy = apps.create_namespaced_deployment("default", k8s.V1Deployment(
        metadata=k8s.V1ObjectMeta(name="api-client-deploy"),
        spec=k8s.V1DeploymentSpec(
            replicas=1,
            selector=k8s.V1LabelSelector(match_labels={"app": "x"}),
            template=k8s.V1PodTemplateSpec(
                metadata=k8s.V1ObjectMeta(labels={"app": "x"}),
                spec=k8s.V1PodSpec(containers=[k8s.V1Container(
                    name="main", image="python", command=["sleep", "10"])]),
            ),
        ),
    ))
    assert deploy.spec.strategy.type == "RollingUpdate"
    scale = apps.read_namespaced_deployment_scale("api-client-deploy", "default")
    assert scale.spec.replicas == 1
    apps.patch_namespaced_deployment_scale("api-client-deploy", "default",
                                           {"spec": {"replicas": 4}})
    assert apps.read_namespaced_deployment("api-client-deploy", "default").spec.replicas == 4

    listed = core.list_namespaced_config_map("default", label_selector="")
    assert "crud" in [c.metadata.name for c in listed.items]
    core.delete_namespaced_config_map("crud", "default")
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("crud", "default")
    assert err.value.status == 404


def test_invalid_object_is_422_with_field(api: k8s.ApiClient) -> None:
    apps = k8s.AppsV1Api(api)
    body = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "bad-replicas"},
        "spec": {"replicas": -1, "selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}}},
    }
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_deployment("default", body)
    assert err.value.status == 422
    assert "spec.replicas" in err.value.body
    with pytest.raises(ApiException):
        apps.read_namespaced_deployment("bad-replicas", "default")


def test_watch_resumes_from_resource_version(api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    start = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", _cm("w1"))
    core.create_namespaced_config_map("default", _cm("w2"))
    seen: list[tuple[str, str]] = []
    w = k8s_watch.Watch()
    for ev in w.stream(core.list_namespaced_config_map, "default", resource_version=start,
                       timeout_seconds=5):
        seen.append((ev["type"], ev["object"].metadata.name))
        if len(seen) == 2:
            w.stop()
    assert seen == [("ADDED", "w1"), ("ADDED", "w2")]
    # Resume from the version of the first event: only the second comes again.
    first_rv = core.read_namespaced_config_map("w1", "default").metadata.resource_version
    again = []
    w = k8s_watch.Watch()
    for ev in w.stream(core.list_namespaced_config_map, "default", resource_version=first_rv,
                       timeout_seconds=5):
        again.append(ev["object"].metadata.name)
        w.stop()
    assert again == ["w2"]


def test_watch_from_compacted_version_is_410(tmp_path: Any) -> None:
    # A small history window, outrun by writes: the old version is gone.
    with ControlPlane(data_dir=tmp_path, watch_history=10) as cp:
        core = k8s.CoreV1Api(k8s_config.new_client_from_config(config_file=cp.kubeconfig))
        old = core.list_namespaced_config_map("default").metadata.resource_version
        for i in range(30):
            core.create_namespaced_config_map("default", _cm(f"churn-{i}"))
        w = k8s_watch.Watch()
        with pytest.raises(ApiException) as err:
            for _ in w.stream(core.list_namespaced_config_map, "default",
                              resource_version=old, timeout_seconds=5):
                pass
        assert err.value.status == 410
        # The recovery every client does: list again, then watch from the list's version.
        fresh = core.list_namespaced_config_map("default")
        assert len([c for c in fresh.items if c.metadata.name.startswith("churn-")]) == 30


def test_kubernetes_asyncio(control_plane: ControlPlane) -> None:
    from kubernetes_asyncio import client as aclient
    from kubernetes_asyncio import config as aconfig
    from kubernetes_asyncio import watch as awatch

    async def scenario() -> list[str]:
        api = await aconfig.new_client_from_config(config_file=control_plane.kubeconfig)
        async with api:
            core = aclient.CoreV1Api(api)
            await core.create_namespaced_config_map(
                "default", {"metadata": {"name": "async-cm"}, "data": {"x": "1"}})
            got = await core.read_namespaced_config_map("async-cm", "default")
            assert got.data == {"x": "1"}
            rv = got.metadata.resource_version
            await core.patch_namespaced_config_map("async-cm", "default", {"data": {"x": "2"}})
            events = []
            w = awatch.Watch()
            async for ev in w.stream(core.list_namespaced_config_map, "default",
                                     resource_version=rv, timeout_seconds=5):
                events.append(f'{ev["type"]}:{ev["object"].data["x"]}')
                w.stop()
            await core.delete_namespaced_config_map("async-cm", "default")
            return events

    assert asyncio.run(scenario()) == ["MODIFIED:2"]


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                  "shortNames": ["wg"]},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "spec": {"type": "object", "properties": {
                    "replicas": {"type": "integer"}, "size": {"type": "string"}}},
                "status": {"type": "object", "properties": {
                    "replicas": {"type": "integer"}, "phase": {"type": "string"}}},
            }}},
            "subresources": {"status": {}, "scale": {
                "specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
            "additionalPrinterColumns": [
                {"name": "Size", "type": "string", "jsonPath": ".spec.size"}],
        }],
    },
}


def test_kr8s_custom_resource_status_and_scale(control_plane: ControlPlane,
                                               api: k8s.ApiClient) -> None:
    import kr8s
    from kr8s.objects import new_class

    k8s.ApiextensionsV1Api(api).create_custom_resource_definition(CRD)
    kr8s_api = kr8s.api(kubeconfig=control_plane.kubeconfig)
    Widget = new_class(kind="Widget", version="example.com/v1", namespaced=True,
                       scalable=True, asyncio=False)
    widget = Widget({"apiVersion": "example.com/v1", "kind": "Widget",
                     "metadata": {"name": "w", "namespace": "default"},
                     "spec": {"replicas": 1, "size": "large"}}, api=kr8s_api)
    widget.create()
    widget.patch({"status": {"phase": "Ready", "replicas": 1}}, subresource="status")
    widget.refresh()
    assert widget.raw["status"]["phase"] == "Ready"
    widget.scale(3)
    widget.refresh()
    assert widget.raw["spec"]["replicas"] == 3
    # Deleting the CRD removes its objects.
    k8s.ApiextensionsV1Api(api).delete_custom_resource_definition("widgets.example.com")
    custom = k8s.CustomObjectsApi(api)
    with pytest.raises(ApiException) as err:
        custom.get_namespaced_custom_object("example.com", "v1", "default", "widgets", "w")
    assert err.value.status == 404
