"""The Priority admission plugin (kube's plugin/pkg/admission/priority): a new pod gets
`spec.priority` (and `preemptionPolicy`) from its PriorityClass, or from the class marked
`globalDefault`; naming a class that does not exist is forbidden."""

from __future__ import annotations

from typing import Any

from orchestrator.api import errors
from orchestrator.server.admission.interfaces import Attributes, Operation, PluginContext

NAME = "Priority"
PRIORITY_CLASSES = "scheduling.k8s.io/priorityclasses"
# Classes every cluster has (kube-apiserver creates them at start-up).
SYSTEM_PRIORITY_CLASSES = {"system-node-critical": 2000001000,
                           "system-cluster-critical": 2000000000}


class Priority:
    name = NAME
    resources: frozenset[str] | None = frozenset({"/pods"})
    operations = frozenset({Operation.CREATE})

    def __init__(self, ctx: PluginContext) -> None:
        self.store = ctx.store

    def admit(self, attrs: Attributes) -> None:
        pod = attrs.obj
        if pod is None or attrs.subresource:
            return
        spec = pod.setdefault("spec", {})
        wanted = spec.get("priorityClassName")
        classes: dict[str, dict[str, Any]] = {
            pc["metadata"]["name"]: pc for pc in self.store.objects(PRIORITY_CLASSES)}
        for name, value in SYSTEM_PRIORITY_CLASSES.items():
            classes.setdefault(name, {"metadata": {"name": name}, "value": value})
        if wanted:
            chosen = classes.get(wanted)
            if chosen is None:
                raise errors.Forbidden(
                    f'pods "{attrs.name}" is forbidden: no PriorityClass with name {wanted} '
                    "was found", name=attrs.name, kind="pods")
        else:
            defaults = [pc for pc in classes.values() if pc.get("globalDefault")]
            if not defaults:
                return
            chosen = min(defaults,
                         key=lambda pc: (int(pc.get("value", 0)), pc["metadata"]["name"]))
            spec["priorityClassName"] = chosen["metadata"]["name"]
        spec["priority"] = int(chosen.get("value", 0))
        if chosen.get("preemptionPolicy"):
            spec["preemptionPolicy"] = chosen["preemptionPolicy"]
