"""Pure pod status: container states → containerStatuses, phase and conditions.

No I/O here; the pod worker keeps `ContainerState`s and calls `pod_status` to publish.
Phase follows the kubelet's `getPhase`: a pod whose containers may still restart is Running,
Never/OnFailure decide Succeeded or Failed once every container has terminated for good.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from orchestrator.api.workloads import set_condition


def rfc3339(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


HOST_IP = "127.0.0.1"  # pods get their own address from the pod network when it runs


@dataclass
class ContainerState:
    name: str
    image: str = ""
    restart_count: int = 0
    state: dict[str, Any] = field(default_factory=lambda: {
        "waiting": {"reason": "ContainerCreating"}})
    last_state: dict[str, Any] = field(default_factory=dict)
    ready: bool = False
    started: bool = False
    container_id: str = ""
    done: bool = False  # terminated and will not restart
    restarting: bool = False  # retired: the next start counts as a restart

    def waiting(self, reason: str, message: str = "") -> None:
        self.state = {"waiting": {"reason": reason, **({"message": message} if message
                                                       else {})}}
        self.ready = False

    def running(self, started_at: float, container_id: str) -> None:
        if self.restarting:
            self.restart_count += 1
            self.restarting = False
        self.state = {"running": {"startedAt": rfc3339(started_at)}}
        self.container_id = container_id

    def terminated(self, exit_code: int, reason: str, started_at: float, finished_at: float,
                   message: str = "", signal: int = 0) -> None:
        term: dict[str, Any] = {"exitCode": exit_code, "reason": reason,
                                "startedAt": rfc3339(started_at),
                                "finishedAt": rfc3339(finished_at)}
        if message:
            term["message"] = message
        if signal:
            term["signal"] = signal
        if self.container_id:
            term["containerID"] = self.container_id
        self.state = {"terminated": term}
        self.ready = False
        self.started = False

    def retire(self) -> None:
        """Before a restart: the terminated state becomes lastState; the next start counts
        as a restart (as the kubelet counts them)."""
        if "terminated" in self.state:
            self.last_state = dict(self.state)
            self.restarting = True
            self.waiting("ContainerCreating")

    @property
    def exit_code(self) -> int | None:
        term = self.state.get("terminated")
        return None if term is None else int(term.get("exitCode", 0))

    def to_status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "image": self.image, "imageID": f"process://{self.image}",
            "restartCount": self.restart_count, "ready": self.ready, "started": self.started,
            "state": self.state, "lastState": self.last_state,
        }
        if self.container_id:
            out["containerID"] = self.container_id
        return out


def phase(restart_policy: str, init: list[ContainerState], init_failed: bool,
          containers: list[ContainerState]) -> str:
    if init_failed:
        return "Failed"
    if init and not all(c.done and c.exit_code == 0 for c in init):
        return "Pending"
    if all(c.done for c in containers):
        failed = any(c.exit_code not in (0, None) for c in containers)
        return "Failed" if failed else "Succeeded"
    if any("running" in c.state or c.restart_count > 0 or "terminated" in c.state
           for c in containers):
        return "Running"
    return "Pending"


def _unready(names: list[str]) -> str:
    return "[" + " ".join(names) + "]"


def terminate_unstarted(init: list[ContainerState], containers: list[ContainerState]) -> None:
    """kubelet's TerminatePod: once the pod is initialized, a container with no terminated
    state gets one (whether it ran is not known: report an error); all are done."""
    unknown = ("ContainerStatusUnknown", "The container could not be located when the pod "
               "was terminated")
    if all(c.done and c.exit_code == 0 for c in init):
        for c in containers:
            if "terminated" not in c.state:
                c.state = {"terminated": {"exitCode": 137, "reason": unknown[0],
                                          "message": unknown[1]}}
                c.ready = c.started = False
            c.done = True


def pod_status(pod: Mapping[str, Any], init: list[ContainerState], init_failed: bool,
               containers: list[ContainerState], start_time: float,
               ip: str = HOST_IP, terminal: bool = False) -> dict[str, Any]:
    """The pod's status as the kubelet would post it, keeping existing transition times.
    `terminal`: the pod is being removed and runs nothing more, so its phase is Succeeded or
    Failed whatever its restart policy (kubelet since 1.27)."""
    spec = pod.get("spec") or {}
    current = pod.get("status") or {}
    status: dict[str, Any] = {"conditions": [dict(c) for c in current.get("conditions") or []]}
    the_phase = phase(str(spec.get("restartPolicy", "Always")), init, init_failed, containers)
    if terminal and the_phase not in ("Succeeded", "Failed"):
        the_phase = "Failed"
    terminal = the_phase in ("Succeeded", "Failed")
    initialized = not init or all(c.done and c.exit_code == 0 for c in init)
    set_condition(status, "PodReadyToStartContainers", "True")
    set_condition(status, "PodScheduled", "True")
    if initialized:
        set_condition(status, "Initialized", "True")
    else:
        pending = [c.name for c in init if not (c.done and c.exit_code == 0)]
        set_condition(status, "Initialized", "False", "ContainersNotInitialized",
                      f"containers with incomplete status: {_unready(pending)}")
    unready = [c.name for c in containers if not c.ready]
    if terminal:
        # generateContainersReadyConditionForTerminalPhase
        reason = "PodCompleted" if the_phase == "Succeeded" else "PodFailed"
        for ctype in ("ContainersReady", "Ready"):
            set_condition(status, ctype, "False", reason, "")
    elif unready:
        message = f"containers with unready status: {_unready(unready)}"
        set_condition(status, "ContainersReady", "False", "ContainersNotReady", message)
        set_condition(status, "Ready", "False", "ContainersNotReady", message)
    else:
        set_condition(status, "ContainersReady", "True")
        set_condition(status, "Ready", "True")
    for c in status["conditions"]:
        c.setdefault("lastProbeTime", None)
        for key in ("reason", "message"):
            if c.get(key) == "":
                del c[key]
    status.update({
        "phase": the_phase, "hostIP": HOST_IP, "hostIPs": [{"ip": HOST_IP}],
        "podIP": ip, "podIPs": [{"ip": ip}],
        "startTime": current.get("startTime") or rfc3339(start_time),
        "containerStatuses": [c.to_status() for c in containers],
        "qosClass": current.get("qosClass") or qos_class(spec),
    })
    if init:
        status["initContainerStatuses"] = [c.to_status() for c in init]
    return status


def qos_class(spec: Mapping[str, Any]) -> str:
    guaranteed = True
    any_set = False
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        res = c.get("resources") or {}
        requests, limits = res.get("requests") or {}, res.get("limits") or {}
        if requests or limits:
            any_set = True
        for name in ("cpu", "memory"):
            if name not in limits or requests.get(name, limits[name]) != limits[name]:
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


class Backoff:
    """CrashLoopBackOff delays: the first restart is immediate, then base, 2·base, … up to
    `cap`; a container that ran for `reset_after` seconds starts over."""

    def __init__(self, base: float = 10.0, cap: float = 300.0,
                 reset_after: float = 600.0) -> None:
        self.base, self.cap, self.reset_after = base, cap, reset_after
        self.failures = 0

    def next_delay(self, ran_for: float) -> float:
        if ran_for >= self.reset_after:
            self.failures = 0
        delay = 0.0 if self.failures == 0 else min(self.cap,
                                                   self.base * 2 ** (self.failures - 1))
        self.failures += 1
        return delay
