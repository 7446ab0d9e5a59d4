"""Strategies of the core group (`/api/v1`): kube's pkg/registry/core/<kind>."""

from __future__ import annotations

from orchestrator.api.quota import pods as pod_quota
from orchestrator.api.strategy import Context, Obj, Strategy


# --- pods -------------------------------------------------------------------------------
def _prepare_pod(pod: Obj, ctx: Context) -> None:
    status = pod.setdefault("status", {})
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", pod_quota.qos_class(pod))


def _pod_grace_period(pod: Obj, requested: int | None, ctx: Context) -> int:
    """Pods on a node get a grace period for their kubelet; every other pod goes now."""
    node = (pod.get("spec") or {}).get("nodeName")
    if not node or ctx.get("/nodes", "", node) is None:
        return 0
    if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
        return 0
    if requested is not None:
        return max(0, requested)
    return int((pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))


POD = Strategy(
    "", "Pod", "pods",
    prepare_for_create=_prepare_pod,
    grace_period=_pod_grace_period,
)


# --- services ---------------------------------------------------------------------------
def _prepare_service(service: Obj, ctx: Context) -> None:
    ctx.assign_cluster_ip(service)


def _begin_service_update(merged: Obj, current: Obj, subresource: str, ctx: Context) -> None:
    if subresource != "status":
        ctx.keep_cluster_ip(merged, current)


SERVICE = Strategy(
    "", "Service", "services",
    initial_status={"loadBalancer": {}},
    prepare_for_create=_prepare_service,
    begin_update=_begin_service_update,
)


# --- namespaces -------------------------------------------------------------------------
def _namespace_finalizers(namespace: Obj) -> list[str]:
    return list((namespace.get("spec") or {}).get("finalizers") or [])


def _mark_terminating(namespace: Obj) -> None:
    namespace.setdefault("status", {})["phase"] = "Terminating"


def _finalize(namespace: Obj, ctx: Context) -> None:
    ctx.finalize_namespace(namespace["metadata"]["name"])


NAMESPACE = Strategy(
    "", "Namespace", "namespaces",
    keeps_status_on_create=True,
    delete_finalizers=_namespace_finalizers,
    prepare_for_delete=_mark_terminating,
    after_mark_deleted=_finalize,
)

# --- the rest ---------------------------------------------------------------------------
STRATEGIES: tuple[Strategy, ...] = (
    NAMESPACE,
    POD,
    SERVICE,
    Strategy("", "Endpoints", "endpoints"),
    Strategy("", "ConfigMap", "configmaps"),
    Strategy("", "Secret", "secrets"),
    Strategy("", "ServiceAccount", "serviceaccounts"),
    Strategy("", "Event", "events"),
    # Kubelets register their node with its capacity in one create.
    Strategy("", "Node", "nodes", keeps_status_on_create=True),
    Strategy("", "PersistentVolumeClaim", "persistentvolumeclaims",
             initial_status={"phase": "Pending"}),
    Strategy("", "PersistentVolume", "persistentvolumes", initial_status={"phase": "Pending"}),
    Strategy("", "LimitRange", "limitranges"),
    Strategy("", "ResourceQuota", "resourcequotas"),
    Strategy("", "ReplicationController", "replicationcontrollers",
             initial_status={"replicas": 0}),
    Strategy("", "PodTemplate", "podtemplates"),
)
