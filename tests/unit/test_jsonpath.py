"""The JSONPath subset used by printer columns and selectable fields."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.api.errors import APIError
from orchestrator.api.jsonpath import JSONPathError, compile_jsonpath, find_all, go_text

DOC: dict[str, Any] = {
    "metadata": {"name": "web", "labels": {"app": "web", "app.kubernetes.io/name": "shop"}},
    "spec": {"replicas": 3, "containers": [{"name": "a", "image": "img:1"}, {"name": "b", "image": "img:2"}]},
    "status": {"conditions": [{"type": "Ready", "status": "True", "n": 2},
                              {"type": "Synced", "status": "False", "n": 5}]},
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (".metadata.name", ["web"]),
        ("{.metadata.name}", ["web"]),
        ("{$.metadata.name}", ["web"]),
        ("metadata.name", ["web"]),
        (".metadata.labels.app", ["web"]),
        (r".metadata.labels.app\.kubernetes\.io/name", ["shop"]),
        (".metadata.labels['app.kubernetes.io/name']", ["shop"]),
        (".spec.containers[0].image", ["img:1"]),
        (".spec.containers[-1].name", ["b"]),
        (".spec.containers[*].name", ["a", "b"]),
        (".spec.containers[0:1].name", ["a"]),
        (".spec.containers[5].name", []),
        (".spec.containers[*]['name','image']", ["a", "img:1", "b", "img:2"]),
        (".status.conditions[?(@.type==\"Ready\")].status", ["True"]),
        (".status.conditions[?(@.type=='Synced')].status", ["False"]),
        (".status.conditions[?(@.status != 'True')].type", ["Synced"]),
        (".status.conditions[?(@.n > 3)].type", ["Synced"]),
        (".status.conditions[?(@.n<=2)].type", ["Ready"]),
        (".status.conditions[?(@.missing)].type", []),
        ("..image", ["img:1", "img:2"]),
        (".spec.replicas", [3]),
        (".nothing.here", []),
        (".", [DOC]),
    ],
)
def test_find_all(expression: str, expected: list[Any]) -> None:
    assert find_all(expression, DOC) == expected


@pytest.mark.parametrize("expression", [".a[", "{.a", ".a[?x]", ".a[1:2:3:4]", ".a[x]", ".a.", ".a[?(@.b == )]"])
def test_malformed_expressions_raise(expression: str) -> None:
    with pytest.raises(JSONPathError) as caught:
        compile_jsonpath(expression).find(DOC)
    assert caught.value.code == 400


def test_first_and_reuse() -> None:
    path = compile_jsonpath(".spec.containers[*].name")
    assert path.first(DOC) == "a"
    assert path.first({}, default="none") == "none"
    assert path.find({"spec": {"containers": "not a list"}}) == []


@pytest.mark.parametrize(
    ("value", "text"),
    [("s", "s"), (3, "3"), (2.0, "2"), (1.5, "1.5"), (1e6, "1e+06"), (123456.0, "123456"),
     (0.00001, "1e-05"), (True, "true"), (None, "<nil>"), ({"b": 1, "a": [1, "x"]}, "map[a:[1 x] b:1]")],
)
def test_go_text(value: Any, text: str) -> None:
    assert go_text(value) == text


@given(st.text(max_size=30))
def test_arbitrary_expressions_only_raise_api_errors(expression: str) -> None:
    try:
        compile_jsonpath(expression).find(DOC)
    except APIError:
        pass
