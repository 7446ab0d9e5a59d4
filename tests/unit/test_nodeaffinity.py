"""Required node affinity (orchestrator.api.nodeaffinity): kube's nodeaffinity matching and
ValidateNodeSelector / ValidatePreferredSchedulingTerms messages."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.api.errors import Invalid
from orchestrator.api.kinds import ResourceType
from orchestrator.api.nodeaffinity import RequiredNodeAffinity, node_affinity_causes
from orchestrator.api.schemas import schema_for
from orchestrator.api.validation import validate_object

LABELS = {"zone": "a", "rank": "5", "gpu": "A100"}
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"


def required(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"affinity": {"nodeAffinity": {REQUIRED: {"nodeSelectorTerms": list(terms)}}}}


def expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    return {"matchExpressions": [{"key": key, "operator": operator, "values": list(values)}]}


def name_field(operator: str, *values: str) -> dict[str, Any]:
    return {"matchFields": [{"key": "metadata.name", "operator": operator, "values": list(values)}]}


def matches(spec: dict[str, Any], labels: dict[str, str] = LABELS, name: str = "n1") -> bool:
    return RequiredNodeAffinity.from_pod_spec(spec).matches(labels, name)


@pytest.mark.parametrize(("spec", "ok"), [
    ({}, True),
    ({"nodeSelector": {"zone": "a"}}, True),
    ({"nodeSelector": {"zone": "b"}}, False),
    ({"nodeSelector": {"missing": ""}}, False),  # an empty wanted value still needs the label
    (required(expr("zone", "In", "a", "b")), True),
    (required(expr("zone", "NotIn", "a")), False),
    (required(expr("missing", "NotIn", "a")), True),
    (required(expr("zone", "Exists")), True),
    (required(expr("zone", "DoesNotExist")), False),
    (required(expr("rank", "Gt", "4")), True),
    (required(expr("rank", "Lt", "5")), False),
    (required(expr("missing", "Gt", "0")), False),
    (required(expr("gpu", "Gt", "0")), False),  # a label that is not an integer never compares
    (required(expr("zone", "In", "b"), expr("zone", "Exists")), True),  # terms are ORed
    (required({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]},
                                    {"key": "gpu", "operator": "In", "values": ["H100"]}]}), False),
    (required(name_field("In", "n1")), True),
    (required(name_field("NotIn", "n1")), False),
    (required(name_field("In", "n2")), False),
    ({"nodeSelector": {"zone": "b"}, **required(expr("zone", "Exists"))}, False),  # both must hold
])
def test_matching_like_kube(spec: dict[str, Any], ok: bool) -> None:
    assert matches(spec) is ok


@pytest.mark.parametrize("spec", [
    required({}),                                     # an empty term selects nothing
    required(),                                       # required, but no terms at all
    {"affinity": {"nodeAffinity": {REQUIRED: {}}}},
    required(expr("zone", "Bogus", "a")),             # unknown operator
    required(expr("zone", "in", "a")),                # operators are case-sensitive
    required(expr("zone", "NotIn")),                  # NotIn needs values
    required(expr("rank", "Gt", "4", "6")),           # Gt takes exactly one value
    required(expr("rank", "Gt", "four")),             # ... an integer
    required(expr("bad key", "Exists")),              # an invalid label key
    required(name_field("Exists")),                   # matchFields: In or NotIn only
    required(name_field("In", "n1", "n2")),           # ... with exactly one value
])
def test_terms_that_do_not_parse_match_no_node(spec: dict[str, Any]) -> None:
    assert not matches(spec)


def test_strict_integers_for_gt_and_lt() -> None:
    # The scheduler's and the DaemonSet controller's copies used Python's int(), which also reads
    # " 7" and "1_0"; kube's strconv.ParseInt does not, so such labels never compare.
    spec = required(expr("rank", "Gt", "4"))
    assert not matches(spec, {"rank": " 7"}) and not matches(spec, {"rank": "1_0"})
    assert matches(spec, {"rank": "+7"}) and not matches(spec, {"rank": "-7"})


def test_unparsable_term_does_not_hide_a_good_one() -> None:
    assert matches(required(expr("zone", "Bogus", "a"), expr("zone", "In", "a")))


def test_an_other_field_reads_empty() -> None:
    other = {"matchFields": [{"key": "spec.unschedulable", "operator": "NotIn", "values": ["x"]}]}
    assert matches(required(other))


def test_pinned_node_and_keys() -> None:
    view = RequiredNodeAffinity.from_pod_spec({"nodeSelector": {"zone": "a"},
                                               **required(name_field("In", "n7"))})
    assert view.pinned_node() == "n7"
    assert list(view.keys()) == ["zone", "metadata.name"]
    assert RequiredNodeAffinity.from_pod_spec(required(name_field("NotIn", "n7"))).pinned_node() is None
    assert RequiredNodeAffinity.from_pod_spec({"affinity": "junk"}).terms is None


TERMS = f"spec.affinity.nodeAffinity.{REQUIRED}.nodeSelectorTerms"


def causes(spec: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c.field, c.message) for c in node_affinity_causes(spec.get("affinity"), "spec.affinity")]


@pytest.mark.parametrize(("spec", "expected"), [
    (required(expr("zone", "Bogus", "a")),
     [(f"{TERMS}[0].matchExpressions[0].operator", 'Invalid value: "Bogus": not a valid selector operator')]),
    (required(expr("zone", "In")),
     [(f"{TERMS}[0].matchExpressions[0].values",
       "Required value: must be specified when `operator` is 'In' or 'NotIn'")]),
    (required(expr("zone", "Exists", "a")),
     [(f"{TERMS}[0].matchExpressions[0].values",
       "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'")]),
    (required(expr("rank", "Gt", "1", "2")),
     [(f"{TERMS}[0].matchExpressions[0].values",
       "Required value: must be specified single value when `operator` is 'Lt' or 'Gt'")]),
    (required(expr("zone", "In", "a b")),
     [(f"{TERMS}[0].matchExpressions[0].values[0]",
       "Invalid value: \"a b\": a valid label must be an empty string or consist of alphanumeric "
       "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
       "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
       "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")]),
    (required(),
     [(TERMS, "Required value: must have at least one node selector term")]),
    (required(name_field("Exists")),
     [(f"{TERMS}[0].matchFields[0].operator", 'Invalid value: "Exists": not a valid selector operator')]),
    (required(name_field("In", "a", "b")),
     [(f"{TERMS}[0].matchFields[0].values", "Required value: must be only one value when "
                                            "`operator` is 'In' or 'NotIn' for node field selector")]),
    (required({"matchFields": [{"key": "spec.x", "operator": "In", "values": ["a"]}]}),
     [(f"{TERMS}[0].matchFields[0].key", 'Invalid value: "spec.x": not a valid field selector key')]),
    (required(name_field("In", "Not_A_Node")),
     [(f"{TERMS}[0].matchFields[0].values[0]",
       "Invalid value: \"Not_A_Node\": a lowercase RFC 1123 subdomain must consist of lower case "
       "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
       "character (e.g. 'example.com', regex used for validation is "
       "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")]),
    ({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 0, "preference": expr("zone", "Bogus")}]}}},
     [("spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight",
       "Invalid value: 0: must be in the range 1-100"),
      ("spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]"
       ".preference.matchExpressions[0].operator", 'Invalid value: "Bogus": not a valid selector operator')]),
])
def test_each_bad_node_affinity_gets_kubes_cause(spec: dict[str, Any],
                                                 expected: list[tuple[str, str]]) -> None:
    assert causes(spec) == expected


def test_good_node_affinity_has_no_causes() -> None:
    assert causes(required(expr("zone", "In", "a"), expr("rank", "Gt", "3"), name_field("In", "n1"),
                           {"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]})) == []
    assert causes({"affinity": {"nodeAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "preference": expr("zone", "In", "a")}]}}}) == []
    assert causes({"affinity": "junk"}) == [] and causes({}) == []


def _daemonset(template_spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": {"app": "a"}},
                     "template": {"metadata": {"labels": {"app": "a"}},
                                  "spec": {"containers": [{"name": "c", "image": "x"}],
                                           **template_spec}}}}


def test_a_daemonset_with_an_unknown_operator_is_a_422() -> None:
    rt = ResourceType(group="apps", version="v1", kind="DaemonSet", plural="daemonsets",
                      singular="daemonset", namespaced=True)
    obj = _daemonset(required(expr("zone", "Bogus", "a")))
    with pytest.raises(Invalid) as caught:
        validate_object(obj, rt, schema_for("apps", "v1", "DaemonSet"), field_validation="Strict")
    assert str(caught.value) == (
        'DaemonSet.apps "agent" is invalid: spec.template.spec.affinity.nodeAffinity.'
        f'{REQUIRED}.nodeSelectorTerms[0].matchExpressions[0].operator: Invalid value: "Bogus": '
        "not a valid selector operator")


def test_a_bad_node_selector_label_is_a_422() -> None:
    rt = ResourceType(group="", version="v1", kind="Pod", plural="pods", singular="pod",
                      namespaced=True)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "x"}], "nodeSelector": {"zone": "a b"}}}
    with pytest.raises(Invalid) as caught:
        validate_object(pod, rt, schema_for("", "v1", "Pod"), field_validation="Strict")
    assert [c.field for c in caught.value.causes] == ["spec.nodeSelector"]
