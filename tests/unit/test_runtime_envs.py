"""Env building as the kubelet does it: expansion, valueFrom, envFrom, errors."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from orchestrator.runtime.envs import ConfigError, build_env, expand

OBJECTS: dict[tuple[str, str], dict[str, Any]] = {
    ("ConfigMap", "cm"): {"data": {"a": "1", "b": "2"}},
    ("Secret", "s"): {"data": {"pw": base64.b64encode(b"hunter2").decode()}},
}
POD = {"metadata": {"name": "p", "namespace": "ns", "labels": {"app": "x"}},
       "spec": {"nodeName": "n"}, "status": {"podIP": "10.0.0.1"}}


async def lookup(kind: str, name: str) -> dict[str, Any] | None:
    return OBJECTS.get((kind, name))


def run(container: dict[str, Any]) -> dict[str, str]:
    return asyncio.run(build_env(POD, container, lookup, {"BASE": "b"}, {"cpu": "4"}))


def test_expand() -> None:
    env = {"A": "x"}
    assert expand("$(A)-$(B)-$$(A)-$", env) == "x-$(B)-$(A)-$"


def test_env_from_then_env_with_references() -> None:
    env = run({"envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "P_"},
                           {"secretRef": {"name": "s"}}],
               "env": [{"name": "X", "value": "$(P_a)/$(BASE)"},
                       {"name": "L", "valueFrom": {"fieldRef": {
                           "fieldPath": "metadata.labels['app']"}}},
                       {"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                       {"name": "C", "valueFrom": {"resourceFieldRef": {
                           "resource": "limits.cpu"}}}]})
    assert env["P_a"] == "1" and env["pw"] == "hunter2"
    assert (env["X"], env["L"], env["N"], env["C"]) == ("1/b", "x", "n", "4")


@pytest.mark.parametrize("entry, message", [
    ({"configMapKeyRef": {"name": "cm", "key": "zz"}}, "couldn't find key zz in ConfigMap ns/cm"),
    ({"secretKeyRef": {"name": "s", "key": "zz"}}, "couldn't find key zz in Secret ns/s"),
    ({"configMapKeyRef": {"name": "none", "key": "a"}}, 'configmap "none" not found'),
])
def test_missing_references(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run({"env": [{"name": "V", "valueFrom": entry}]})


def test_optional_references_are_skipped() -> None:
    env = run({"env": [{"name": "V", "valueFrom": {"configMapKeyRef": {
        "name": "none", "key": "a", "optional": True}}}],
        "envFrom": [{"secretRef": {"name": "nope", "optional": True}}]})
    assert "V" not in env
