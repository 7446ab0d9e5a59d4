"""Server-side defaults of the built-in kinds.

The values follow kube-apiserver: `pkg/apis/*/v1/defaults.go`, plus the few fields its
create strategies and admission plugins fill in that clients rely on (a Namespace's
`kubernetes` finalizer, a Job's generated selector, a Pod's service account). Defaults only
fill what is missing; they never overwrite what the user sent.
"""

from __future__ import annotations

from typing import Any

from orchestrator.api.resource_type import ResourceType
from orchestrator.api.schema_defaults import apply_schema_defaults

JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
LEGACY_JOB_UID_LABEL = "controller-uid"
LEGACY_JOB_NAME_LABEL = "job-name"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"

Obj = dict[str, Any]


def _child(obj: Obj, key: str) -> Obj:
    """`obj[key]` as a dict, created when missing or null (a non-dict is left alone)."""
    value = obj.get(key)
    if value is None:
        value = {}
        obj[key] = value
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[Obj]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _set(obj: Obj, key: str, value: Any) -> None:
    if obj.get(key) is None:
        obj[key] = value


# --- pods -------------------------------------------------------------------------------
def image_pull_policy(image: Any) -> str:
    """Always for `:latest` or an untagged image; IfNotPresent for a tag or a digest."""
    if not isinstance(image, str) or not image or "@" in image:
        return "IfNotPresent"  # no parsable tag: the server does not assume :latest
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "IfNotPresent" if tag and tag != "latest" else "Always"


def _probe_defaults(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    _set(probe, "timeoutSeconds", 1)
    _set(probe, "periodSeconds", 10)
    _set(probe, "successThreshold", 1)
    _set(probe, "failureThreshold", 3)
    _http_get_defaults(probe.get("httpGet"))


def _http_get_defaults(action: Any) -> None:
    if isinstance(action, dict):
        _set(action, "path", "/")
        _set(action, "scheme", "HTTP")


def _container_defaults(container: Obj) -> None:
    _set(container, "imagePullPolicy", image_pull_policy(container.get("image")))
    _set(container, "terminationMessagePath", "/dev/termination-log")
    _set(container, "terminationMessagePolicy", "File")
    _set(container, "resources", {})
    for port in _dicts(container.get("ports")):
        _set(port, "protocol", "TCP")
    for env in _dicts(container.get("env")):
        field_ref = _dig_list(env, "valueFrom", "fieldRef")
        if isinstance(field_ref, dict):
            _set(field_ref, "apiVersion", "v1")
    for name in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe_defaults(container.get(name))
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in ("postStart", "preStop"):
            handler = lifecycle.get(hook)
            if isinstance(handler, dict):
                _http_get_defaults(handler.get("httpGet"))


def _volume_defaults(volume: Obj) -> None:
    sources = [k for k in volume if k != "name"]
    if not sources:
        volume["emptyDir"] = {}  # a volume without a source is an emptyDir
    for source in ("configMap", "secret", "downwardAPI", "projected"):
        spec = volume.get(source)
        if isinstance(spec, dict):
            _set(spec, "defaultMode", 420)  # 0644
    for item in _dicts(_dig_list(volume, "downwardAPI", "items")):
        if isinstance(item.get("fieldRef"), dict):
            _set(item["fieldRef"], "apiVersion", "v1")


def _dig_list(obj: Obj, *keys: str) -> Any:
    value: Any = obj
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def pod_spec_defaults(spec: Obj) -> None:
    """What every pod spec gets, in a Pod or in a workload's template."""
    _set(spec, "restartPolicy", "Always")
    _set(spec, "dnsPolicy", "ClusterFirst")
    _set(spec, "schedulerName", "default-scheduler")
    _set(spec, "terminationGracePeriodSeconds", 30)
    _set(spec, "securityContext", {})
    for key in ("containers", "initContainers"):
        for container in _dicts(spec.get(key)):
            _container_defaults(container)
    for volume in _dicts(spec.get("volumes")):
        _volume_defaults(volume)


def _pod_template_defaults(holder: Obj) -> None:
    template = _child(holder, "template")
    _child(template, "metadata")
    pod_spec_defaults(_child(template, "spec"))


def pod(obj: Obj) -> None:
    spec = _child(obj, "spec")
    pod_spec_defaults(spec)
    _set(spec, "enableServiceLinks", True)
    # Set by admission (ServiceAccount, Priority) on Pods only, never in templates.
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    _set(spec, "serviceAccountName", account)
    _set(spec, "serviceAccount", account)
    _set(spec, "priority", 0)
    for key in ("containers", "initContainers"):
        for container in _dicts(spec.get(key)):
            _requests_from_limits(container)


def _requests_from_limits(container: Obj) -> None:
    """A limit without a request requests the limit (Pods only, not templates, as kube's
    SetDefaults_Pod): a pod asking `limits: {nvidia.com/gpu: 1}` requests one GPU too."""
    resources = container.get("resources")
    if not isinstance(resources, dict):
        return
    limits = resources.get("limits")
    if not isinstance(limits, dict) or not limits:
        return
    requests = resources.get("requests")
    if not isinstance(requests, dict):
        requests = resources["requests"] = {}
    for name, value in limits.items():
        requests.setdefault(name, value)


def _resource_map(item: Obj, key: str) -> Obj:
    value = item.get(key)
    return value if isinstance(value, dict) else {}


def limit_range(obj: Obj) -> None:
    """SetDefaults_LimitRangeItem: a Container item's `default` falls back to its `max`, and
    its `defaultRequest` to its `default`, then to its `min`."""
    for item in _dicts(_dig_list(obj, "spec", "limits")):
        if item.get("type") != "Container":
            continue
        default, request = _resource_map(item, "default"), _resource_map(item, "defaultRequest")
        for source, target in ((_resource_map(item, "max"), default), (default, request),
                               (_resource_map(item, "min"), request)):
            for name, value in source.items():
                target.setdefault(name, value)
        if default:
            item["default"] = default
        if request:
            item["defaultRequest"] = request


# --- workloads --------------------------------------------------------------------------
def deployment(obj: Obj) -> None:
    spec = _child(obj, "spec")
    _set(spec, "replicas", 1)
    strategy = _child(spec, "strategy")
    _set(strategy, "type", "RollingUpdate")
    if strategy.get("type") == "RollingUpdate":
        rolling = _child(strategy, "rollingUpdate")
        _set(rolling, "maxUnavailable", "25%")
        _set(rolling, "maxSurge", "25%")
    _set(spec, "revisionHistoryLimit", 10)
    _set(spec, "progressDeadlineSeconds", 600)
    _pod_template_defaults(spec)


def replica_set(obj: Obj) -> None:
    spec = _child(obj, "spec")
    _set(spec, "replicas", 1)
    _pod_template_defaults(spec)


def persistent_volume_claim(claim: Obj) -> None:
    _set(_child(claim, "spec"), "volumeMode", "Filesystem")
    _set(_child(claim, "status"), "phase", "Pending")


def stateful_set(obj: Obj) -> None:
    spec = _child(obj, "spec")
    _set(spec, "replicas", 1)
    _set(spec, "podManagementPolicy", "OrderedReady")
    strategy = _child(spec, "updateStrategy")
    _set(strategy, "type", "RollingUpdate")
    if strategy.get("type") == "RollingUpdate":
        _set(_child(strategy, "rollingUpdate"), "partition", 0)
    _set(spec, "revisionHistoryLimit", 10)
    retention = _child(spec, "persistentVolumeClaimRetentionPolicy")
    _set(retention, "whenDeleted", "Retain")
    _set(retention, "whenScaled", "Retain")
    for claim in _dicts(spec.get("volumeClaimTemplates")):
        persistent_volume_claim(claim)
    _pod_template_defaults(spec)


def daemon_set(obj: Obj) -> None:
    spec = _child(obj, "spec")
    strategy = _child(spec, "updateStrategy")
    _set(strategy, "type", "RollingUpdate")
    if strategy.get("type") == "RollingUpdate":
        rolling = _child(strategy, "rollingUpdate")
        _set(rolling, "maxUnavailable", 1)
        _set(rolling, "maxSurge", 0)
    _set(spec, "revisionHistoryLimit", 10)
    _pod_template_defaults(spec)


def job_spec_defaults(spec: Obj) -> None:
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    _set(spec, "parallelism", 1)
    # With backoffLimitPerIndex the global limit is effectively off (MaxInt32).
    _set(spec, "backoffLimit", 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6)
    _set(spec, "completionMode", "NonIndexed")
    _set(spec, "suspend", False)
    replacement = "Failed" if spec.get("podFailurePolicy") is not None else "TerminatingOrFailed"
    _set(spec, "podReplacementPolicy", replacement)
    _pod_template_defaults(spec)


def job(obj: Obj) -> None:
    spec = _child(obj, "spec")
    job_spec_defaults(spec)
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    uid = meta.get("uid")
    if uid and spec.get("manualSelector") is not True:
        _generate_job_selector(spec, str(uid), str(meta.get("name", "")))


def _generate_job_selector(spec: Obj, uid: str, name: str) -> None:
    """The selector and pod labels the Job strategy generates from the Job's uid."""
    labels = _child(_child(_child(spec, "template"), "metadata"), "labels")
    for key, value in (
        (JOB_UID_LABEL, uid),
        (JOB_NAME_LABEL, name),
        (LEGACY_JOB_UID_LABEL, uid),
        (LEGACY_JOB_NAME_LABEL, name),
    ):
        labels.setdefault(key, value)
    selector = _child(spec, "selector")
    _child(selector, "matchLabels").setdefault(JOB_UID_LABEL, uid)


def cron_job(obj: Obj) -> None:
    spec = _child(obj, "spec")
    _set(spec, "concurrencyPolicy", "Allow")
    _set(spec, "suspend", False)
    _set(spec, "successfulJobsHistoryLimit", 3)
    _set(spec, "failedJobsHistoryLimit", 1)
    job_spec = _child(_child(spec, "jobTemplate"), "spec")
    _pod_template_defaults(job_spec)


# --- services and the rest --------------------------------------------------------------
def service(obj: Obj) -> None:
    spec = _child(obj, "spec")
    _set(spec, "type", "ClusterIP")
    _set(spec, "sessionAffinity", "None")
    service_type = spec.get("type")
    if spec.get("sessionAffinity") == "ClientIP":
        client_ip = _child(_child(spec, "sessionAffinityConfig"), "clientIP")
        _set(client_ip, "timeoutSeconds", 10800)
    for port in _dicts(spec.get("ports")):
        _set(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    if service_type == "ExternalName":
        return  # no cluster IP, so no IP family or traffic policy
    _set(spec, "internalTrafficPolicy", "Cluster")
    if service_type in ("NodePort", "LoadBalancer"):
        _set(spec, "externalTrafficPolicy", "Cluster")
    if service_type == "LoadBalancer":
        _set(spec, "allocateLoadBalancerNodePorts", True)
    _set(spec, "ipFamilyPolicy", "SingleStack")
    _set(spec, "ipFamilies", ["IPv4"])


def namespace(obj: Obj) -> None:
    meta = _child(obj, "metadata")
    name = meta.get("name")
    if isinstance(name, str) and name:
        _child(meta, "labels")[NAMESPACE_NAME_LABEL] = name  # always equals the name
    _set(_child(obj, "spec"), "finalizers", ["kubernetes"])
    _set(_child(obj, "status"), "phase", "Active")


def secret(obj: Obj) -> None:
    _set(obj, "type", "Opaque")


def persistent_volume(obj: Obj) -> None:
    spec = _child(obj, "spec")
    _set(spec, "persistentVolumeReclaimPolicy", "Retain")
    _set(spec, "volumeMode", "Filesystem")
    _set(_child(obj, "status"), "phase", "Pending")


def replication_controller(obj: Obj) -> None:
    spec = _child(obj, "spec")
    _set(spec, "replicas", 1)
    _pod_template_defaults(spec)


def pod_template(obj: Obj) -> None:
    _pod_template_defaults(obj)


def role_binding(obj: Obj) -> None:
    for subject in _dicts(obj.get("subjects")):
        if subject.get("kind") in ("User", "Group"):
            _set(subject, "apiGroup", "rbac.authorization.k8s.io")
        elif subject.get("kind") == "ServiceAccount":
            _set(subject, "apiGroup", "")


def endpoints(obj: Obj) -> None:
    for subset in _dicts(obj.get("subsets")):
        for port in _dicts(subset.get("ports")):
            _set(port, "protocol", "TCP")


def horizontal_pod_autoscaler(obj: Obj) -> None:
    _set(_child(obj, "spec"), "minReplicas", 1)


def apply_defaults(obj: dict[str, Any], rt: ResourceType) -> None:
    """Fill in the defaults of `rt`'s kind, in place; custom resources get their schema's.

    The kind's defaulter is its strategy's (`orchestrator.api.strategies`), which names the
    functions of this module."""
    if not isinstance(obj, dict):
        return
    if rt.custom:
        if rt.crd_schema:
            apply_schema_defaults(obj, rt.crd_schema)
        return
    # Imported here: the strategies name this module's defaulters.
    from orchestrator.api import strategies

    strategy = strategies.for_kind(rt.group, rt.kind)
    if strategy is not None:
        strategy.defaults(obj)


__all__ = [
    "JOB_NAME_LABEL",
    "JOB_UID_LABEL",
    "LEGACY_JOB_NAME_LABEL",
    "LEGACY_JOB_UID_LABEL",
    "NAMESPACE_NAME_LABEL",
    "apply_defaults",
    "image_pull_policy",
    "job_spec_defaults",
    "pod_spec_defaults",
]
