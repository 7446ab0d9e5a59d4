"""Progress while Helm waits: which of the release's workloads are not ready yet, and why.

Helm's own `--wait` decides success or failure; this only reads the same objects (through the
light REST client, `kubehttp`, so that polling starts at once instead of after the `kubernetes`
client's second of imports) and prints a line whenever the picture changes.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterable

import yaml

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}


def workloads(manifest: str, default_namespace: str) -> list[tuple[str, str, str]]:
    """(kind, namespace, name) of each workload in a rendered manifest."""
    found = []
    for doc in yaml.safe_load_all(manifest):
        if isinstance(doc, dict) and doc.get("kind") in WORKLOAD_KINDS:
            meta = doc.get("metadata") or {}
            found.append((doc["kind"], meta.get("namespace") or default_namespace, meta["name"]))
    return found


def _pod_reason(pod: dict[str, Any]) -> str:
    status = pod.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return f"unschedulable: {cond.get('message') or cond.get('reason')}"
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        waiting = state.get("waiting") or {}
        if waiting.get("reason"):
            return (f"{waiting['reason']}: {waiting['message']}" if waiting.get("message")
                    else str(waiting["reason"]))
        terminated = state.get("terminated")
        if terminated:
            return (f"container exited {terminated.get('exitCode')} "
                    f"({terminated.get('reason')})")
    return str(status.get("phase") or "Pending").lower()


_PLURALS = {"Deployment": ("apps/v1", "deployments"), "StatefulSet": ("apps/v1", "statefulsets"),
            "DaemonSet": ("apps/v1", "daemonsets"), "Job": ("batch/v1", "jobs")}


def describe(api: Any, kind: str, namespace: str, name: str) -> str | None:
    """None when ready; otherwise a short reason. `api` is a `kubehttp.Transport`."""
    from daskhub_lite.kubehttp import APIStatusError, resource_path

    try:
        obj = api.get(resource_path(*_PLURALS[kind], namespace, name))
    except APIStatusError as err:
        return "not created yet" if err.status == 404 else f"cannot read ({err.status})"
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if kind == "DaemonSet":
        want, ready = status.get("desiredNumberScheduled") or 0, status.get("numberReady") or 0
    elif kind == "Job":
        want, ready = 1, 1 if (status.get("succeeded") or 0) >= 1 else 0
    else:
        want, ready = spec.get("replicas") or 0, status.get("readyReplicas") or 0
    if ready >= want:
        return None
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    label_selector = ",".join(f"{k}={v}" for k, v in selector.items())
    pods = api.get(resource_path("v1", "pods", namespace), labelSelector=label_selector)
    reasons = sorted({_pod_reason(p) for p in pods.get("items") or []
                      if not any(c.get("type") == "Ready" and c.get("status") == "True"
                                 for c in (p.get("status") or {}).get("conditions") or [])})
    detail = "; ".join(reasons) if reasons else "no pods yet"
    return f"{ready}/{want} ready ({detail})"


class Progress:
    """Polls in a background thread while `run` performs the (blocking) Helm action."""

    def __init__(self, kubeconfig: str | None, context: str | None,
                 items: Iterable[tuple[str, str, str]], emit: Callable[[str], None],
                 interval: float = 1.0) -> None:
        self.kubeconfig, self.context = kubeconfig, context
        self.items = list(items)
        self.emit, self.interval = emit, interval
        self._stop = threading.Event()

    def _loop(self) -> None:
        from daskhub_lite import kubehttp

        try:
            api = kubehttp.connect(self.kubeconfig, self.context)
        except Exception as err:  # progress is best-effort: Helm still decides the outcome
            self.emit(f"(no progress: {err})")
            return
        last: dict[str, str | None] = {}
        started = time.monotonic()
        while not self._stop.wait(self.interval):
            for kind, ns, name in self.items:
                key = f"{kind.lower()}/{name}"
                try:
                    state = describe(api, kind, ns, name)
                except Exception as err:  # keep waiting; show what went wrong once
                    state = f"cannot read: {err}"
                if last.get(key, "") != state:
                    elapsed = int(time.monotonic() - started)
                    self.emit(f"[{elapsed:>4}s] {key}: {state or 'ready'}")
                    last[key] = state

    def run(self, action: Callable[[], Any]) -> Any:
        thread = threading.Thread(target=self._loop, daemon=True)
        if self.items:
            thread.start()
        try:
            return action()
        finally:
            self._stop.set()
            if self.items:
                thread.join(timeout=5)
