"""The objects a cluster with metrics-server shows, for the metrics API this server serves.

- the APIService `v1beta1.metrics.k8s.io` (where the kind is served): as metrics-server's,
  but with no `spec.service`, since this API server answers the group itself. That is how
  kube-apiserver shows the groups it serves locally: Available, reason Local;
- the ClusterRole `system:aggregated-metrics-reader` that metrics-server installs,
  aggregated into view, edit and admin, so anyone who may read pods may `kubectl top` them.

No metrics-server Deployment, Service or ServiceAccount: no such process runs, and an object
naming one would send tools looking for it.
"""

from __future__ import annotations

from typing import Any

from orchestrator.api import errors, metrics
from orchestrator.api.meta import now_rfc3339
from orchestrator.server.objects import ObjectService, WriteOptions

READER_ROLE = "system:aggregated-metrics-reader"
_LABELS = {"k8s-app": "metrics-server"}
_NOTE = ("served by the API server itself from the node agents' /stats/summary (no "
         "metrics-server process runs)")


def reader_role() -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": READER_ROLE, "labels": {
                **_LABELS,
                "rbac.authorization.k8s.io/aggregate-to-view": "true",
                "rbac.authorization.k8s.io/aggregate-to-edit": "true",
                "rbac.authorization.k8s.io/aggregate-to-admin": "true"}},
            "rules": [{"apiGroups": [metrics.GROUP], "resources": ["pods", "nodes"],
                       "verbs": ["get", "list", "watch"]}]}


def api_service() -> dict[str, Any]:
    return {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": metrics.APISERVICE_NAME, "labels": dict(_LABELS),
                         "annotations": {"daskhub-lite.io/served-by": _NOTE}},
            "spec": {"group": metrics.GROUP, "version": metrics.VERSION,
                     "groupPriorityMinimum": 100, "versionPriority": 100}}


def ensure(service: ObjectService, opts: WriteOptions) -> None:
    """Create what is missing (idempotent). The ClusterRole first: the caller aggregates
    roles after this."""
    reg = service.registry
    roles = reg.lookup("rbac.authorization.k8s.io", "v1", "clusterroles")
    assert roles is not None
    if service.store.get(roles.key, "", READER_ROLE) is None:
        _create(service, roles, reader_role(), opts)
    apiservices = reg.lookup("apiregistration.k8s.io", "v1", "apiservices")
    if apiservices is None:
        return  # a server without the kind: the group is still in discovery
    current = service.store.get(apiservices.key, "", metrics.APISERVICE_NAME)
    if current is None:
        current = _create(service, apiservices, api_service(), opts)
    if current is not None and not _available(current):
        status = {"conditions": [{"type": "Available", "status": "True",
                                  "lastTransitionTime": now_rfc3339(), "reason": "Local",
                                  "message": "Local APIServices are always available"}]}
        service.update(apiservices, "", metrics.APISERVICE_NAME, {**current, "status": status},
                       opts, "status")


def _create(service: ObjectService, rt: Any, body: dict[str, Any], opts: WriteOptions
            ) -> dict[str, Any] | None:
    try:
        return dict(service.create(rt, "", body, opts).obj)
    except errors.AlreadyExists:
        return service.store.get(rt.key, "", body["metadata"]["name"])


def _available(apiservice: dict[str, Any]) -> bool:
    return any(c.get("type") == "Available" and c.get("status") == "True"
               for c in (apiservice.get("status") or {}).get("conditions") or [])
