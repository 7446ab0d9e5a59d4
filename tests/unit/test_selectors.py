"""Label and field selectors: kube's syntax, matching rules and error messages."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.api.errors import APIError, BadRequest
from orchestrator.api.selectors import (
    format_label_selector,
    format_labels,
    label_key_errors,
    label_selector_from_dict,
    label_value_errors,
    parse_field_selector,
    parse_label_selector,
    validate_label_selector_dict,
)

# --- string syntax ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("app=web", {"app": "web"}, True),
        ("app==web", {"app": "web"}, True),
        ("app=web", {"app": "db"}, False),
        ("app!=web", {"app": "db"}, True),
        ("app!=web", {}, True),  # absent key satisfies !=
        ("app in (web,db)", {"app": "db"}, True),
        ("app in (web,db)", {}, False),
        ("app notin (web)", {}, True),
        ("app notin (web)", {"app": "web"}, False),
        ("app", {"app": ""}, True),
        ("!app", {"app": "x"}, False),
        ("!app", {"other": "x"}, True),
        ("  app  =  web ,  tier in ( a , b ) ", {"app": "web", "tier": "b"}, True),
        ("app=web,tier=db", {"app": "web", "tier": "fe"}, False),
        ("n>3", {"n": "4"}, True),
        ("n<3", {"n": "x"}, False),
        ("app=", {"app": ""}, True),
        ("in in (in)", {"in": "in"}, True),
        ("example.com/app=web", {"example.com/app": "web"}, True),
    ],
)
def test_label_selector_matching(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_label_selector(text).matches(labels) is expected


def test_empty_selector_matches_everything() -> None:
    selector = parse_label_selector("   ")
    assert selector.empty
    assert selector.matches({}) and selector.matches({"a": "b"})
    assert not parse_label_selector("a").empty


def test_selector_string_is_canonical() -> None:
    assert str(parse_label_selector("z, x in (foo,,baz), !y")) == "x in (,baz,foo),!y,z"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("=a", "found '=', expected: !, identifier, or 'end of string'"),
        ("a,", "found '', expected: identifier after ','"),
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("a in b", "unable to parse requirement: found 'b' expected: '('"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("/a", 'unable to parse requirement: <nil>: Invalid value: "/a": prefix part must be non-empty'),
        ("a<x", 'unable to parse requirement: values[0]: Invalid value: "x": '
                "for 'Gt', 'Lt' operators, the value must be an integer"),
    ],
)
def test_label_selector_errors_use_kube_wording(text: str, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_label_selector(text)
    assert caught.value.message == message
    assert caught.value.status()["code"] == 400


def test_invalid_label_value_message() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_label_selector("app=we b")
    assert caught.value.message.startswith("found 'b'")
    with pytest.raises(BadRequest) as caught:
        parse_label_selector("app=b@")
    assert caught.value.message.startswith('unable to parse requirement: values[0][app]: Invalid value: "b@": ')
    assert "a valid label must be an empty string" in caught.value.message


def test_label_key_and_value_limits() -> None:
    assert label_key_errors("a" * 63) == []
    assert label_key_errors("a" * 64) == ["name part must be no more than 63 bytes"]
    assert label_key_errors("x" * 253 + "/a") == []  # kube checks the prefix's total length only
    assert label_key_errors("Example.com/a")[0].startswith("prefix part a lowercase RFC 1123 subdomain")
    assert label_key_errors("a" * 254 + "/b")[0] == "prefix part must be no more than 253 bytes"
    assert label_value_errors("") == []
    assert label_value_errors("v" * 64)[0] == "must be no more than 63 bytes"
    assert label_value_errors("-v") != []
    assert label_key_errors("a\n") != []


# --- API LabelSelector objects --------------------------------------------------------------------


def test_label_selector_from_dict() -> None:
    selector = label_selector_from_dict(
        {"matchLabels": {"app": "web"},
         "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe", "be"]},
                              {"key": "canary", "operator": "DoesNotExist"}]}
    )
    assert selector.matches({"app": "web", "tier": "fe"})
    assert not selector.matches({"app": "web", "tier": "fe", "canary": "1"})
    assert not selector.matches({"app": "web"})
    assert label_selector_from_dict({}).matches({"anything": "x"})
    assert not label_selector_from_dict(None).matches({})  # nil selector selects nothing


def test_label_selector_from_dict_rejects_bad_operator() -> None:
    with pytest.raises(BadRequest) as caught:
        label_selector_from_dict({"matchExpressions": [{"key": "a", "operator": "Has"}]})
    assert caught.value.message == '"Has" is not a valid label selector operator'
    with pytest.raises(BadRequest):
        label_selector_from_dict({"matchLabels": {"a": 1}})


def test_validate_label_selector_dict_reports_field_paths() -> None:
    causes = validate_label_selector_dict(
        {"matchLabels": {"ok": "-bad"},
         "matchExpressions": [{"key": "a", "operator": "Has"},
                              {"key": "b", "operator": "In"},
                              {"key": "c", "operator": "Exists", "values": ["x"]}]},
        "spec.selector",
    )
    fields = [(c.field, c.reason) for c in causes]
    assert ("spec.selector.matchLabels", "FieldValueInvalid") in fields
    assert ("spec.selector.matchExpressions[0].operator", "FieldValueInvalid") in fields
    assert ("spec.selector.matchExpressions[1].values", "FieldValueRequired") in fields
    assert ("spec.selector.matchExpressions[2].values", "FieldValueForbidden") in fields
    operator_cause = next(c for c in causes if c.field.endswith("operator"))
    assert operator_cause.message == 'Invalid value: "Has": not a valid selector operator'
    assert validate_label_selector_dict({"matchLabels": {"a": "b"}}, "spec.selector") == []
    assert validate_label_selector_dict(None, "spec.selector") == []


def test_format_helpers() -> None:
    assert format_labels({"b": "2", "a": "1"}) == "a=1,b=2"
    assert format_labels({}) == "<none>"
    assert format_label_selector({"matchLabels": {"app": "web"}}) == "app=web"
    assert format_label_selector({}) == "<none>"
    assert format_label_selector({"matchExpressions": [{"key": "a", "operator": "Bad"}]}) == "<error>"


# --- field selectors ------------------------------------------------------------------------------

POD = {
    "metadata": {"name": "web-1", "namespace": "team"},
    "spec": {"nodeName": "node-a", "restartPolicy": "Always"},
    "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.7"}]},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metadata.name=web-1", True),
        ("metadata.name==web-1,metadata.namespace=team", True),
        ("metadata.name!=web-1", False),
        ("spec.nodeName=node-a", True),
        ("spec.host=node-a", True),  # legacy alias
        ("spec.nodeName=", False),
        ("spec.hostNetwork=false", True),  # unset booleans read as false
        ("status.phase!=Succeeded", True),
        ("status.podIP=10.0.0.7", True),
        ("status.nominatedNodeName=", True),  # missing compares as ""
        ("", True),
    ],
)
def test_pod_field_selector(text: str, expected: bool) -> None:
    assert parse_field_selector(text, "Pod").matches(POD) is expected


def test_field_selectors_for_other_kinds() -> None:
    event = {"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "web-1"},
             "reason": "Started", "type": "Normal", "source": {"component": "kubelet"}}
    assert parse_field_selector("involvedObject.name=web-1,type=Normal", "Event").matches(event)
    assert parse_field_selector("source=kubelet", "Event").matches(event)
    new_event = {"metadata": {"name": "e"}, "regarding": {"kind": "Pod", "name": "web-1"},
                 "reportingController": "kubelet"}
    selector = parse_field_selector("regarding.name=web-1,reportingController=kubelet", "Event",
                                    group="events.k8s.io")
    assert selector.matches(new_event)
    assert parse_field_selector("type=kubernetes.io/tls", "Secret").matches({"type": "kubernetes.io/tls"})
    assert parse_field_selector("spec.unschedulable=false", "Node").matches({"spec": {}})
    assert parse_field_selector("status.successful=0", "Job", group="batch").matches({"status": {}})
    assert parse_field_selector("status.replicas=2", "ReplicaSet", group="apps").matches({"status": {"replicas": 2}})
    assert parse_field_selector("status.phase=Active", "Namespace").matches({"status": {"phase": "Active"}})


@pytest.mark.parametrize(
    ("text", "kind", "group", "message"),
    [
        ("spec.foo=x", "Pod", "", "field label not supported: spec.foo"),
        ("metadata.namespace=x", "Node", "", "field label not supported: metadata.namespace"),
        ("involvedObject.name=x", "Event", "events.k8s.io", "field label not supported: involvedObject.name"),
        ("spec.foo=x", "Widget", "example.com", "field label not supported: spec.foo"),
        ("data.x=1", "ConfigMap", "",
         '"data.x" is not a known field selector: only "metadata.name", "metadata.namespace"'),
        ("metadata.name", "Pod", "", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("metadata.name=a=b", "Pod", "", "invalid field selector: unescaped character in value: 61"),
        ("metadata.name=a\\x", "Pod", "", "invalid field selector: invalid escape sequence: \\x"),
    ],
)
def test_field_selector_errors(text: str, kind: str, group: str, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_field_selector(text, kind, group=group)
    assert caught.value.message == message


def test_field_selector_escapes_and_custom_fields() -> None:
    assert parse_field_selector(r"metadata.name=a\,b", "Pod").matches({"metadata": {"name": "a,b"}})
    selector = parse_field_selector("spec.color=red", "Widget", group="example.com",
                                    selectable_fields={"spec.color": lambda obj: obj["spec"]["color"]})
    assert selector.matches({"spec": {"color": "red"}})
    with pytest.raises(BadRequest):
        parse_field_selector("metadata.namespace=x", "Widget", group="example.com", namespaced=False)
    assert parse_field_selector("metadata.name=a", "Pod").exact_match("metadata.name") == "a"


# --- robustness -----------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab=!,() inotx/.-_\\\x00\t@1")) | st.characters(), max_size=40))
def test_label_selector_parser_never_crashes(text: str) -> None:
    try:
        selector = parse_label_selector(text)
    except APIError as failure:
        assert failure.code == 400
        return
    selector.matches({"a": "b", "in": "x"})
    # What parses prints back to something that parses to the same selector.
    assert parse_label_selector(str(selector)) == selector


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=40), st.sampled_from(["Pod", "Event", "Node", "Secret", "ConfigMap", "Widget"]))
def test_field_selector_parser_never_crashes(text: str, kind: str) -> None:
    try:
        selector = parse_field_selector(text, kind)
    except APIError as failure:
        assert failure.code == 400
        return
    selector.matches(POD)
    selector.matches({"metadata": "not an object", "spec": []})
