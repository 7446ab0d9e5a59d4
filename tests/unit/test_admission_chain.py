"""The admission chain: plugin order, the mutating phase before the validating one, and which
plugins a (resource, operation) reaches."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.api import errors
from orchestrator.api.kinds import Registry
from orchestrator.server.admission import ORDERED_PLUGINS, Attributes, Chain, Operation
from orchestrator.server.admission.priority import NAME as PRIORITY

PODS = Registry().lookup("", "v1", "pods")
CONFIGMAPS = Registry().lookup("", "v1", "configmaps")


class Recorder:
    """A plugin that notes each call in a shared journal."""

    def __init__(self, name: str, journal: list[str], resources: frozenset[str] | None,
                 operations: frozenset[Operation], mutating: bool, validating: bool) -> None:
        self.name = name
        self.resources = resources
        self.operations = operations
        self.journal = journal
        if mutating:
            self.admit = self._admit
        if validating:
            self.validate = self._validate

    def _admit(self, attrs: Attributes) -> None:
        self.journal.append(f"admit:{self.name}")

    def _validate(self, attrs: Attributes) -> None:
        self.journal.append(f"validate:{self.name}")


class Mutator:
    name = "Mutator"
    resources = frozenset({"/pods"})
    operations = frozenset({Operation.CREATE})

    def admit(self, attrs: Attributes) -> None:
        assert attrs.obj is not None
        attrs.obj.setdefault("metadata", {}).setdefault("labels", {})["admitted"] = "yes"


class Rejecter:
    name = "Rejecter"
    resources = None
    operations = frozenset({Operation.CREATE})

    def validate(self, attrs: Attributes) -> None:
        raise errors.Forbidden(f'{attrs.resource.plural} "{attrs.name}" is forbidden: no')


def _attrs(rt: Any, op: Operation = Operation.CREATE) -> Attributes:
    return Attributes(rt, op, "default", "x", {"metadata": {"name": "x"}})


def test_mutating_plugins_run_in_order_then_validating_in_order() -> None:
    journal: list[str] = []
    every = frozenset(Operation)
    chain = Chain([Recorder("A", journal, None, every, True, True),
                   Recorder("B", journal, None, every, False, True),
                   Recorder("C", journal, None, every, True, False)])
    attrs = _attrs(PODS)
    chain.admit(attrs)
    chain.validate(attrs)
    assert journal == ["admit:A", "admit:C", "validate:A", "validate:B"]


def test_plugins_see_only_their_resources_and_operations() -> None:
    journal: list[str] = []
    chain = Chain([Recorder("pods-create", journal, frozenset({"/pods"}),
                            frozenset({Operation.CREATE}), True, True)])
    assert chain.handles("/pods", Operation.CREATE)
    assert not chain.handles("/pods", Operation.DELETE)
    assert not chain.handles("/configmaps", Operation.CREATE)
    chain.admit(_attrs(CONFIGMAPS))
    chain.admit(_attrs(PODS, Operation.UPDATE))
    assert journal == []
    chain.admit(_attrs(PODS))
    assert journal == ["admit:pods-create"]


def test_a_mutation_changes_the_object_and_an_error_rejects() -> None:
    chain = Chain([Mutator(), Rejecter()])
    attrs = _attrs(PODS)
    chain.admit(attrs)
    assert attrs.obj is not None and attrs.obj["metadata"]["labels"] == {"admitted": "yes"}
    with pytest.raises(errors.Forbidden, match='pods "x" is forbidden: no'):
        chain.validate(attrs)


def test_priority_is_registered() -> None:
    assert PRIORITY in [name for name, _ in ORDERED_PLUGINS]


def test_limit_ranger_first_and_resource_quota_after_the_other_admission_plugins() -> None:
    """kube-apiserver's order: LimitRanger's defaults are in place before anything checks
    the pod, and ResourceQuota charges only what every other plugin let through."""
    names = [name for name, _ in ORDERED_PLUGINS]
    assert names[0] == "LimitRanger"
    assert names.index("ResourceQuota") > names.index(PRIORITY)
    assert names[names.index("ResourceQuota") + 1:] == ["RBACEscalation"]
