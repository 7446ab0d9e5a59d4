"""The LimitRanger admission plugin (kube's plugin/pkg/admission/limitranger), mutating and
validating: a new pod's containers get the namespace's LimitRange defaults for what they omit
(annotated `kubernetes.io/limit-ranger`), then the pod (or a PersistentVolumeClaim) is checked
against each LimitRange's min, max and maxLimitRequestRatio and refused with kube's message
(`pods "x" is forbidden: minimum cpu usage per Container is 100m, but request is 50m`).

Pods are admitted on create only: their containers' resources cannot change afterwards.
Objects being deleted are left alone.
"""

from __future__ import annotations

from typing import Any

from orchestrator.api import errors, limitrange
from orchestrator.api.quantity import QuantityError
from orchestrator.server.admission.interfaces import Attributes, Operation, PluginContext

NAME = "LimitRanger"
LIMIT_RANGES = "/limitranges"
PODS, CLAIMS = "/pods", "/persistentvolumeclaims"


class LimitRanger:
    name = NAME
    resources: frozenset[str] | None = frozenset({PODS, CLAIMS})
    operations = frozenset({Operation.CREATE, Operation.UPDATE})

    def __init__(self, ctx: PluginContext) -> None:
        self.store = ctx.store

    def _ranges(self, attrs: Attributes) -> list[dict[str, Any]]:
        if attrs.obj is None or attrs.subresource or not attrs.namespace:
            return []
        if attrs.resource.key == PODS and attrs.operation != Operation.CREATE:
            return []
        if attrs.old is not None and (attrs.old.get("metadata") or {}).get("deletionTimestamp"):
            return []
        return self.store.objects(LIMIT_RANGES, attrs.namespace)

    def admit(self, attrs: Attributes) -> None:
        if attrs.resource.key != PODS:
            return  # claims are never defaulted: their size is theirs to say
        for limit_range in self._ranges(attrs):
            assert attrs.obj is not None
            limitrange.apply_defaults(limit_range, attrs.obj)

    def validate(self, attrs: Attributes) -> None:
        for limit_range in self._ranges(attrs):
            assert attrs.obj is not None
            try:
                if attrs.resource.key == PODS:
                    problems = limitrange.pod_problems(limit_range, attrs.obj)
                else:
                    problems = limitrange.claim_problems(limit_range, attrs.obj)
            except QuantityError as exc:  # only a LimitRange stored before validation could
                problems = [str(exc)]
            if problems:
                rt = attrs.resource
                raise errors.Forbidden(
                    f'{rt.group_resource} "{attrs.name}" is forbidden: '
                    f"{limitrange.aggregate(problems)}", name=attrs.name, kind=rt.plural)
