"""Taints and tolerations (orchestrator.api.taints): kube's ToleratesTaint and ValidateTolerations."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.api.errors import Invalid
from orchestrator.api.kinds import ResourceType
from orchestrator.api.schemas import schema_for
from orchestrator.api.taints import (
    Taint, Toleration, taints_of, toleration_causes, tolerations_of, untolerated_taint,
)
from orchestrator.api.validation import validate_object

GPU = Taint("nvidia.com/gpu", "present", "NoSchedule")


@pytest.mark.parametrize(("toleration", "taint", "tolerated"), [
    (Toleration("nvidia.com/gpu", "Exists"), GPU, True),
    (Toleration("nvidia.com/gpu", "Equal", "present"), GPU, True),
    (Toleration("nvidia.com/gpu", "Equal", "absent"), GPU, False),
    (Toleration("nvidia.com/gpu", "Equal", "present", "NoExecute"), GPU, False),
    (Toleration("nvidia.com/gpu", "Exists", "", "NoSchedule"), GPU, True),
    (Toleration("other", "Exists"), GPU, False),
    (Toleration("", "Exists"), GPU, True),  # an empty key with Exists tolerates every taint
    (Toleration("", "Exists", "", "NoExecute"), GPU, False),  # ... of its effect only
    (Toleration("k", "Equal", ""), Taint("k", "", "NoExecute"), True),
])
def test_tolerates_like_kube(toleration: Toleration, taint: Taint, tolerated: bool) -> None:
    assert toleration.tolerates(taint) is tolerated


def test_unknown_operator_tolerates_nothing() -> None:
    # The scheduler's and the DaemonSet controller's copies read an unknown operator as Equal;
    # kube's ToleratesTaint tolerates nothing with it (and validation refuses it).
    for operator in ("exists", "Gt", "Bogus"):
        assert not Toleration("nvidia.com/gpu", operator, "present").tolerates(GPU)


def test_empty_operator_means_equal() -> None:
    (read,) = tolerations_of([{"key": "nvidia.com/gpu", "value": "present"}])
    assert read.operator == "Equal" and read.tolerates(GPU)


def test_empty_key_with_equal_tolerates_nothing() -> None:
    assert not Toleration("", "Equal", "present").tolerates(GPU)


def test_toleration_seconds_are_read() -> None:
    (read,) = tolerations_of([{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                               "effect": "NoExecute", "tolerationSeconds": 300}])
    assert read.toleration_seconds == 300
    assert tolerations_of([{"key": "k", "tolerationSeconds": True}])[0].toleration_seconds is None


def test_untolerated_taint_ignores_prefer_no_schedule() -> None:
    taints = taints_of([{"key": "soft", "effect": "PreferNoSchedule"},
                        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}])
    assert untolerated_taint(taints, ()) == GPU
    assert untolerated_taint(taints, (Toleration("nvidia.com/gpu", "Exists"),)) is None
    assert untolerated_taint(taints_of("junk"), ()) is None


def causes(tolerations: Any) -> list[tuple[str, str]]:
    return [(c.field, c.message) for c in toleration_causes(tolerations, "spec.tolerations")]


@pytest.mark.parametrize(("toleration", "expected"), [
    ({"key": "k", "operator": "exists"},
     [("spec.tolerations[0].operator", 'Unsupported value: "exists": supported values: "Equal", "Exists"')]),
    ({"key": "k", "operator": "Exists", "effect": "NoWay"},
     [("spec.tolerations[0].effect",
       'Unsupported value: "NoWay": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"')]),
    ({"value": "v"},
     [("spec.tolerations[0].operator", 'Invalid value: "": operator must be Exists when `key` is '
                                       'empty, which means "match all values and all keys"')]),
    ({"key": "k", "operator": "Exists", "tolerationSeconds": 30},
     [("spec.tolerations[0].effect",
       "Invalid value: \"\": effect must be 'NoExecute' when `tolerationSeconds` is set")]),
    ({"key": "k", "operator": "Exists", "value": "v"},
     [("spec.tolerations[0].operator",
       'Invalid value: core.Toleration{Key:"k", Operator:"Exists", Value:"v", Effect:"", '
       "TolerationSeconds:(*int64)(nil)}: value must be empty when `operator` is 'Exists'")]),
    ({"key": "bad key", "operator": "Exists"},
     [("spec.tolerations[0].key",
       "Invalid value: \"bad key\": name part must consist of alphanumeric characters, '-', '_' or "
       "'.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',"
       "  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")]),
    ({"key": "k", "value": "no spaces"},
     [("spec.tolerations[0].operator",
       "Invalid value: \"no spaces\": a valid label must be an empty string or consist of "
       "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
       "character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
       "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")]),
])
def test_each_bad_toleration_gets_kubes_cause(toleration: dict[str, Any],
                                             expected: list[tuple[str, str]]) -> None:
    assert causes([toleration]) == expected


def test_good_tolerations_have_no_causes() -> None:
    assert causes([{"operator": "Exists"}, {"key": "k", "value": "v", "effect": "NoSchedule"},
                   {"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5},
                   "not an object"]) == []
    assert causes(None) == [] and causes("junk") == []


def test_a_pod_with_an_unknown_toleration_operator_is_a_422() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "x"}],
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "exists"}]}}
    rt = ResourceType(group="", version="v1", kind="Pod", plural="pods", singular="pod",
                      namespaced=True)
    with pytest.raises(Invalid) as caught:
        validate_object(pod, rt, schema_for("", "v1", "Pod"), field_validation="Strict")
    assert str(caught.value) == ('Pod "p" is invalid: spec.tolerations[0].operator: Unsupported '
                                 'value: "exists": supported values: "Equal", "Exists"')
