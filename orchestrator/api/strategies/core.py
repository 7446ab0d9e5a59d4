"""Strategies of the core group (`/api/v1`): kube's pkg/registry/core/<kind>."""

from __future__ import annotations

from orchestrator.api import defaults, validation, validation_quota
from orchestrator.api import field_selectors as fields
from orchestrator.api import table_cluster as cluster
from orchestrator.api import table_resources as resources
from orchestrator.api import table_workloads as workloads
from orchestrator.api.quota import pods as pod_quota
from orchestrator.api.resource_type import NO_COLLECTION_VERBS
from orchestrator.api.strategy import ALL, Context, Obj, Strategy


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
    "", "Pod", "pods", short_names=("po",), categories=ALL,
    subresources=("status", "log", "binding", "eviction", "exec", "portforward", "attach",
                  "ephemeralcontainers", "resize"),
    defaults=defaults.pod,
    validate=validation.pod_causes,
    printer=workloads.POD,
    fields=fields.POD_FIELDS,
    returns_deleted_object=True,
    field_labels=fields.POD_LABELS,
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
    "", "Service", "services", short_names=("svc",), categories=ALL,
    subresources=("status", "proxy"),
    defaults=defaults.service,
    validate=validation.service_causes,
    # ServicePort.port is optional on the wire; validation reports 0 as out of range.
    required_checked_here=frozenset({("io.k8s.api.core.v1.ServicePort", "port")}),
    printer=resources.SERVICE,
    name_rule="dns1035-label",  # stricter than RFC 1123: a DNS-1035 label
    fields=fields.SERVICE_FIELDS,
    returns_deleted_object=True,
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
    "", "Namespace", "namespaces", namespaced=False, short_names=("ns",),
    verbs=NO_COLLECTION_VERBS, subresources=("status", "finalize"),
    defaults=defaults.namespace,
    printer=resources.NAMESPACE,
    name_rule="dns1123-label",
    fields=fields.NAMESPACE_FIELDS,
    returns_deleted_object=True,
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
    Strategy("", "Endpoints", "endpoints", short_names=("ep",), defaults=defaults.endpoints,
             printer=resources.ENDPOINTS),
    Strategy("", "ConfigMap", "configmaps", short_names=("cm",),
             validate=validation.config_map_causes,
             printer=resources.CONFIG_MAP),
    Strategy("", "Secret", "secrets", defaults=defaults.secret,
             validate=validation.secret_causes, printer=resources.SECRET,
             fields=fields.SECRET_FIELDS),
    Strategy("", "ServiceAccount", "serviceaccounts", short_names=("sa",), subresources=("token",),
             printer=resources.SERVICE_ACCOUNT,
             returns_deleted_object=True),
    Strategy("", "Event", "events", short_names=("ev",), printer=resources.EVENT,
             fields=fields.EVENT_FIELDS),
    # Kubelets register their node with its capacity in one create.
    Strategy("", "Node", "nodes", namespaced=False, short_names=("no",),
             subresources=("status", "proxy"), keeps_status_on_create=True, printer=resources.NODE,
             fields=fields.NODE_FIELDS),
    Strategy("", "PersistentVolumeClaim", "persistentvolumeclaims", short_names=("pvc",),
             subresources=("status",),
             defaults=defaults.persistent_volume_claim, initial_status={"phase": "Pending"},
             printer=resources.PERSISTENT_VOLUME_CLAIM, returns_deleted_object=True),
    Strategy("", "PersistentVolume", "persistentvolumes", namespaced=False, short_names=("pv",),
             subresources=("status",), defaults=defaults.persistent_volume,
             initial_status={"phase": "Pending"}, returns_deleted_object=True),
    Strategy("", "LimitRange", "limitranges", short_names=("limits",),
             defaults=defaults.limit_range,
             validate=validation_quota.limit_range_causes),
    Strategy("", "ResourceQuota", "resourcequotas", short_names=("quota",),
             subresources=("status",), validate=validation_quota.quota_causes,
             printer=resources.RESOURCE_QUOTA, returns_deleted_object=True),
    Strategy("", "ReplicationController", "replicationcontrollers", short_names=("rc",),
             categories=ALL, subresources=("status", "scale"),
             defaults=defaults.replication_controller, initial_status={"replicas": 0},
             fields=fields.REPLICAS_FIELDS),
    Strategy("", "PodTemplate", "podtemplates", defaults=defaults.pod_template,
             printer=cluster.POD_TEMPLATE, returns_deleted_object=True),
)
