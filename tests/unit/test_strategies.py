"""The strategy registry: every built-in kind has one strategy, found by resource key and
by group and kind; custom resources get the generic one."""

from __future__ import annotations

from typing import Any

from orchestrator.api import strategies
from orchestrator.api.kinds import BUILTIN_TYPES, ResourceType, builtin_type
from orchestrator.api.rbac import UserInfo
from orchestrator.api.strategy import GENERIC, Strategy

# Reviews are answered on create and never stored: nothing to prepare or print.
_REVIEWS = {"authorization.k8s.io", "authentication.k8s.io"}


def test_every_stored_builtin_kind_has_a_strategy() -> None:
    missing = [rt.key for rt in BUILTIN_TYPES
               if rt.group not in _REVIEWS and strategies.for_resource(rt) is GENERIC]
    assert missing == []


def test_every_strategy_names_a_builtin_resource() -> None:
    builtin = {(rt.key, rt.group, rt.kind) for rt in BUILTIN_TYPES}
    assert [s.key for s in strategies.STRATEGIES
            if (s.key, s.group, s.kind) not in builtin] == []
    assert len({s.key for s in strategies.STRATEGIES}) == len(strategies.STRATEGIES)


def test_builtin_types_are_what_the_strategies_serve_in_registry_order() -> None:
    # One declaration per kind: the served resource comes from the strategy, so discovery
    # lists a group's resources in the order its module declares them.
    assert BUILTIN_TYPES == tuple(s.resource_type for s in strategies.STRATEGIES)
    pod = strategies.for_kind("", "Pod")
    assert pod is not None and pod.resource_type.short_names == ("po",)
    namespace = strategies.for_kind("", "Namespace")
    assert namespace is not None and not namespace.resource_type.namespaced
    assert builtin_type("", "pods") == pod.resource_type
    # Each group's resources are declared together, so no group is split across modules.
    seen: list[str] = []
    for rt in BUILTIN_TYPES:
        if not seen or seen[-1] != rt.group:
            assert rt.group not in seen, rt.key
            seen.append(rt.group)


def test_lookups_by_key_and_by_kind_agree() -> None:
    for rt in BUILTIN_TYPES:
        by_kind = strategies.for_kind(rt.group, rt.kind)
        if by_kind is not None:
            assert strategies.for_resource(rt) is by_kind


def test_custom_resources_get_the_generic_strategy() -> None:
    pods = next(rt for rt in BUILTIN_TYPES if rt.key == "/pods")
    custom = ResourceType(group="", version="v1", kind="Pod", plural="pods", singular="pod",
                          namespaced=True, custom=True)
    assert strategies.for_resource(pods) is not GENERIC
    assert strategies.for_resource(custom) is GENERIC
    assert strategies.for_kind("example.com", "Widget") is None


def test_initial_status_is_a_template_not_shared_state() -> None:
    service = strategies.for_kind("", "Service")
    assert service is not None and service.initial_status == {"loadBalancer": {}}
    assert strategies.for_kind("", "Node") is not None
    node = strategies.for_kind("", "Node")
    assert node is not None and node.keeps_status_on_create


def test_namespace_delete_adds_its_spec_finalizers_and_terminates() -> None:
    namespace = strategies.for_kind("", "Namespace")
    assert namespace is not None
    obj = {"metadata": {"name": "a"}, "spec": {"finalizers": ["kubernetes"]}}
    assert namespace.delete_finalizers(obj) == ["kubernetes"]
    namespace.prepare_for_delete(obj)
    assert obj["status"] == {"phase": "Terminating"}


def test_every_builtin_kind_is_a_protobuf_root() -> None:
    """tools/gen_protobuf_schema.py derives its roots from BUILTIN_TYPES: the committed
    table has exactly those kinds plus the subresource and options bodies."""
    import importlib.util
    import json
    from pathlib import Path

    repository = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location(
        "gen_protobuf_schema", repository / "tools" / "gen_protobuf_schema.py")
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    roots = {f"{av}/{kind}" for av, kinds in tool.roots().items() for kind in kinds}
    table = json.loads((repository / "orchestrator/api/data/protobuf_schema.json").read_text())
    assert roots == set(table["kinds"])
    assert {f"{rt.api_version}/{rt.kind}" for rt in BUILTIN_TYPES} <= roots


def test_delete_answers_with_the_object_for_kube_s_return_deleted_object_kinds() -> None:
    assert sorted(rt.key for rt in BUILTIN_TYPES if rt.returns_deleted_object) == [
        "/namespaces", "/persistentvolumeclaims", "/persistentvolumes", "/pods",
        "/podtemplates", "/resourcequotas", "/serviceaccounts", "/services",
        "storage.k8s.io/csidrivers", "storage.k8s.io/csinodes",
        "storage.k8s.io/storageclasses", "storage.k8s.io/volumeattachments"]
    custom = ResourceType(group="", version="v1", kind="Pod", plural="pods", singular="pod",
                          namespaced=True, custom=True)
    assert not custom.returns_deleted_object


class _Lent:
    """A Context for hooks that read a node list and record what they asked for."""

    def __init__(self, nodes: tuple[str, ...] = ()) -> None:
        self.nodes = nodes
        self.user: UserInfo | None = None
        self.asked: list[str] = []

    def now(self) -> str:
        return "2026-01-01T00:00:00Z"

    def get(self, key: str, namespace: str, name: str) -> dict[str, Any] | None:
        return {"metadata": {"name": name}} if key == "/nodes" and name in self.nodes else None

    def assign_cluster_ip(self, service: dict[str, Any]) -> None:
        self.asked.append("assign")

    def keep_cluster_ip(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        self.asked.append("keep")

    def serve_custom(self, crd: dict[str, Any]) -> None:
        self.asked.append("serve")

    def drop_custom(self, crd: dict[str, Any]) -> None:
        self.asked.append("drop")

    def finalize_namespace(self, name: str) -> None:
        self.asked.append("finalize " + name)


def _strategy(group: str, kind: str) -> Strategy:
    found = strategies.for_kind(group, kind)
    assert found is not None
    return found


def test_a_pod_waits_for_its_kubelet_only_on_a_node_that_exists() -> None:
    pod = _strategy("", "Pod")
    lent = _Lent(nodes=("n1",))
    bound: dict[str, Any] = {"spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}
    assert pod.grace_period(bound, None, lent) == 30
    assert pod.grace_period(bound, 5, lent) == 5
    assert pod.grace_period({"spec": {"nodeName": "gone"}}, None, lent) == 0
    assert pod.grace_period(dict(bound, status={"phase": "Succeeded"}), None, lent) == 0
    created: dict[str, Any] = {"spec": {"containers": [{"name": "c"}]}}
    pod.prepare_for_create(created, lent)
    assert created["status"] == {"phase": "Pending", "qosClass": "BestEffort"}


def test_a_service_keeps_its_cluster_ip_except_through_status() -> None:
    service = _strategy("", "Service")
    lent = _Lent()
    service.prepare_for_create({}, lent)
    service.begin_update({}, {}, "", lent)
    service.begin_update({}, {}, "status", lent)
    assert lent.asked == ["assign", "keep"]


def test_a_crd_is_accepted_and_served_as_it_is_written() -> None:
    crd = _strategy("apiextensions.k8s.io", "CustomResourceDefinition")
    lent = _Lent()
    obj: dict[str, Any] = {"spec": {"names": {"kind": "Widget", "plural": "widgets"},
                                    "versions": [{"name": "v1", "storage": True}]}}
    crd.prepare_for_create(obj, lent)
    assert obj["status"]["storedVersions"] == ["v1"]
    crd.after_write(obj, lent)
    crd.after_delete(obj, lent)
    assert lent.asked == ["serve", "drop"]


def test_other_kinds_do_nothing_beyond_the_generic_verbs() -> None:
    config_map = _strategy("", "ConfigMap")
    lent = _Lent()
    obj: dict[str, Any] = {"data": {"a": "b"}}
    config_map.prepare_for_create(obj, lent)
    assert config_map.prepare_for_update(obj, obj, obj, "", lent) is obj
    assert config_map.grace_period(obj, 10, lent) == 0
    assert config_map.delete_finalizers(obj) == []
    assert obj == {"data": {"a": "b"}} and lent.asked == []


def _claim(*requests: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
            "metadata": {"name": "c", "namespace": "n"},
            "spec": {"devices": {"requests": list(requests)}}}


def test_a_resource_claim_names_each_request_once_and_asks_for_a_class_or_alternatives() -> None:
    claim = strategies.for_kind("resource.k8s.io", "ResourceClaim")
    assert claim is not None
    ok = {"name": "gpu", "exactly": {"deviceClassName": "gpu.example.com"}}
    assert claim.validate(_claim(ok)) == []
    causes = claim.validate(_claim({"name": "Bad"}, ok, ok, {
        "name": "both", "exactly": {"deviceClassName": "x"}, "firstAvailable": [
            {"name": "a", "deviceClassName": "x"}]}))
    assert [(c.field, c.reason) for c in causes] == [
        ("spec.devices.requests[0].name", "FieldValueInvalid"),
        ("spec.devices.requests[0]", "FieldValueRequired"),
        ("spec.devices.requests[2].name", "FieldValueDuplicate"),
        ("spec.devices.requests[3].firstAvailable", "FieldValueForbidden")]
    template = strategies.for_kind("resource.k8s.io", "ResourceClaimTemplate")
    assert template is not None
    assert [c.field for c in template.validate({"spec": {"spec": _claim({"name": "-"})["spec"]}})
            ] == ["spec.spec.devices.requests[0].name", "spec.spec.devices.requests[0]"]


def test_a_resource_slice_says_which_nodes_in_exactly_one_way() -> None:
    slice_ = strategies.for_kind("resource.k8s.io", "ResourceSlice")
    assert slice_ is not None
    spec = {"driver": "gpu.example.com", "pool": {"name": "p", "generation": 0,
                                                  "resourceSliceCount": 1}}
    assert slice_.validate({"spec": {**spec, "allNodes": True}}) == []
    assert [c.message for c in slice_.validate({"spec": spec})] == [
        "Required value: exactly one of `nodeName`, `nodeSelector`, `allNodes`, "
        "`perDeviceNodeSelection` is required"]
    both = slice_.validate({"spec": {**spec, "nodeName": "n", "allNodes": True}})
    assert [c.field for c in both] == ["spec"]
    bad = slice_.validate({"spec": {"driver": "Bad_Driver", "allNodes": True,
                                    "pool": {"name": "p", "resourceSliceCount": 0}}})
    assert [c.field for c in bad] == ["spec.driver", "spec.pool.resourceSliceCount"]


def test_a_resource_claim_prints_its_state() -> None:
    from orchestrator.api.strategies import resource

    claim = _claim()
    assert resource.claim_state(claim) == "pending"
    claim["status"] = {"allocation": {"devices": {"results": []}}}
    assert resource.claim_state(claim) == "allocated"
    claim["status"]["reservedFor"] = [{"resource": "pods", "name": "p", "uid": "u"}]
    assert resource.claim_state(claim) == "allocated,reserved"
    claim["status"].pop("reservedFor")
    claim["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert resource.claim_state(claim) == "deleted,allocated,deallocating"


def test_a_claim_asks_for_one_device_unless_it_says_otherwise() -> None:
    claim = strategies.for_kind("resource.k8s.io", "ResourceClaim")
    assert claim is not None
    obj = _claim({"name": "a", "exactly": {"deviceClassName": "x", "tolerations": [{}]}},
                 {"name": "b", "exactly": {"deviceClassName": "x", "allocationMode": "All"}},
                 {"name": "c", "firstAvailable": [{"name": "s", "deviceClassName": "x"}]})
    claim.defaults(obj)
    requests = obj["spec"]["devices"]["requests"]
    assert requests[0]["exactly"] == {"deviceClassName": "x", "allocationMode": "ExactCount",
                                      "count": 1, "tolerations": [{"operator": "Equal"}]}
    assert requests[1]["exactly"] == {"deviceClassName": "x", "allocationMode": "All"}
    assert requests[2]["firstAvailable"][0]["count"] == 1


def test_namespace_roles_grant_what_the_strategies_ask_for() -> None:
    from orchestrator.api.rbac_defaults import default_cluster_roles

    roles = {r["metadata"]["name"]: r["rules"] for r in default_cluster_roles()}
    claims = {"apiGroups": ["resource.k8s.io"],
              "resources": ["resourceclaims", "resourceclaimtemplates"]}
    assert {**claims, "verbs": ["create", "delete", "deletecollection", "patch", "update"]
            } in roles["system:aggregate-to-edit"]
    assert {**claims, "verbs": ["get", "list", "watch"]} in roles["system:aggregate-to-view"]
    # Cluster-scoped device classes and slices are the cluster admin's.
    assert not any("resource.k8s.io" in rule.get("apiGroups", [])
                   for name in ("system:aggregate-to-admin", "admin", "edit", "view")
                   for rule in roles[name])
