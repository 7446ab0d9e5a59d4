"""Where the seconds go from `DaskCluster(n_workers=4)` to 4 workers: API watch events
stamped on arrival (time.monotonic()), the API objects' own timestamps (creationTimestamp,
conditions' lastTransitionTime, containerStatuses' startedAt: RFC3339, whole seconds, so only
a cross-check), the scheduler's log lines (millisecond timestamps) and the client's steps.
Used by bench_dask.py; prints, never asserts."""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime
from typing import Any

from kubernetes import client as k8s, config as k8s_config, watch

# time.time() - time.monotonic(), so wall-clock stamps (API, logs) land on the same axis.
WALL_MINUS_MONO = time.time() - time.monotonic()
LOG_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) - \S+ - \w+ - (.*)$")


def rfc3339_mono(stamp: str | None) -> float | None:
    if not stamp:
        return None
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() - WALL_MINUS_MONO


class Timeline:
    """Events (monotonic seconds, what) from watches, the client and the logs."""

    def __init__(self, kubeconfig: str, namespace: str, cluster: str) -> None:
        self.namespace, self.cluster = namespace, cluster
        self.api = k8s_config.new_client_from_config(config_file=kubeconfig)
        self.events: list[tuple[float, str]] = []
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.pods: dict[str, dict[str, Any]] = {}
        self.frozen: dict[str, dict[str, Any]] = {}  # the pods as they were at `freeze()`
        self.t0 = time.monotonic()

    def mark(self, what: str, at: float | None = None) -> None:
        with self._lock:
            self.events.append((time.monotonic() if at is None else at, what))

    def once(self, key: str, what: str) -> None:
        with self._lock:
            if key in self._seen:
                return
            self._seen.add(key)
        self.mark(what)

    def start(self) -> None:
        core = k8s.CoreV1Api(self.api)
        apps = k8s.AppsV1Api(self.api)
        custom = k8s.CustomObjectsApi(self.api)
        ns = self.namespace
        lists = {
            "pod": lambda **kw: core.list_namespaced_pod(ns, **kw),
            "service": lambda **kw: core.list_namespaced_service(ns, **kw),
            "endpoints": lambda **kw: core.list_namespaced_endpoints(ns, **kw),
            "deployment": lambda **kw: apps.list_namespaced_deployment(ns, **kw),
            "daskcluster": lambda **kw: custom.list_namespaced_custom_object(
                "kubernetes.dask.org", "v1", ns, "daskclusters", **kw),
            "daskworkergroup": lambda **kw: custom.list_namespaced_custom_object(
                "kubernetes.dask.org", "v1", ns, "daskworkergroups", **kw),
        }
        for kind, lister in lists.items():
            t = threading.Thread(target=self._watch, args=(kind, lister), daemon=True)
            t.start()
            self._threads.append(t)
        time.sleep(0.5)  # the watches are open before the clock starts
        self.t0 = time.monotonic()

    def _watch(self, kind: str, lister: Any) -> None:
        while not self._stop.is_set():
            try:
                w = watch.Watch()
                for ev in w.stream(lister, timeout_seconds=2, _request_timeout=5):
                    obj = ev["object"]
                    raw = obj if isinstance(obj, dict) else self.api.sanitize_for_serialization(obj)
                    self._observe(kind, ev["type"], raw)
                    if self._stop.is_set():
                        w.stop()
            except Exception:  # a watch cut short: open it again
                time.sleep(0.1)

    def _observe(self, kind: str, type_: str, raw: dict[str, Any]) -> None:
        name = raw["metadata"]["name"]
        labels = raw["metadata"].get("labels") or {}
        if name != self.cluster and labels.get("dask.org/cluster-name") != self.cluster:
            return
        if type_ == "DELETED":
            return
        role = labels.get("dask.org/component", kind)
        if kind == "endpoints":  # the Service routes to the scheduler from here on
            if any(sub.get("addresses") for sub in raw.get("subsets") or []):
                self.once(f"ep/{name}", f"endpoints {name}: scheduler address published")
            return
        if kind == "service":
            publish = (raw.get("spec") or {}).get("publishNotReadyAddresses")
            self.once(f"{kind}/{name}", f"{kind} {name} seen (publishNotReadyAddresses: "
                                        f"{bool(publish)})")
            return
        self.once(f"{kind}/{name}", f"{kind} {name} seen ({role})")
        if kind != "pod":
            return
        self.pods[name] = raw
        status = raw.get("status") or {}
        if (raw.get("spec") or {}).get("nodeName"):
            self.once(f"bound/{name}", f"pod {name} bound")
        for cs in status.get("containerStatuses") or []:
            if (cs.get("state") or {}).get("running"):
                self.once(f"run/{name}", f"pod {name} container running")
        if any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in status.get("conditions") or []):
            self.once(f"ready/{name}", f"pod {name} Ready")

    def freeze(self) -> None:
        """Keep the pods as they are now (4 workers up), before scale and close change them."""
        with self._lock:
            self.frozen = dict(self.pods)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(10)

    def scheduler_log(self) -> None:
        """The scheduler's own milestones, from its log's millisecond timestamps."""
        core = k8s.CoreV1Api(self.api)
        for name, pod in (self.frozen or self.pods).items():
            if (pod["metadata"].get("labels") or {}).get("dask.org/component") != "scheduler":
                continue
            try:
                text = core.read_namespaced_pod_log(name, self.namespace)
            except Exception as exc:
                self.mark(f"(scheduler log unreadable: {exc})")
                return
            registered = 0
            for line in text.splitlines():
                m = LOG_STAMP.match(line)
                if not m:
                    continue
                at = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp() \
                    - WALL_MINUS_MONO
                msg = m.group(2).strip()
                if msg.startswith("Scheduler at:"):
                    self.mark(f"scheduler log: listening ({msg})", at)
                elif "State start" in msg:
                    self.mark("scheduler log: first line (imports done)", at)
                elif msg.startswith("Register worker"):
                    registered += 1
                    self.mark(f"scheduler log: worker {registered} registered", at)

    def api_stamps(self) -> list[tuple[float, str]]:
        """The pods' own RFC3339 stamps (whole seconds) as a cross-check of the watch."""
        out: list[tuple[float, str]] = []
        for name, pod in (self.frozen or self.pods).items():
            md, st = pod["metadata"], pod.get("status") or {}
            for label, stamp in [("creationTimestamp", md.get("creationTimestamp"))] + [
                    (f"{c['type']}.lastTransitionTime", c.get("lastTransitionTime"))
                    for c in st.get("conditions") or []] + [
                    ("startedAt", ((cs.get("state") or {}).get("running") or {}).get("startedAt"))
                    for cs in st.get("containerStatuses") or []]:
                at = rfc3339_mono(stamp)
                if at is not None:
                    out.append((at, f"{name} {label} {stamp}"))
        return sorted(out)

    def render(self, show_api: bool = False) -> str:
        lines = [f"{at - self.t0:7.3f}s  {what}" for at, what in sorted(self.events)]
        if show_api:
            lines.append("  API timestamps (1 s resolution):")
            lines += [f"{at - self.t0:7.1f}s    {what}" for at, what in self.api_stamps()]
        return "\n".join(lines)
