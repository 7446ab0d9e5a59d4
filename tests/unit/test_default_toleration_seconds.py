"""The DefaultTolerationSeconds admission plugin's rule, and the plugin in the chain."""

from __future__ import annotations

from typing import Any

from orchestrator.api.kinds import Registry
from orchestrator.server.admission import ORDERED_PLUGINS, Attributes, Operation, PluginContext
from orchestrator.server.admission.default_toleration_seconds import (
    NAME,
    DefaultTolerationSeconds,
    with_default_tolerations,
)

NOT_READY = {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": 300}
UNREACHABLE = dict(NOT_READY, key="node.kubernetes.io/unreachable")


def test_a_pod_without_tolerations_gets_both() -> None:
    assert with_default_tolerations([], 300, 300) == [NOT_READY, UNREACHABLE]


def test_existing_tolerations_are_kept_and_not_duplicated() -> None:
    own = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
           "tolerationSeconds": 5}
    assert with_default_tolerations([own], 300, 300) == [own, UNREACHABLE]
    # An empty key or effect tolerates every taint of that kind.
    assert with_default_tolerations([{"operator": "Exists"}], 300, 300) == [{"operator": "Exists"}]
    no_execute_for_all = {"operator": "Exists", "effect": "NoExecute"}
    assert with_default_tolerations([no_execute_for_all], 1, 2) == [no_execute_for_all]
    # A NoSchedule toleration does not cover the NoExecute taints.
    no_schedule = {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}
    assert with_default_tolerations([no_schedule], 300, 300) == \
        [no_schedule, NOT_READY, UNREACHABLE]


def _attrs(pod: dict[str, Any], subresource: str = "") -> Attributes:
    rt = Registry().lookup("", "v1", "pods")
    assert rt is not None
    return Attributes(rt, Operation.CREATE, "default", "p", pod, subresource=subresource)


def test_the_plugin_uses_its_configured_seconds_and_skips_subresources() -> None:
    # The plugin reads no cluster state: no store needed.
    plugin = DefaultTolerationSeconds(PluginContext(None, {NAME: {  # type: ignore[arg-type]
        "defaultNotReadyTolerationSeconds": 60, "defaultUnreachableTolerationSeconds": 120}}))
    pod: dict[str, Any] = {"spec": {"containers": []}}
    plugin.admit(_attrs(pod))
    assert [t["tolerationSeconds"] for t in pod["spec"]["tolerations"]] == [60, 120]
    status_write: dict[str, Any] = {"spec": {}}
    plugin.admit(_attrs(status_write, "status"))
    assert "tolerations" not in status_write["spec"]


def test_it_runs_after_priority_as_in_kube_apiserver() -> None:
    names = [name for name, _ in ORDERED_PLUGINS]
    assert names.index(NAME) == names.index("Priority") + 1
