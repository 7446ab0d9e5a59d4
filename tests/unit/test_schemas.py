"""Schemas from the installed Kubernetes definitions, and CRD schemas."""

from __future__ import annotations

from orchestrator.api.schemas import (
    definitions_dir,
    kubernetes_version,
    schema_for,
    schema_from_openapi_v3,
)


def test_newest_non_strict_folder_is_used() -> None:
    folder = definitions_dir()
    assert folder.name.endswith("-local")
    assert kubernetes_version().startswith("v1.")


def test_deployment_schema_resolves_refs_lazily() -> None:
    deployment = schema_for("apps", "v1", "Deployment")
    assert deployment is not None
    spec = deployment.child("spec")
    assert spec is not None
    assert spec.ref_name == "io.k8s.api.apps.v1.DeploymentSpec"
    assert spec.type == "object"
    assert set(spec.required) == {"selector", "template"}
    replicas = spec.child("replicas")
    assert replicas is not None and replicas.type == "integer" and replicas.format == "int32"
    # the field's own patch directive beats the referenced definition's
    strategy = spec.child("strategy")
    assert strategy is not None and strategy.patch_strategy == "retainKeys"


def test_containers_list_is_a_merge_list_keyed_by_name() -> None:
    pod = schema_for("", "v1", "Pod")
    assert pod is not None
    containers = pod.child("spec").child("containers")  # type: ignore[union-attr]
    assert containers is not None
    assert containers.patch_strategy == "merge"
    assert containers.patch_merge_key == "name"
    assert containers.list_type == "map"
    assert containers.list_map_keys == ("name",)
    item = containers.items()
    assert item is not None and item.child("image") is not None
    assert item.child("noSuchField") is None


def test_maps_answer_child_with_their_value_schema() -> None:
    pod = schema_for("", "v1", "Pod")
    assert pod is not None
    labels = pod.child("metadata").child("labels")  # type: ignore[union-attr]
    assert labels is not None
    value = labels.child("any-key")
    assert value is not None and value.type == "string"
    limits = pod.child("spec").child("containers").items().child("resources").child("limits")  # type: ignore[union-attr]
    assert limits is not None and limits.child("cpu").is_quantity  # type: ignore[union-attr]


def test_int_or_string_and_free_form_nodes() -> None:
    deployment = schema_for("apps", "v1", "Deployment")
    assert deployment is not None
    surge = (deployment.child("spec").child("strategy")  # type: ignore[union-attr]
             .child("rollingUpdate").child("maxSurge"))  # type: ignore[union-attr]
    assert surge is not None and surge.int_or_string
    managed = deployment.child("metadata").child("managedFields").items()  # type: ignore[union-attr]
    fields_v1 = managed.child("fieldsV1")  # type: ignore[union-attr]
    assert fields_v1 is not None and fields_v1.preserve_unknown_fields
    assert not deployment.child("spec").preserve_unknown_fields  # type: ignore[union-attr]


def test_unknown_kind_has_no_schema() -> None:
    assert schema_for("example.com", "v1", "Widget") is None
    assert schema_for("apps", "v1", "NoSuchKind") is None


def test_description_is_the_real_one() -> None:
    deployment = schema_for("apps", "v1", "Deployment")
    assert deployment is not None
    assert deployment.description.startswith("Deployment enables declarative updates")


def test_crd_schema_nodes() -> None:
    root = schema_from_openapi_v3({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "replicas": {"type": "integer", "minimum": 0},
                    "mode": {"type": "string", "enum": ["a", "b"]},
                    "port": {"x-kubernetes-int-or-string": True},
                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    "env": {"type": "array", "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["name"],
                            "items": {"type": "object",
                                      "properties": {"name": {"type": "string"}}}},
                },
            },
        },
    })
    spec = root.child("spec")
    assert spec is not None and spec.from_crd
    assert spec.child("mode").enum == ("a", "b")  # type: ignore[union-attr]
    assert spec.child("port").int_or_string  # type: ignore[union-attr]
    assert spec.child("extra").preserve_unknown_fields  # type: ignore[union-attr]
    assert spec.child("env").list_map_keys == ("name",)  # type: ignore[union-attr]
    assert spec.child("unknown") is None
    # an object without properties in a CRD keeps nothing (unlike built-in free-form types)
    bare = schema_from_openapi_v3({"type": "object"})
    assert not bare.preserve_unknown_fields
    # metadata is always ObjectMeta, whatever the CRD says
    meta = root.child("metadata")
    assert meta is not None and meta.child("labels") is not None


def test_bad_crd_schema_does_not_raise() -> None:
    root = schema_from_openapi_v3({"type": "object", "properties": {"spec": 5}})
    assert root.child("spec") is None
    assert schema_from_openapi_v3("nonsense").child("spec") is None  # type: ignore[arg-type]
