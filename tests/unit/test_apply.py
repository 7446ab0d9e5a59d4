"""Server-side apply and managedFields bookkeeping, on real Kubernetes schemas."""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.api import errors
from orchestrator.api.apply import (
    BEFORE_FIRST_APPLY,
    decode_fields,
    encode_fields,
    path_string,
    record_update,
    server_side_apply,
)

_DEFS_FILE = (
    Path(kubernetes_validate.__file__).parent
    / "kubernetes-json-schema" / "v1.37.0-local" / "_definitions.json"
)


@lru_cache(maxsize=1)
def _defs() -> dict[str, Any]:
    return json.loads(_DEFS_FILE.read_text())["$defs"]


class RawSchema:
    """FieldSchema over Kubernetes' JSON-schema definitions (a `$ref`'s siblings win)."""

    def __init__(self, raw: dict[str, Any]) -> None:
        while "$ref" in raw:
            target = _defs()[raw["$ref"].rsplit("/", 1)[-1]]
            raw = {**target, **{k: v for k, v in raw.items() if k != "$ref"}}
        self.raw = raw

    def child(self, name: str) -> "RawSchema | None":
        props = self.raw.get("properties") or {}
        if name in props:
            return RawSchema(props[name])
        extra = self.raw.get("additionalProperties")
        return RawSchema(extra) if isinstance(extra, dict) else None

    def items(self) -> "RawSchema | None":
        items = self.raw.get("items")
        return RawSchema(items) if isinstance(items, dict) else None

    @property
    def patch_strategy(self) -> str | None:
        return self.raw.get("x-kubernetes-patch-strategy")

    @property
    def patch_merge_key(self) -> str | None:
        return self.raw.get("x-kubernetes-patch-merge-key")

    @property
    def list_type(self) -> str | None:
        return self.raw.get("x-kubernetes-list-type")

    @property
    def list_map_keys(self) -> tuple[str, ...]:
        return tuple(self.raw.get("x-kubernetes-list-map-keys") or ())

    @property
    def map_type(self) -> str | None:
        return self.raw.get("x-kubernetes-map-type")

    @property
    def type(self) -> str | None:
        declared = self.raw.get("type")
        if isinstance(declared, list):
            declared = next((t for t in declared if t != "null"), None)
        return declared


DEPLOYMENT = RawSchema({"$ref": "#/$defs/io.k8s.api.apps.v1.Deployment"})
CONFIGMAP = RawSchema({"$ref": "#/$defs/io.k8s.api.core.v1.ConfigMap"})
T0, T1, T2 = "2030-01-01T00:00:00Z", "2030-01-02T00:00:00Z", "2030-01-03T00:00:00Z"


def deployment(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1", "ports": [{"containerPort": 80}]}]},
        },
    }
    body.update(spec)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": body}


def apply(live: dict[str, Any] | None, applied: dict[str, Any], manager: str = "kubectl",
          force: bool = False, now: str = T1, schema: Any = DEPLOYMENT) -> dict[str, Any]:
    return server_side_apply(live, applied, manager=manager, force=force, schema=schema,
                             api_version=applied.get("apiVersion", "apps/v1"), now=now)


def update(old: dict[str, Any] | None, new: dict[str, Any], manager: str, now: str = T0,
           schema: Any = DEPLOYMENT) -> dict[str, Any]:
    return record_update(old, new, manager=manager, api_version="apps/v1", now=now, schema=schema)


def entries(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["manager"] + "/" + e["operation"]: e for e in obj["metadata"].get("managedFields", [])}


CONTAINER = 'k:{"name":"nginx"}'
PORT = 'k:{"containerPort":80,"protocol":"TCP"}'


def test_apply_creates_object_and_entry_in_real_fieldsv1_format() -> None:
    out = apply(None, deployment())
    assert out["spec"] == deployment()["spec"]
    [entry] = out["metadata"]["managedFields"]
    assert {k: v for k, v in entry.items() if k != "fieldsV1"} == {
        "manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "time": T1,
        "fieldsType": "FieldsV1",
    }
    assert entry["fieldsV1"] == {
        "f:spec": {
            "f:replicas": {},
            "f:selector": {},  # LabelSelector is an atomic map
            "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {CONTAINER: {
                    ".": {}, "f:image": {}, "f:name": {},
                    "f:ports": {PORT: {".": {}, "f:containerPort": {}}},
                }}},
            },
        },
    }


def test_conflict_with_an_update_manager_reads_like_kube() -> None:
    live = update(None, deployment(), "kubectl-client-side-apply")
    with pytest.raises(errors.Conflict) as caught:
        apply(live, deployment(replicas=5))
    status = caught.value.status()
    assert status["code"] == 409 and status["reason"] == "Conflict"
    assert status["message"] == (
        'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas'
    )
    assert status["details"]["causes"] == [{
        "reason": "FieldManagerConflict",
        "message": 'conflict with "kubectl-client-side-apply" using apps/v1',
        "field": ".spec.replicas",
    }]


def test_several_conflicts_are_listed_per_manager() -> None:
    live = update(None, deployment(), "kubectl-client-side-apply")
    changed = deployment(replicas=5)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    with pytest.raises(errors.Conflict) as caught:
        apply(live, changed)
    assert caught.value.message == (
        "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using apps/v1:\n"
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="nginx"].image'
    )
    assert [c.field for c in caught.value.causes] == [
        ".spec.replicas", '.spec.template.spec.containers[name="nginx"].image']


def test_conflict_with_an_apply_manager_names_no_version() -> None:
    live = apply(None, deployment(), manager="helm")
    with pytest.raises(errors.Conflict, match='conflict with "helm": .spec.replicas$') as caught:
        apply(live, deployment(replicas=9), manager="other")
    assert caught.value.causes[0].message == 'conflict with "helm"'


def test_same_value_is_shared_not_a_conflict() -> None:
    live = update(None, deployment(), "kubectl-client-side-apply")
    out = apply(live, deployment())
    owners = entries(out)
    replicas = ("f:spec", "f:replicas")
    assert replicas in decode_fields(owners["kubectl/Apply"]["fieldsV1"])
    assert replicas in decode_fields(owners["kubectl-client-side-apply/Update"]["fieldsV1"])


def test_force_moves_ownership() -> None:
    live = update(None, deployment(), "kubectl-client-side-apply")
    out = apply(live, deployment(replicas=5), force=True)
    assert out["spec"]["replicas"] == 5
    owners = entries(out)
    assert ("f:spec", "f:replicas") in decode_fields(owners["kubectl/Apply"]["fieldsV1"])
    assert ("f:spec", "f:replicas") not in decode_fields(owners["kubectl-client-side-apply/Update"]["fieldsV1"])


def test_fields_no_longer_applied_are_removed() -> None:
    first = apply(None, deployment(minReadySeconds=5, paused=True))
    out = apply(first, deployment(paused=True), now=T2)
    assert "minReadySeconds" not in out["spec"] and out["spec"]["paused"] is True


def test_fields_another_manager_owns_are_kept() -> None:
    first = apply(None, deployment(minReadySeconds=5))
    shared = apply(first, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                           "spec": {"minReadySeconds": 5}}, manager="other")
    out = apply(shared, deployment(), now=T2)
    assert out["spec"]["minReadySeconds"] == 5


def test_list_items_merge_by_key_and_removed_items_go() -> None:
    live = apply(None, deployment())
    sidecar = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
               "spec": {"template": {"spec": {"containers": [{"name": "istio", "image": "proxy"}]}}}}
    both = apply(live, sidecar, manager="injector")
    assert [c["name"] for c in both["spec"]["template"]["spec"]["containers"]] == ["nginx", "istio"]
    # kubectl re-applies its own config: the injector's container stays.
    again = apply(both, deployment(), now=T2)
    assert [c["name"] for c in again["spec"]["template"]["spec"]["containers"]] == ["nginx", "istio"]
    # The injector stops applying its container: it goes.
    empty = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
             "spec": {"replicas": 2}}
    gone = apply(again, empty, manager="injector", now=T2)
    assert [c["name"] for c in gone["spec"]["template"]["spec"]["containers"]] == ["nginx"]


def test_item_kept_for_another_owner_keeps_its_key_field() -> None:
    live = apply(None, deployment())
    edited = copy.deepcopy(live)
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:9"
    owned = update(live, edited, "kubectl-edit", now=T2)
    no_containers = deployment()
    del no_containers["spec"]["template"]["spec"]["containers"]
    out = apply(owned, no_containers, now=T2)
    assert out["spec"]["template"]["spec"]["containers"] == [{"name": "nginx", "image": "nginx:9"}]


def test_missing_protocol_matches_the_defaulted_live_port() -> None:
    live = apply(None, deployment())
    live["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] = "TCP"  # defaulting
    again = apply(live, deployment(), now=T2)
    assert again["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]


def test_atomic_and_set_lists() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["a"]},
          "data": {"k": "v"}}
    live = apply(None, cm, schema=CONFIGMAP)
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["b"]}}
    out = apply(live, other, manager="other", schema=CONFIGMAP)
    assert out["metadata"]["finalizers"] == ["a", "b"]
    fields = decode_fields(entries(out)["other/Apply"]["fieldsV1"])
    assert fields == {("f:metadata", "f:finalizers", 'v:"b"')}

    with_args = deployment()
    with_args["spec"]["template"]["spec"]["containers"][0]["args"] = ["--a", "--b"]
    first = apply(None, with_args)
    with_args["spec"]["template"]["spec"]["containers"][0]["args"] = ["--c"]
    out = apply(first, with_args, now=T2)
    assert out["spec"]["template"]["spec"]["containers"][0]["args"] == ["--c"]


def test_apply_is_idempotent() -> None:
    once = apply(None, deployment())
    twice = apply(once, deployment(), now=T2)
    assert twice == once, "nothing changed, so the time stays too"


def test_record_update_moves_changed_fields_and_enables_conflicts() -> None:
    live = apply(None, deployment())
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 7
    out = update(live, scaled, "kube-controller-manager", now=T2)
    owners = entries(out)
    assert decode_fields(owners["kube-controller-manager/Update"]["fieldsV1"]) == {("f:spec", "f:replicas")}
    assert owners["kube-controller-manager/Update"]["time"] == T2
    assert ("f:spec", "f:replicas") not in decode_fields(owners["kubectl/Apply"]["fieldsV1"])
    with pytest.raises(errors.Conflict, match='"kube-controller-manager" using apps/v1: .spec.replicas'):
        apply(out, deployment(replicas=3))
    # Applying without replicas leaves the controller's value alone.
    without = deployment()
    del without["spec"]["replicas"]
    assert apply(out, without)["spec"]["replicas"] == 7
    # An explicit null in an applied configuration takes the field out (and needs force).
    assert "replicas" not in apply(out, deployment(replicas=None), force=True)["spec"]


def test_record_update_without_schema_owns_lists_whole_yet_conflicts() -> None:
    live = apply(None, deployment())
    edited = copy.deepcopy(live)
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:9"
    out = update(live, edited, "kubectl-edit", schema=None)
    changed = deployment()
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    with pytest.raises(errors.Conflict) as caught:
        apply(out, changed)
    assert caught.value.causes[0].field == ".spec.template.spec.containers"


def test_record_update_on_create_and_metadata_is_not_tracked() -> None:
    obj = deployment()
    obj["metadata"].update(uid="u", resourceVersion="1", generation=1, labels={"a": "b"})
    out = update(None, obj, "kubectl-create")
    fields = decode_fields(out["metadata"]["managedFields"][0]["fieldsV1"])
    assert ("f:metadata", "f:labels", "f:a") in fields
    assert not any(p[:2] in {("f:metadata", "f:uid"), ("f:metadata", "f:name")} or p == ("f:kind",) for p in fields)


def test_record_update_with_no_change_leaves_entries_alone() -> None:
    live = update(None, deployment(), "a", now=T0)
    assert update(live, copy.deepcopy(live), "b", now=T2) == live


def test_managed_fields_reset_with_a_single_empty_entry() -> None:
    live = update(None, deployment(), "a")
    reset = copy.deepcopy(live)
    reset["metadata"]["managedFields"] = [{}]
    assert "managedFields" not in update(live, reset, "b")["metadata"]


def test_first_apply_to_an_untracked_object_conflicts_with_before_first_apply() -> None:
    with pytest.raises(errors.Conflict) as caught:
        apply(deployment(), deployment(replicas=4))
    assert caught.value.causes[0].message == f'conflict with "{BEFORE_FIRST_APPLY}" using apps/v1'


@pytest.mark.parametrize(
    ("applied", "kwargs", "message"),
    [
        ({**deployment(), "metadata": {"name": "web", "managedFields": []}}, {},
         "metadata.managedFields must be nil"),
        ({**deployment(), "apiVersion": "apps/v1beta1"}, {"api_version": "apps/v1"},
         "Incorrect version specified in apply patch. Specified patch version: apps/v1beta1, expected: apps/v1"),
        (deployment(), {"manager": ""}, "fieldManager is required for apply requests"),
        ({**deployment(), "spec": {"template": {"spec": {"containers": {"name": "x"}}}}}, {},
         "failed to create typed patch object (apps/v1, Kind=Deployment): "
         ".spec.template.spec.containers: expected list, got map"),
        ({**deployment(), "spec": {"template": {"spec": {"containers": [{"name": "x"}, {"name": "x"}]}}}}, {},
         '.spec.template.spec.containers: duplicate entries for key [name="x"]'),
    ],
)
def test_bad_applied_configurations_are_400(applied: Any, kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"manager": "kubectl", "force": False, "schema": DEPLOYMENT,
                            "api_version": "apps/v1", "now": T1, **kwargs}
    with pytest.raises(errors.BadRequest) as caught:
        server_side_apply(None, applied, **args)
    assert message in caught.value.message


def test_applied_not_an_object_is_400() -> None:
    with pytest.raises(errors.BadRequest):
        server_side_apply(None, ["x"], manager="m", force=False, schema=None,  # type: ignore[arg-type]
                          api_version="v1", now=T1)


def test_apply_without_schema_merges_maps_and_replaces_lists() -> None:
    live = apply(None, {"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n"},
                        "spec": {"a": 1, "l": [1, 2]}}, schema=None)
    out = apply(live, {"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n"},
                       "spec": {"b": 2}}, manager="other", schema=None)
    out = apply(out, {"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n"},
                      "spec": {"l": [3]}}, schema=None, now=T2)
    assert out["spec"] == {"l": [3], "b": 2}, "kubectl dropped `a`; the list was replaced whole"
    with pytest.raises(errors.Conflict, match=r'conflict with "kubectl": \.spec\.l$'):
        apply(out, {"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n"},
                    "spec": {"l": [4]}}, manager="other", schema=None)


def test_with_the_servers_own_schema() -> None:
    schemas = pytest.importorskip("orchestrator.api.schemas")
    schema = schemas.schema_for("apps", "v1", "Deployment")
    out = apply(None, deployment(), schema=schema)
    assert out["metadata"]["managedFields"] == apply(None, deployment())["metadata"]["managedFields"]


def test_path_string() -> None:
    assert path_string(("f:spec", "f:ports", 'k:{"port":80,"protocol":"TCP"}', "f:name")) == (
        '.spec.ports[port=80,protocol="TCP"].name')
    assert path_string(("f:metadata", "f:finalizers", 'v:"a"')) == '.metadata.finalizers[="a"]'


elements = st.one_of(
    st.text(min_size=1, max_size=4).map(lambda s: "f:" + s),
    st.text(max_size=3).map(lambda s: 'k:{"name":' + json.dumps(s) + "}"),
    st.integers().map(lambda i: "v:" + str(i)),
)


@settings(max_examples=300, deadline=None)
@given(paths=st.sets(st.lists(elements, min_size=1, max_size=4).map(tuple), max_size=8))
def test_fieldsv1_round_trips(paths: set[tuple[str, ...]]) -> None:
    assert decode_fields(encode_fields(paths)) == paths
