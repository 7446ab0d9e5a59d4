"""JSON patch, JSON merge patch and strategic merge patch, checked against kube semantics."""

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
from orchestrator.api.patch import json_patch, merge_patch, strategic_merge_patch

# --------------------------------------------------------------------------------------
# A test-local FieldSchema over Kubernetes' own definitions (kubernetes_validate's copy)
# --------------------------------------------------------------------------------------

_DEFS_FILE = (
    Path(kubernetes_validate.__file__).parent
    / "kubernetes-json-schema" / "v1.37.0-local" / "_definitions.json"
)


@lru_cache(maxsize=1)
def _defs() -> dict[str, Any]:
    return json.loads(_DEFS_FILE.read_text())["$defs"]


class RawSchema:
    """FieldSchema over a JSON-schema dict; a `$ref`'s siblings override the target."""

    def __init__(self, raw: dict[str, Any]) -> None:
        while "$ref" in raw:
            target = _defs()[raw["$ref"].rsplit("/", 1)[-1]]
            raw = {**target, **{k: v for k, v in raw.items() if k != "$ref"}}
        self.raw = raw

    @classmethod
    def of(cls, definition: str) -> "RawSchema":
        return cls({"$ref": "#/$defs/" + definition})

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


POD = RawSchema.of("io.k8s.api.core.v1.Pod")
DEPLOYMENT = RawSchema.of("io.k8s.api.apps.v1.Deployment")


def pod(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"app": "web"}, "finalizers": ["a", "b"]},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "app:1",
                    "args": ["--x", "--y"],
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                },
                {"name": "side", "image": "side:1"},
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
            **spec,
        },
    }


def containers(obj: dict[str, Any]) -> list[str]:
    return [c["name"] for c in obj["spec"]["containers"]]


# --------------------------------------------------------------------------------------
# JSON patch
# --------------------------------------------------------------------------------------


def test_json_patch_operations() -> None:
    doc = {"a": {"b": [1, 2, 3]}, "c": "x"}
    out = json_patch(
        doc,
        [
            {"op": "add", "path": "/a/b/1", "value": 9},
            {"op": "add", "path": "/a/b/-", "value": 4},
            {"op": "remove", "path": "/a/b/0"},
            {"op": "replace", "path": "/c", "value": "y"},
            {"op": "copy", "from": "/a/b", "path": "/d"},
            {"op": "move", "from": "/c", "path": "/e"},
            {"op": "test", "path": "/e", "value": "y"},
        ],
    )
    assert out == {"a": {"b": [9, 2, 3, 4]}, "d": [9, 2, 3, 4], "e": "y"}
    assert doc == {"a": {"b": [1, 2, 3]}, "c": "x"}, "input must not change"


def test_json_patch_copy_is_independent() -> None:
    out = json_patch({"a": {"x": 1}}, [{"op": "copy", "from": "/a", "path": "/b"},
                                       {"op": "replace", "path": "/b/x", "value": 2}])
    assert out == {"a": {"x": 1}, "b": {"x": 2}}


def test_json_pointer_escapes() -> None:
    doc = {"metadata": {"labels": {"app.kubernetes.io/name": "x", "a~b": "y"}}}
    out = json_patch(doc, [
        {"op": "replace", "path": "/metadata/labels/app.kubernetes.io~1name", "value": "z"},
        {"op": "remove", "path": "/metadata/labels/a~0b"},
        {"op": "add", "path": "/metadata/labels/c~01", "value": "w"},
    ])
    assert out["metadata"]["labels"] == {"app.kubernetes.io/name": "z", "c~1": "w"}


def test_json_patch_negative_index_counts_from_end_like_kube() -> None:
    out = json_patch({"l": [1, 2, 3]}, [{"op": "remove", "path": "/l/-1"}])
    assert out == {"l": [1, 2]}


def test_json_patch_test_of_missing_key_against_null_passes_like_kube() -> None:
    assert json_patch({"a": 1}, [{"op": "test", "path": "/b", "value": None}]) == {"a": 1}


def test_json_patch_null_body_is_a_no_op() -> None:
    assert json_patch({"a": 1}, None) == {"a": 1}


def _rejected(doc: dict[str, Any], ops: Any) -> str:
    with pytest.raises(errors.Invalid) as caught:
        json_patch(doc, ops)
    status = caught.value.status()
    assert status["code"] == 422 and status["reason"] == "Invalid"
    assert status["message"] == "the server rejected our request due to an error in our request"
    [cause] = status["details"]["causes"]
    assert cause["reason"] == "UnexpectedServerResponse"
    return str(cause["message"])


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ([{"op": "frobnicate", "path": "/a"}], "Unexpected kind: frobnicate"),
        ([{"path": "/a"}], "Unexpected kind: unknown"),
        ([None], "Unexpected kind: unknown"),
        ([{"op": "test", "path": "/a", "value": 2}], "testing value /a failed: test failed"),
        ([{"op": "remove", "path": "/zz"}],
         "error in remove for path: '/zz': Unable to remove nonexistent key: zz: missing value"),
        ([{"op": "replace", "path": "/zz", "value": 1}],
         "replace operation does not apply: doc is missing key: /zz: missing value"),
        ([{"op": "add", "path": "/x/y", "value": 1}],
         'add operation does not apply: doc is missing path: "/x/y": missing value'),
        ([{"op": "add", "value": 1}], "add operation failed to decode path: missing value"),
        ([{"op": "remove"}],
         "remove operation failed to decode path: operation missing path field: missing value"),
        ([{"op": "move", "path": "/b"}],
         "move operation failed to decode from: operation, missing from field: missing value"),
        ([{"op": "add", "path": "/l/7", "value": 1}],
         "error in add for path: '/l/7': Unable to access invalid index: 7: invalid index referenced"),
        ([{"op": "add", "path": "/l/x", "value": 1}],
         "error in add for path: '/l/x': value was not a proper array index: 'x': "
         'strconv.Atoi: parsing "x": invalid syntax'),
        ([{"op": "remove", "path": "/l/5"}],
         "error in remove for path: '/l/5': Unable to access invalid index: 5: invalid index referenced"),
        ([{"op": "add", "path": "", "value": {}}],
         'add operation does not apply: doc is missing path: "": missing value'),
        ([{"op": "remove", "path": 5}],
         "remove operation failed to decode path: json: cannot unmarshal number into Go value of type string"),
    ],
)
def test_json_patch_failures_are_422_with_json_patch_message(ops: Any, message: str) -> None:
    assert _rejected({"a": 1, "l": [1]}, ops) == message


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ({"op": "add"}, "json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
        ("x", "json: cannot unmarshal string into Go value of type jsonpatch.Patch"),
        (["add"], "json: cannot unmarshal string into Go value of type jsonpatch.Operation"),
        ([[1]], "json: cannot unmarshal array into Go value of type jsonpatch.Operation"),
    ],
)
def test_json_patch_that_does_not_decode_is_400(ops: Any, message: str) -> None:
    with pytest.raises(errors.BadRequest) as caught:
        json_patch({"a": 1}, ops)
    assert caught.value.message == message


def test_json_patch_operation_limit_is_413() -> None:
    ops = [{"op": "test", "path": "/a", "value": 1}] * 10001
    with pytest.raises(errors.RequestEntityTooLarge) as caught:
        json_patch({"a": 1}, ops)
    assert caught.value.message == "The allowed maximum operations in a JSON patch is 10000, got 10001"
    assert json_patch({"a": 1}, ops[:10000]) == {"a": 1}


def test_json_patch_replacing_the_root_with_a_list_is_invalid() -> None:
    with pytest.raises(errors.Invalid) as caught:
        json_patch({"a": 1}, [{"op": "replace", "path": "", "value": [1]}])
    assert caught.value.causes[0].field == "patch"
    assert caught.value.message.startswith(' "" is invalid: patch: Invalid value: "[1]"')


def test_json_patch_copy_bomb_is_stopped() -> None:
    ops = [{"op": "copy", "from": "/a", "path": "/a/-"} for _ in range(40)]  # doubles each time
    message = _rejected({"a": ["x" * 100]}, ops)
    assert message.startswith("Unable to complete the copy")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=10,
)
pointers = st.lists(st.sampled_from(["a", "b", "0", "1", "-", "~0", "~1", "", "-1", "x/y"]), max_size=3).map(
    lambda parts: "".join("/" + p for p in parts)
) | st.text(max_size=6)
operations = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "bogus"])},
    optional={"path": pointers | json_values, "from": pointers, "value": json_values},
)


@settings(max_examples=400, deadline=None)
@given(doc=st.dictionaries(st.sampled_from(["a", "b", "0"]), json_values, max_size=3),
       ops=st.lists(operations | json_values, max_size=5) | json_values)
def test_json_patch_of_garbage_raises_only_api_errors(doc: dict[str, Any], ops: Any) -> None:
    before = copy.deepcopy(doc)
    try:
        out = json_patch(doc, ops)
    except errors.APIError as error:
        assert error.code in (400, 413, 422)
    else:
        assert isinstance(out, dict)
    assert doc == before


# --------------------------------------------------------------------------------------
# JSON merge patch
# --------------------------------------------------------------------------------------


def test_merge_patch_rfc7386() -> None:
    doc = {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
    out = merge_patch(doc, {"a": "z", "c": {"f": None}, "l": [3], "n": {"x": None, "y": 1}})
    assert out == {"a": "z", "c": {"d": "e"}, "l": [3], "n": {"y": 1}}
    assert doc["c"] == {"d": "e", "f": "g"}


@pytest.mark.parametrize("body", [None, 5, "x", True])
def test_merge_patch_that_is_not_an_object_is_400(body: Any) -> None:
    with pytest.raises(errors.BadRequest, match="^Invalid JSON Patch$"):
        merge_patch({"a": 1}, body)


def test_merge_patch_with_a_list_body_is_invalid() -> None:
    with pytest.raises(errors.Invalid):
        merge_patch({"a": 1}, [1])


def _merge_diff(source: Any, target: Any) -> Any:
    """A merge patch turning `source` into `target` (targets hold no nulls)."""
    if not (isinstance(source, dict) and isinstance(target, dict)):
        return target
    diff: dict[str, Any] = {k: None for k in source if k not in target}
    for key, value in target.items():
        if key not in source:
            diff[key] = value
        elif source[key] != value or type(source[key]) is not type(value):
            diff[key] = _merge_diff(source[key], value)
    return diff


null_free = st.recursive(
    st.booleans() | st.integers() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=12,
)
objects = st.dictionaries(st.text(max_size=3), null_free, max_size=4)


@settings(max_examples=300, deadline=None)
@given(source=objects, target=objects)
def test_merge_patch_of_a_diff_reproduces_the_target(source: dict[str, Any], target: dict[str, Any]) -> None:
    assert merge_patch(source, _merge_diff(source, target)) == target


@settings(max_examples=300, deadline=None)
@given(source=objects, target=objects)
def test_strategic_patch_of_a_diff_with_no_schema_reproduces_the_target(
    source: dict[str, Any], target: dict[str, Any]
) -> None:
    assert strategic_merge_patch(source, _merge_diff(source, target), None) == target


# --------------------------------------------------------------------------------------
# Strategic merge patch on real Kubernetes schemas
# --------------------------------------------------------------------------------------


def test_containers_merge_by_name_and_new_ones_go_first() -> None:
    live = pod()
    out = strategic_merge_patch(live, {"spec": {"containers": [
        {"name": "new", "image": "new:1"}, {"name": "app", "image": "app:2"}]}}, POD)
    assert containers(out) == ["new", "app", "side"]
    app = out["spec"]["containers"][1]
    assert app["image"] == "app:2" and app["env"] == live["spec"]["containers"][0]["env"]
    assert containers(live) == ["app", "side"], "input must not change"


def test_nested_merge_lists_ports_env_mounts() -> None:
    out = strategic_merge_patch(pod(), {"spec": {"containers": [{
        "name": "app",
        "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443}],
        "env": [{"name": "B", "value": "3"}],
        "volumeMounts": [{"mountPath": "/data", "readOnly": True}],
    }]}}, POD)
    app = out["spec"]["containers"][0]
    # Both ports are in the patch, so the patch's order wins.
    assert app["ports"] == [{"containerPort": 80, "protocol": "TCP", "name": "http"}, {"containerPort": 443}]
    assert app["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]
    assert app["volumeMounts"] == [{"name": "data", "mountPath": "/data", "readOnly": True}]


def test_atomic_lists_are_replaced_and_primitive_merge_lists_unioned() -> None:
    out = strategic_merge_patch(pod(), {
        "metadata": {"finalizers": ["b", "c"]},
        "spec": {"containers": [{"name": "app", "args": ["--z"]}], "tolerations": [{"key": "k"}]},
    }, POD)
    assert out["metadata"]["finalizers"] == ["a", "b", "c"]
    assert out["spec"]["containers"][0]["args"] == ["--z"]
    assert out["spec"]["tolerations"] == [{"key": "k"}]


def test_null_deletes_a_key_and_unmatched_null_is_ignored() -> None:
    out = strategic_merge_patch(pod(), {"metadata": {"labels": {"app": None, "zz": None}}}, POD)
    assert out["metadata"]["labels"] == {}
    assert "zz" not in out["metadata"]["labels"]


def test_patch_delete_directive_in_list_and_map() -> None:
    out = strategic_merge_patch(pod(), {"spec": {
        "containers": [{"name": "side", "$patch": "delete"}, {"name": "ghost", "$patch": "delete"}],
        "volumes": [{"name": "data", "$patch": "delete"}],
    }}, POD)
    assert containers(out) == ["app"] and out["spec"]["volumes"] == []
    out = strategic_merge_patch(pod(), {"metadata": {"labels": {"$patch": "delete"}}}, POD)
    assert out["metadata"]["labels"] == {}


def test_patch_replace_directive_in_list_and_map() -> None:
    out = strategic_merge_patch(pod(), {"spec": {"containers": [
        {"name": "only", "image": "x"}, {"$patch": "replace"}]}}, POD)
    assert out["spec"]["containers"] == [{"name": "only", "image": "x"}]
    out = strategic_merge_patch(pod(), {"metadata": {"labels": {"$patch": "replace", "k": "v"}}}, POD)
    assert out["metadata"]["labels"] == {"k": "v"}


def test_delete_from_primitive_list() -> None:
    out = strategic_merge_patch(pod(), {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}, POD)
    assert out["metadata"]["finalizers"] == ["b"]
    out = strategic_merge_patch(pod(), {"spec": {"$deleteFromPrimitiveList/nothing": ["a"]}}, POD)
    assert "nothing" not in out["spec"]


def test_set_element_order_reorders() -> None:
    out = strategic_merge_patch(pod(), {"spec": {
        "$setElementOrder/containers": [{"name": "side"}, {"name": "app"}],
        "containers": [{"name": "app", "image": "app:3"}],
    }}, POD)
    assert containers(out) == ["side", "app"]
    assert out["spec"]["containers"][1]["image"] == "app:3"
    out = strategic_merge_patch(pod(), {"metadata": {"$setElementOrder/finalizers": ["b", "a"]}}, POD)
    assert out["metadata"]["finalizers"] == ["b", "a"]


def test_set_element_order_that_contradicts_the_patch_is_400() -> None:
    with pytest.raises(errors.BadRequest, match="doesn't match \\$setElementOrder list"):
        strategic_merge_patch(pod(), {"spec": {
            "$setElementOrder/containers": [{"name": "side"}],
            "containers": [{"name": "app", "image": "x"}],
        }}, POD)


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"replicas": 1, "strategy": {"type": "RollingUpdate",
                                             "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}},
    }


def test_retain_keys_clears_fields_not_listed() -> None:
    out = strategic_merge_patch(deployment(), {"spec": {"strategy": {
        "$retainKeys": ["type"], "type": "Recreate"}}}, DEPLOYMENT)
    assert out["spec"]["strategy"] == {"type": "Recreate"}


def test_retain_keys_must_name_every_patched_field() -> None:
    with pytest.raises(errors.BadRequest, match="^invalid patch format of retainKeys$"):
        strategic_merge_patch(deployment(), {"spec": {"strategy": {
            "$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": {"maxSurge": 2}}}}, DEPLOYMENT)


def test_retain_keys_on_volumes_items() -> None:
    out = strategic_merge_patch(pod(), {"spec": {"volumes": [
        {"name": "data", "$retainKeys": ["name", "configMap"], "configMap": {"name": "cm"}}]}}, POD)
    assert out["spec"]["volumes"] == [{"name": "data", "configMap": {"name": "cm"}}]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"spec": {"containers": [{"name": "app", "$patch": "merge"}]}},
         "merging lists cannot yet be specified in the patch"),
        ({"metadata": {"labels": {"$patch": "merge"}}}, "unknown patch type: merge in map: map[$patch:merge]"),
        ({"spec": {"containers": [{"name": "app", "$patch": "nope"}]}}, "unknown patch type: nope"),
        ({"spec": {"containers": [{"image": "x"}]}},
         "map: map[image:x] does not contain declared merge key: name"),
        ({"spec": {"containers": ["x"]}}, "list element types are not identical"),
        ({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}, "expected a []interface {}"),
        ({"metadata": {"$retainKeys": "a"}}, "invalid patch format of retainKeys"),
        ({"metadata": {"$setElementOrder": []}}, "invalid patch format of setElementOrder list"),
    ],
)
def test_malformed_strategic_patches_are_400(body: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.BadRequest) as caught:
        strategic_merge_patch(pod(), body, POD)
    assert message in caught.value.message


def test_list_of_lists_is_422_like_kube() -> None:
    live = pod()
    live["metadata"]["finalizers"] = ["a"]
    with pytest.raises(errors.Invalid) as caught:
        strategic_merge_patch(live, {"metadata": {"finalizers": [["x"]]}}, POD)
    assert caught.value.causes[0].message == "lists of lists are not supported"


@pytest.mark.parametrize("body", [[1], "x", 3])
def test_strategic_patch_that_is_not_an_object_is_400(body: Any) -> None:
    with pytest.raises(errors.BadRequest, match="^json: cannot unmarshal .* into Go value of type map"):
        strategic_merge_patch(pod(), body, POD)


def test_directives_do_not_leak_into_new_values() -> None:
    live = pod()
    del live["spec"]["volumes"]
    out = strategic_merge_patch(live, {"spec": {"volumes": [
        {"name": "v", "$retainKeys": ["name"], "emptyDir": {"$patch": "replace"}}]}}, POD)
    assert out["spec"]["volumes"] == [{"name": "v", "emptyDir": {}}]


def test_schema_less_strategic_patch_is_a_merge_patch() -> None:
    assert strategic_merge_patch({"l": [1, 2], "m": {"a": 1}}, {"l": [3], "m": {"a": None}}, None) == {
        "l": [3], "m": {}}


def test_with_the_servers_own_schemas() -> None:
    schemas = pytest.importorskip("orchestrator.api.schemas")
    pod_schema = schemas.schema_for("", "v1", "Pod")
    assert pod_schema is not None
    out = strategic_merge_patch(pod(), {"spec": {"containers": [{"name": "app", "image": "app:9"}]}}, pod_schema)
    assert containers(out) == ["app", "side"] and out["spec"]["containers"][0]["image"] == "app:9"
    dep_schema = schemas.schema_for("apps", "v1", "Deployment")
    out = strategic_merge_patch(deployment(), {"spec": {"strategy": {"$retainKeys": ["type"],
                                                                     "type": "Recreate"}}}, dep_schema)
    assert out["spec"]["strategy"] == {"type": "Recreate"}


smp_bodies = st.recursive(
    json_values,
    lambda inner: st.dictionaries(
        st.sampled_from(["spec", "metadata", "containers", "name", "image", "finalizers", "labels",
                         "$patch", "$retainKeys", "$setElementOrder/containers",
                         "$deleteFromPrimitiveList/finalizers", "env", "ports", "containerPort"]),
        inner | st.sampled_from(["delete", "replace", "merge"]), max_size=4,
    ) | st.lists(inner, max_size=3),
    max_leaves=15,
)


@settings(max_examples=400, deadline=None)
@given(body=smp_bodies)
def test_strategic_patch_of_garbage_raises_only_api_errors(body: Any) -> None:
    live = pod()
    try:
        out = strategic_merge_patch(live, body, POD)
    except errors.APIError as error:
        assert error.code in (400, 422)
    else:
        assert isinstance(out, dict)
    assert live == pod()
