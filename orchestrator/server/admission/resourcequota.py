"""The ResourceQuota admission plugin (kube's plugin/pkg/admission/resourcequota): a create
(or an update that adds usage) in a namespace with quotas is checked against each quota's
`status.hard` and `status.used`, and refused with kube's message
(`pods "x" is forbidden: exceeded quota: gpus, requested: requests.nvidia.com/gpu=1, used:
requests.nvidia.com/gpu=1, limited: requests.nvidia.com/gpu=1`).

The charge is recorded at admission, as kube-apiserver does: the quotas' new `status.used`
goes into `attrs.commit_with`, which the object service commits in the same store
transaction as the object. The verb runs on the event loop without awaiting between this
check and that commit, so two racing creates see each other's charge; a request refused by
anything after this plugin, or a dry run, charges nothing. The quota controller recounts
later (released usage: deleted or finished pods).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from orchestrator.api import errors
from orchestrator.api.quota import amounts
from orchestrator.api.quota.check import QuotaRefused, check_request
from orchestrator.api.quota.evaluators import IGNORED, evaluator_for
from orchestrator.server.admission.interfaces import Attributes, Operation, PluginContext
from orchestrator.store import Change

NAME = "ResourceQuota"
QUOTAS = "/resourcequotas"


class ResourceQuota:
    name = NAME
    resources: frozenset[str] | None = None  # every namespaced kind: object counts
    operations = frozenset({Operation.CREATE, Operation.UPDATE})

    def __init__(self, ctx: PluginContext,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.store = ctx.store
        self.clock = clock

    def validate(self, attrs: Attributes) -> None:
        obj = attrs.obj
        if obj is None or attrs.subresource or not attrs.namespace:
            return
        quotas = self.store.objects(QUOTAS, attrs.namespace)
        if not quotas:
            return  # the common case: one dict lookup
        rt = attrs.resource
        evaluator = evaluator_for(rt.group_resource)
        if rt.group_resource in IGNORED:
            return
        if attrs.operation == Operation.UPDATE:
            if attrs.old is None or not evaluator.handles_update(obj, attrs.old):
                return
        try:
            charges = check_request(quotas, evaluator, attrs.operation.value, obj, attrs.old,
                                    self.clock())
        except QuotaRefused as refused:
            raise errors.Forbidden(f'{rt.group_resource} "{attrs.name}" is forbidden: '
                                   f"{refused}", name=attrs.name, group=rt.group,
                                   kind=rt.plural) from None
        if attrs.dry_run:
            return
        for charge in charges:
            attrs.commit_with.append(Change(QUOTAS, attrs.namespace,
                                            charge.quota["metadata"]["name"],
                                            _with_used(charge.quota, charge.used)))


def _with_used(quota: Mapping[str, Any], used: amounts.ResourceList) -> dict[str, Any]:
    status = dict(quota.get("status") or {})
    status["used"] = amounts.render(used)
    return {**quota, "metadata": dict(quota["metadata"]), "status": status}
