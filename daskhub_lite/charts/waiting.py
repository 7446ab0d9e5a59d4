"""Progress while Helm waits: which of the release's workloads are not ready yet, and why.

Helm's own `--wait` decides success or failure; this only reads the same objects (through the
`kubernetes` client) and prints a line whenever the picture changes.
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


def _pod_reason(pod: Any) -> str:
    status = pod.status
    for cond in status.conditions or []:
        if cond.type == "PodScheduled" and cond.status == "False":
            return f"unschedulable: {cond.message or cond.reason}"
    for cs in (status.container_statuses or []):
        waiting = cs.state.waiting if cs.state else None
        if waiting and waiting.reason:
            return f"{waiting.reason}: {waiting.message}" if waiting.message else waiting.reason
        terminated = cs.state.terminated if cs.state else None
        if terminated:
            return f"container exited {terminated.exit_code} ({terminated.reason})"
    return (status.phase or "Pending").lower()


def describe(api: Any, kind: str, namespace: str, name: str) -> str | None:
    """None when ready; otherwise a short reason."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    apps = client.AppsV1Api(api)
    try:
        if kind == "Deployment":
            obj = apps.read_namespaced_deployment(name, namespace)
            want, ready = obj.spec.replicas or 0, obj.status.ready_replicas or 0
        elif kind == "StatefulSet":
            obj = apps.read_namespaced_stateful_set(name, namespace)
            want, ready = obj.spec.replicas or 0, obj.status.ready_replicas or 0
        elif kind == "DaemonSet":
            obj = apps.read_namespaced_daemon_set(name, namespace)
            want, ready = obj.status.desired_number_scheduled or 0, obj.status.number_ready or 0
        else:
            obj = client.BatchV1Api(api).read_namespaced_job(name, namespace)
            want, ready = 1, 1 if (obj.status.succeeded or 0) >= 1 else 0
    except ApiException as err:
        return "not created yet" if err.status == 404 else f"cannot read ({err.status})"
    if ready >= want:
        return None
    selector = obj.spec.selector.match_labels or {}
    label_selector = ",".join(f"{k}={v}" for k, v in selector.items())
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=label_selector)
    reasons = sorted({_pod_reason(p) for p in pods.items
                      if not any(c.type == "Ready" and c.status == "True"
                                 for c in (p.status.conditions or []))})
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
        from kubernetes import config

        try:
            api = config.new_client_from_config(config_file=self.kubeconfig, context=self.context)
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
