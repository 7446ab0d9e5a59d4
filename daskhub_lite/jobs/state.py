"""Reading a training job's state from its Job and pods. Pure: no I/O.

`summarize` decides; `jobs.TrainingJob` acts (polls, prints, raises).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence


@dataclass
class JobState:
    name: str
    phase: str  # Pending | Running | Succeeded | Failed | Suspended
    active: int = 0
    succeeded: int = 0
    failed: int = 0
    completions: int = 1
    reason: str = ""
    message: str = ""
    unschedulable: str = ""  # the scheduler's message for a pod it cannot place
    # The API's refusal of the job's pod (the Job's FailedCreate Event: a ResourceQuota
    # used up, a LimitRange, Pod Security), while no pod of the job is alive.
    refused: str = ""
    pods: dict[str, str] = field(default_factory=dict)  # pod name → its phase
    started: str = ""
    finished: str = ""

    @property
    def done(self) -> bool:
        return self.phase in ("Succeeded", "Failed")

    def line(self) -> str:
        """One progress line: phase, pods, retries."""
        text = (f"{self.name}: {self.phase}, {self.succeeded}/{self.completions} succeeded, "
                f"{self.active} active, {self.failed} failed")
        if self.reason:
            text += f" ({self.reason})"
        if self.unschedulable and self.phase == "Pending":
            text += f"; unschedulable: {self.unschedulable}"
        if self.refused and self.phase == "Pending":
            text += f"; refused: {self.refused}"
        return text


def _conditions(job: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("type")): c for c in (job.get("status") or {}).get("conditions") or []
            if c.get("status") == "True"}


def pod_phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def unschedulable_message(pod: Mapping[str, Any]) -> str:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False" and \
                cond.get("reason") == "Unschedulable":
            return str(cond.get("message") or "no node fits the pod")
    return ""


def waiting_problem(pod: Mapping[str, Any]) -> str:
    """A container stuck waiting for a reason that will not fix itself (bad config)."""
    status = pod.get("status") or {}
    for cs in (status.get("initContainerStatuses") or []) + (
            status.get("containerStatuses") or []):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in ("CreateContainerConfigError", "NoCommand",
                                     "InvalidImageName", "ErrImagePull", "ImagePullBackOff"):
            return f"{waiting['reason']}: {waiting.get('message', '')}".rstrip(": ")
    return ""


def _when(event: Mapping[str, Any]) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime") or "")


def refusal(events: Sequence[Mapping[str, Any]], newest_pod: str = "") -> str:
    """The newest FailedCreate Event's reason for refusing the job's pod, without the job
    controller's `Error creating: ` (so it reads `pods "x" is forbidden: exceeded quota:
    ...`); '' when there is none, or a pod was made since (`newest_pod`: its
    creationTimestamp)."""
    failed = [e for e in events if e.get("reason") == "FailedCreate"]
    if not failed:
        return ""
    last = max(failed, key=_when)
    if newest_pod and newest_pod >= _when(last):
        return ""
    return str(last.get("message") or "").removeprefix("Error creating: ")


def summarize(job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]],
              events: Sequence[Mapping[str, Any]] = ()) -> JobState:
    """`events`: the Job's own Events (for the API's refusals of its pods)."""
    meta = job.get("metadata") or {}
    spec = job.get("spec") or {}
    status = job.get("status") or {}
    conditions = _conditions(job)
    state = JobState(name=str(meta.get("name", "")), phase="Pending",
                     active=int(status.get("active") or 0),
                     succeeded=int(status.get("succeeded") or 0),
                     failed=int(status.get("failed") or 0),
                     completions=int(spec.get("completions") or 1),
                     started=str(status.get("startTime") or ""),
                     finished=str(status.get("completionTime") or ""))
    state.pods = {str((p.get("metadata") or {}).get("name")): pod_phase(p) for p in pods}
    if "Complete" in conditions:
        state.phase = "Succeeded"
    elif "Failed" in conditions:
        cond = conditions["Failed"]
        state.phase, state.reason = "Failed", str(cond.get("reason") or "Failed")
        state.message = str(cond.get("message") or "")
    elif "FailureTarget" in conditions:
        cond = conditions["FailureTarget"]
        state.phase, state.reason = "Failed", str(cond.get("reason") or "Failed")
        state.message = str(cond.get("message") or "")
    elif spec.get("suspend"):
        state.phase = "Suspended"
    elif any(pod_phase(p) != "Pending" for p in pods):  # started (finished, not yet counted)
        state.phase = "Running"
    if state.phase in ("Pending", "Running"):
        live = [p for p in pods if pod_phase(p) == "Pending"]
        state.unschedulable = next((m for m in map(unschedulable_message, live) if m), "")
        problem = next((m for m in map(waiting_problem, live) if m), "")
        if problem and not state.unschedulable:
            state.reason = problem.split(":", 1)[0]
            state.message = problem
        if not any(pod_phase(p) in ("Pending", "Running") for p in pods):
            state.refused = refusal(events, newest_pod=max(
                (str((p.get("metadata") or {}).get("creationTimestamp") or "") for p in pods),
                default=""))
    return state


def failed_pods(pods: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Failed pods, the most recently started last."""
    failed = [p for p in pods if pod_phase(p) == "Failed"]
    return sorted(failed, key=lambda p: str((p.get("status") or {}).get("startTime") or "")
                  + str((p.get("metadata") or {}).get("creationTimestamp") or ""))


def exit_summary(pod: Mapping[str, Any]) -> str:
    """`exit code 3 (Error)` for the main container of a finished pod, else ''."""
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        term = (cs.get("state") or {}).get("terminated") or {}
        if term:
            text = f"exit code {term.get('exitCode')}"
            if term.get("reason"):
                text += f" ({term['reason']})"
            return text
    return str((pod.get("status") or {}).get("reason") or "")


def newest(pods: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    if not pods:
        return None
    return max(pods, key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or "")
               + str((p.get("metadata") or {}).get("name") or ""))
