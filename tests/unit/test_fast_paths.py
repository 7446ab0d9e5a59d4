"""The fast paths of the write path give exactly what the slow ones gave: orjson encoding
and copying, and the memos of validation, pruning and managedFields for repeated specs."""

from __future__ import annotations

import copy
import json
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.api import jsonio
from orchestrator.api.apply import encode_fields, record_update
from orchestrator.api.errors import BadRequest, Invalid
from orchestrator.api.jsoncopy import json_copy
from orchestrator.api.kinds import BUILTIN_TYPES
from orchestrator.api.schemas import schema_for
from orchestrator.api.validation import prune, validate_object

POD = next(rt for rt in BUILTIN_TYPES if rt.group == "" and rt.plural == "pods")
SCHEMA = schema_for("", "v1", "Pod")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_jsonio_round_trips_what_the_standard_library_reads(value: Any) -> None:
    assert json.loads(jsonio.dumps(value)) == value
    assert jsonio.loads(json.dumps(value)) == value


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(), json_values, max_size=5))
def test_json_copy_is_equal_and_shares_no_container(value: dict[str, Any]) -> None:
    before = copy.deepcopy(value)
    copied = json_copy(value)
    assert copied == value
    for inner in list(copied.values()):
        if isinstance(inner, (dict, list)):
            inner.clear()
    copied.clear()
    assert value == before


def test_jsonio_writes_integers_beyond_64_bits_the_slow_way() -> None:
    assert json.loads(jsonio.dumps({"n": 2**70})) == {"n": 2**70}
    assert jsonio.dumps({"name": "é"}) == '{"name":"é"}'.encode()


def test_jsonio_refuses_malformed_text_with_a_value_error() -> None:
    with pytest.raises(ValueError):
        jsonio.loads(b'{"a": ')


def test_json_copy_keeps_what_is_not_plain_json() -> None:
    when = datetime(2030, 1, 1, tzinfo=timezone.utc)
    ordered = OrderedDict(a=1)
    value = {"when": when, "big": 2**70, "ordered": ordered, "nested": [{"x": [1, 2]}]}
    copied = json_copy(value)
    assert copied == value
    assert copied["when"] is when  # scalars are shared, not turned into text
    assert type(copied["ordered"]) is OrderedDict and copied["ordered"] is not ordered
    assert copied["nested"][0] is not value["nested"][0]


def pod(name: str, **container: Any) -> dict[str, Any]:
    spec_container = {"name": "c", "image": "x", "command": ["sleep", "1"]}
    spec_container.update(container)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [spec_container]}}


def check(obj: dict[str, Any], mode: str = "Warn") -> list[str]:
    return validate_object(obj, POD, SCHEMA, field_validation=mode)


def test_a_remembered_clean_spec_still_lets_every_other_problem_through() -> None:
    assert check(pod("a")) == []
    assert check(pod("b")) == []  # the same spec: taken from the memo
    # The same spec beside bad metadata: metadata is never remembered.
    bad = pod("Not_A_Name")
    with pytest.raises(Invalid) as caught:
        check(bad)
    assert [c.field for c in caught.value.causes] == ["metadata.name"]


def test_a_spec_with_problems_is_reported_every_time() -> None:
    unknown = pod("a", colour="blue")
    for _ in range(2):
        assert check(copy.deepcopy(unknown)) == ['unknown field "spec.containers[0].colour"']
        with pytest.raises(BadRequest, match="strict decoding error"):
            check(copy.deepcopy(unknown), "Strict")
    missing = pod("a")
    missing["spec"]["containers"][0]["name"] = ""
    for _ in range(2):
        with pytest.raises(Invalid, match="spec.containers\\[0\\].name"):
            check(copy.deepcopy(missing))


def test_pruned_specs_are_fresh_copies_each_time() -> None:
    first = prune(pod("a", colour="blue"), SCHEMA)
    assert "colour" not in first["spec"]["containers"][0]
    first["spec"]["containers"][0]["image"] = "changed"
    second = prune(pod("b", colour="blue"), SCHEMA)
    assert second["spec"]["containers"][0]["image"] == "x"
    assert second["metadata"] == {"name": "b"}


def test_managed_fields_of_equal_specs_are_equal_and_independent() -> None:
    def create(name: str) -> dict[str, Any]:
        return record_update(None, pod(name), manager="m", api_version="v1",
                             now="2030-01-01T00:00:00Z", schema=SCHEMA)

    first, second = create("a"), create("b")
    fields = first["metadata"]["managedFields"][0]["fieldsV1"]
    assert fields == second["metadata"]["managedFields"][0]["fieldsV1"]
    assert 'k:{"name":"c"}' in fields["f:spec"]["f:containers"]
    fields["f:spec"].clear()
    assert create("c")["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]
    # An update then takes the changed field for its own manager, memo or not.
    changed = copy.deepcopy(second)
    changed["spec"]["containers"][0]["image"] = "y"
    updated = record_update(second, changed, manager="other", api_version="v1",
                            now="2030-01-02T00:00:00Z", schema=SCHEMA)
    owners = {e["manager"]: e["fieldsV1"] for e in updated["metadata"]["managedFields"]}
    assert owners["other"] == {"f:spec": {"f:containers": {'k:{"name":"c"}': {"f:image": {}}}}}
    assert "f:image" not in json.dumps(owners["m"])


def test_encode_fields_gives_equal_trees_that_are_not_shared() -> None:
    paths = {("f:spec", "f:replicas"), ("f:metadata", "f:labels", "f:app")}
    a, b = encode_fields(paths), encode_fields(set(paths))
    assert a == b == {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:replicas": {}}}
    a["f:spec"]["f:other"] = {}
    assert "f:other" not in b["f:spec"]
