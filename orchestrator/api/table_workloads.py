"""Table printers for pods and the workloads that own them, after kube's internalversion
printers (pkg/printers/internalversion/printers.go), reading raw v1 objects.

Where a field is absent the printer assumes the value v1 defaulting would have stored (one
replica, `suspend: false`), since a real cluster never shows an undefaulted object.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orchestrator.api.durations import human_duration, parse_timestamp, since
from orchestrator.api.selectors import format_label_selector, format_labels, label_selector_from_dict
from orchestrator.api.errors import BadRequest
from orchestrator.api.table_cells import (
    CONTAINERS_DESCRIPTION,
    IMAGES_DESCRIPTION,
    Cells,
    Condition,
    Printer,
    age_column,
    column,
    containers_and_images,
    created,
    flag,
    get,
    int_or_string,
    integer,
    is_deleting,
    items,
    latest,
    mapping,
    name_column,
    name_of,
    text,
)

# --- Pod ---------------------------------------------------------------------------------------


def _restartable_init(container: Mapping[str, Any] | None) -> bool:
    # Sidecars: init containers with restartPolicy Always keep running beside the others.
    return container is not None and text(container, "restartPolicy") == "Always"


def _condition_true(obj: Mapping[str, Any], condition_type: str) -> bool:
    for condition in items(obj, "status", "conditions"):
        if text(condition, "type") == condition_type:
            return text(condition, "status") == "True"
    return False


def _terminated_reason(terminated: Mapping[str, Any], prefix: str = "") -> str:
    if text(terminated, "reason"):
        return prefix + text(terminated, "reason")
    if integer(terminated, "signal"):
        return f"{prefix}Signal:{integer(terminated, 'signal')}"
    return f"{prefix}ExitCode:{integer(terminated, 'exitCode')}"


def pod_status_and_counts(pod: Mapping[str, Any], now: datetime) -> tuple[str, str, str]:
    """READY, STATUS and RESTARTS exactly as `kubectl get pods` computes them."""
    init_specs = items(pod, "spec", "initContainers")
    by_name = {text(c, "name"): c for c in init_specs}
    total = len(items(pod, "spec", "containers")) + sum(1 for c in init_specs if _restartable_init(c))
    ready = restarts = sidecar_restarts = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None
    phase = text(pod, "status", "phase")
    reason = text(pod, "status", "reason") or phase
    for condition in items(pod, "status", "conditions"):
        if text(condition, "type") == "PodScheduled" and text(condition, "reason") == "SchedulingGated":
            reason = "SchedulingGated"

    initializing = False
    for index, status in enumerate(items(pod, "status", "initContainerStatuses")):
        restarts += integer(status, "restartCount")
        last_restart = latest(last_restart, get(status, "lastState", "terminated", "finishedAt"))
        sidecar = _restartable_init(by_name.get(text(status, "name")))
        if sidecar:
            sidecar_restarts += integer(status, "restartCount")
            last_sidecar_restart = latest(
                last_sidecar_restart, get(status, "lastState", "terminated", "finishedAt")
            )
        terminated = get(status, "state", "terminated")
        waiting_reason = text(status, "state", "waiting", "reason")
        if isinstance(terminated, Mapping) and integer(terminated, "exitCode") == 0:
            continue
        if sidecar and flag(status, "started"):
            ready += 1 if flag(status, "ready") else 0
            continue
        if isinstance(terminated, Mapping):
            reason = _terminated_reason(terminated, "Init:")
        elif waiting_reason and waiting_reason != "PodInitializing":
            reason = "Init:" + waiting_reason
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(pod, "Initialized"):
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        has_running = False
        for status in reversed(items(pod, "status", "containerStatuses")):
            restarts += integer(status, "restartCount")
            last_restart = latest(last_restart, get(status, "lastState", "terminated", "finishedAt"))
            terminated = get(status, "state", "terminated")
            if text(status, "state", "waiting", "reason"):
                reason = text(status, "state", "waiting", "reason")
            elif isinstance(terminated, Mapping):
                reason = _terminated_reason(terminated)
            elif flag(status, "ready") and isinstance(get(status, "state", "running"), Mapping):
                has_running = True
                ready += 1
        # A container that completed beside one still running: the pod as a whole is not done.
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(pod, "Ready") else "NotReady"

    if is_deleting(pod) and text(pod, "status", "reason") == "NodeLost":
        reason = "Unknown"
    elif is_deleting(pod) and phase not in ("Failed", "Succeeded"):
        reason = "Terminating"

    shown_restarts = str(restarts)
    if restarts and last_restart is not None:
        shown_restarts = f"{restarts} ({human_duration(now - last_restart)} ago)"
    return f"{ready}/{total}", reason, shown_restarts


def _pod_cells(pod: Mapping[str, Any], now: datetime) -> Cells:
    ready, status, restarts = pod_status_and_counts(pod, now)
    pod_ip = text(pod, "status", "podIPs", 0, "ip") or text(pod, "status", "podIP") or "<none>"
    gates = items(pod, "spec", "readinessGates")
    readiness = "<none>"
    if gates:
        passed = sum(1 for gate in gates if _condition_true(pod, text(gate, "conditionType")))
        readiness = f"{passed}/{len(gates)}"
    return [
        name_of(pod), ready, status, restarts, since(created(pod), now),
        pod_ip, text(pod, "spec", "nodeName") or "<none>",
        text(pod, "status", "nominatedNodeName") or "<none>", readiness,
    ]


def _pod_conditions(pod: Mapping[str, Any]) -> list[Condition]:
    phase = text(pod, "status", "phase")
    if phase == "Succeeded":
        return [{"type": "Completed", "status": "True", "reason": "Succeeded",
                 "message": "The pod has completed successfully."}]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]
    return []


POD = Printer(
    [
        name_column(),
        column("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
        column("Status", description="The aggregate status of the containers in this pod."),
        column("Restarts", description="The number of times the containers in this pod have been "
               "restarted and when the last container in this pod has restarted."),
        age_column(),
        column("IP", priority=1, description="podIP address allocated to the pod."),
        column("Node", priority=1, description="NodeName indicates in which node this pod is scheduled."),
        column("Nominated Node", priority=1, description="nominatedNodeName is set when this pod "
               "preempts other pods on the node."),
        column("Readiness Gates", priority=1, description="If specified, all readiness gates will be "
               "evaluated for pod readiness."),
    ],
    _pod_cells,
    _pod_conditions,
)

# --- controllers of pods -----------------------------------------------------------------------


def _template_wide(obj: Mapping[str, Any], *template: str) -> list[str]:
    return list(containers_and_images(items(obj, *template, "spec", "containers")))


def _wide_columns(selector: bool = True) -> list[dict[str, Any]]:
    wide = [column("Containers", priority=1, description=CONTAINERS_DESCRIPTION),
            column("Images", priority=1, description=IMAGES_DESCRIPTION)]
    if selector:
        wide.append(column("Selector", priority=1, description="A label query over pods."))
    return wide


def _deployment_cells(obj: Mapping[str, Any], now: datetime) -> Cells:
    try:
        selector = str(label_selector_from_dict(get(obj, "spec", "selector")))
    except BadRequest:
        selector = "<invalid>"
    return [
        name_of(obj),
        f"{integer(obj, 'status', 'readyReplicas')}/{integer(obj, 'spec', 'replicas', default=1)}",
        integer(obj, "status", "updatedReplicas"), integer(obj, "status", "availableReplicas"),
        since(created(obj), now), *_template_wide(obj, "spec", "template"), selector,
    ]


DEPLOYMENT = Printer(
    [name_column(), column("Ready", description="Number of the pod with ready state"),
     column("Up-to-date", description="Total number of non-terminated pods targeted by this "
            "deployment that have the desired template spec."),
     column("Available", description="Total number of available pods (ready for at least "
            "minReadySeconds) targeted by this deployment."),
     age_column(), *_wide_columns()],
    _deployment_cells,
)


def _replica_set_cells(obj: Mapping[str, Any], now: datetime) -> Cells:
    return [
        name_of(obj), integer(obj, "spec", "replicas", default=1), integer(obj, "status", "replicas"),
        integer(obj, "status", "readyReplicas"), since(created(obj), now),
        *_template_wide(obj, "spec", "template"), format_label_selector(get(obj, "spec", "selector")),
    ]


REPLICA_SET = Printer(
    [name_column(), column("Desired", "integer", description="Replicas is the number of desired replicas."),
     column("Current", "integer", description="Replicas is the most recently observed number of replicas."),
     column("Ready", "integer", description="The number of ready replicas for this replica set."),
     age_column(), *_wide_columns()],
    _replica_set_cells,
)


def _stateful_set_cells(obj: Mapping[str, Any], now: datetime) -> Cells:
    return [
        name_of(obj),
        f"{integer(obj, 'status', 'readyReplicas')}/{integer(obj, 'spec', 'replicas', default=1)}",
        since(created(obj), now), *_template_wide(obj, "spec", "template"),
    ]


STATEFUL_SET = Printer(
    [name_column(), column("Ready", description="Number of the pod with ready state"), age_column(),
     *_wide_columns(selector=False)],
    _stateful_set_cells,
)


def _daemon_set_cells(obj: Mapping[str, Any], now: datetime) -> Cells:
    status = mapping(obj, "status")
    return [
        name_of(obj), integer(status, "desiredNumberScheduled"), integer(status, "currentNumberScheduled"),
        integer(status, "numberReady"), integer(status, "updatedNumberScheduled"),
        integer(status, "numberAvailable"),
        format_labels(mapping(obj, "spec", "template", "spec", "nodeSelector")),
        since(created(obj), now), *_template_wide(obj, "spec", "template"),
        format_label_selector(get(obj, "spec", "selector")),
    ]


DAEMON_SET = Printer(
    [name_column(),
     column("Desired", "integer", description="The total number of nodes that should be running the daemon pod."),
     column("Current", "integer", description="The number of nodes running at least one daemon pod."),
     column("Ready", "integer", description="The number of nodes running the daemon pod and ready."),
     column("Up-to-date", "integer", description="The number of nodes running the updated daemon pod."),
     column("Available", "integer", description="The number of nodes running the daemon pod and available."),
     column("Node Selector", description="NodeSelector is a selector which must be true for the pod "
            "to fit on a node."),
     age_column(), *_wide_columns()],
    _daemon_set_cells,
)


def _job_status(obj: Mapping[str, Any]) -> str:
    if _condition_true(obj, "Complete"):
        return "Complete"
    if _condition_true(obj, "Failed"):
        return "Failed"
    if is_deleting(obj):
        return "Terminating"
    if _condition_true(obj, "Suspended"):
        return "Suspended"
    if _condition_true(obj, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def _job_cells(obj: Mapping[str, Any], now: datetime) -> Cells:
    succeeded = integer(obj, "status", "succeeded")
    completions = get(obj, "spec", "completions")
    if isinstance(completions, int) and not isinstance(completions, bool):
        shown = f"{succeeded}/{completions}"
    else:
        parallelism = integer(obj, "spec", "parallelism", default=1)
        shown = f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"
    started = parse_timestamp(get(obj, "status", "startTime"))
    finished = parse_timestamp(get(obj, "status", "completionTime"))
    duration = ""
    if started is not None:
        duration = human_duration((finished or now) - started)
    return [
        name_of(obj), _job_status(obj), shown, duration, since(created(obj), now),
        *_template_wide(obj, "spec", "template"), format_label_selector(get(obj, "spec", "selector")),
    ]


JOB = Printer(
    [name_column(), column("Status", description="Status of the job."),
     column("Completions", description="The number of pods which reached phase Succeeded."),
     column("Duration", description="Time required to complete the job."),
     age_column(), *_wide_columns()],
    _job_cells,
)


def _cron_job_cells(obj: Mapping[str, Any], now: datetime) -> Cells:
    suspend = get(obj, "spec", "suspend")
    last = get(obj, "status", "lastScheduleTime")
    job_spec = ("spec", "jobTemplate", "spec")
    return [
        name_of(obj), text(obj, "spec", "schedule"), text(obj, "spec", "timeZone") or "<none>",
        "True" if suspend is True else "False",
        len(items(obj, "status", "active")),
        since(last, now) if last is not None else "<none>",
        since(created(obj), now),
        *_template_wide(obj, *job_spec, "template"),
        format_label_selector(get(obj, *job_spec, "selector")),
    ]


CRON_JOB = Printer(
    [name_column(), column("Schedule", description="The schedule in Cron format."),
     column("Timezone", description="The time zone name for the given schedule."),
     column("Suspend", "boolean", description="This flag tells the controller to suspend subsequent executions."),
     column("Active", "integer", description="A list of pointers to currently running jobs."),
     column("Last Schedule", description="Information when was the last time the job was successfully scheduled."),
     age_column(), *_wide_columns()],
    _cron_job_cells,
)


def _disruption_budget_cells(obj: Mapping[str, Any], now: datetime) -> Cells:
    spec = mapping(obj, "spec")
    return [
        name_of(obj),
        int_or_string(spec["minAvailable"]) if spec.get("minAvailable") is not None else "N/A",
        int_or_string(spec["maxUnavailable"]) if spec.get("maxUnavailable") is not None else "N/A",
        integer(obj, "status", "disruptionsAllowed"), since(created(obj), now),
    ]


POD_DISRUPTION_BUDGET = Printer(
    [name_column(), column("Min Available", description="The minimum number of pods that must be available."),
     column("Max Unavailable", description="The maximum number of pods that may be unavailable."),
     column("Allowed Disruptions", "integer", description="Calculated number of pods that may be "
            "disrupted at this time."),
     age_column()],
    _disruption_budget_cells,
)
