"""Resource use of a process node and its containers, served as kubelet's `/stats/summary`.

The API server's metrics API (orchestrator/server/metrics_api.py) asks here, as
metrics-server scrapes kubelets. Figures:

- a container: its cgroup where the runtime gave it one (cgroup v2, see limits.py:
  `cpu.stat` usage_usec, working set = `memory.current` - inactive_file), else its processes
  in /proc (the shim's session and every descendant of the shim, the shim itself left out,
  as conmon is: utime+stime+cutime+cstime, and RSS as the working set);
- the local node: /proc/stat (every CPU state but idle and iowait) and /proc/meminfo
  (working set = MemTotal - MemFree - Inactive(file), as kubelet reads its root cgroup);
- a virtual process node (declared capacity, sharing this host with others): the sum of its
  own containers, so nodes do not each report the whole host.

CPU is a rate: the cumulative counter now against the newest reading at least a second old
(readings are taken on every request and every DASKHUB_LITE_METRICS_RESOLUTION_SECONDS,
metrics-server's 15 s), else against zero at the container's start. `cpu.windowNanoSeconds`
(our addition to kubelet's shape) says over how long, for the metrics API's `window`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator

from aiohttp import web

from orchestrator.api.metrics import Sample, nanocores, ticks_to_ns, window_start
from orchestrator.runtime.agent import ProcessNode
from orchestrator.runtime.status import rfc3339

log = logging.getLogger(__name__)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_HISTORY = 4
ContainerKey = tuple[str, str, int, int]  # pod uid, container, shim pid, its start ticks


# -- readings (pure parsers, then the files) ---------------------------------------------------


@dataclass(frozen=True)
class Proc:
    ppid: int
    session: int
    cpu_ticks: int  # utime + stime + cutime + cstime
    rss_pages: int


@dataclass(frozen=True)
class Reading:
    cpu_ns: int
    working_set: int
    rss: int = 0


def parse_proc_stat(text: str) -> Proc | None:
    """One /proc/<pid>/stat line (the command may hold spaces and parentheses)."""
    try:
        fields = text[text.rindex(")") + 2:].split()
        # fields[0] is field 3 (state): ppid 4, session 6, utime..cstime 14-17, rss 24.
        return Proc(int(fields[1]), int(fields[3]), sum(int(f) for f in fields[11:15]),
                    int(fields[21]))
    except (ValueError, IndexError):
        return None


def scan_processes(root: Path = Path("/proc")) -> dict[int, Proc]:
    table: dict[int, Proc] = {}
    for entry in os.scandir(root):
        if not entry.name.isdigit():
            continue
        try:
            with open(os.path.join(entry.path, "stat")) as fh:
                proc = parse_proc_stat(fh.read())
        except OSError:
            continue  # gone meanwhile
        if proc is not None:
            table[int(entry.name)] = proc
    return table


def container_pids(table: dict[int, Proc], shim_pid: int) -> set[int]:
    """The shim's session, plus descendants that left it (setsid), without the shim."""
    members = {pid for pid, p in table.items() if p.session == shim_pid}
    children: dict[int, list[int]] = {}
    for pid, p in table.items():
        children.setdefault(p.ppid, []).append(pid)
    stack = [shim_pid, *members]
    seen = set(stack)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in seen:
                seen.add(child)
                members.add(child)
                stack.append(child)
    members.discard(shim_pid)
    return members


def proc_reading(table: dict[int, Proc], shim_pid: int) -> Reading:
    pids = container_pids(table, shim_pid)
    ticks = sum(table[p].cpu_ticks for p in pids)
    rss = sum(table[p].rss_pages for p in pids) * PAGE_SIZE
    return Reading(ticks_to_ns(ticks, CLOCK_TICKS), rss, rss)


def _keyed(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            out[key] = int(value)
    return out


def cgroup_reading(folder: str) -> Reading | None:
    path = Path(folder)
    try:
        cpu = _keyed((path / "cpu.stat").read_text()).get("usage_usec", 0) * 1000
        current = int((path / "memory.current").read_text())
        memory = _keyed((path / "memory.stat").read_text())
    except (OSError, ValueError):
        return None
    working_set = max(0, current - memory.get("inactive_file", 0))
    return Reading(cpu, working_set, memory.get("anon", 0))


def host_cpu_ns(proc_stat: str) -> int:
    """Busy CPU time of the whole machine from /proc/stat's `cpu` line (guest time is
    already in user and nice)."""
    for line in proc_stat.splitlines():
        if line.startswith("cpu "):
            values = [int(v) for v in line.split()[1:]]
            user, nice, system, _idle, _iowait, irq, softirq, steal = (values + [0] * 8)[:8]
            return ticks_to_ns(user + nice + system + irq + softirq + steal, CLOCK_TICKS)
    return 0


def host_memory(meminfo: str) -> dict[str, int]:
    kib: dict[str, int] = {}
    for line in meminfo.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            kib[key] = int(parts[0]) * 1024
    usage = kib.get("MemTotal", 0) - kib.get("MemFree", 0)
    return {"usageBytes": usage, "availableBytes": kib.get("MemAvailable", 0),
            "workingSetBytes": max(0, usage - kib.get("Inactive(file)", 0))}


def _read_host() -> tuple[float, int, dict[str, int]]:
    """(when, busy CPU ns, memory): the moment is taken right after reading the counter."""
    cpu = host_cpu_ns(Path("/proc/stat").read_text())
    at = time.time()
    return at, cpu, host_memory(Path("/proc/meminfo").read_text())


# -- the summary ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A running container to measure (collected on the event loop, read in a thread)."""
    key: ContainerKey
    pod: dict[str, Any]
    name: str
    pid: int
    cgroup: str | None
    started_at: float


def _measure(targets: list[Target], host: bool) -> tuple[
        float, dict[ContainerKey, Reading], tuple[float, int, dict[str, int]] | None]:
    table = scan_processes() if any(t.cgroup is None for t in targets) else {}
    readings: dict[ContainerKey, Reading] = {}
    for target in targets:
        reading = cgroup_reading(target.cgroup) if target.cgroup else None
        readings[target.key] = reading or proc_reading(table, target.pid)
    return time.time(), readings, _read_host() if host else None


def _cpu(at: float, rate: int, total: int, window: float) -> dict[str, Any]:
    return {"time": rfc3339(at), "usageNanoCores": rate, "usageCoreNanoSeconds": total,
            "windowNanoSeconds": round(window * 1e9)}


class NodeStats:
    """Readings of the process nodes served by one kubelet endpoint, and their history."""

    def __init__(self, nodes: list[ProcessNode], local: set[str], resolution: float) -> None:
        self.nodes = nodes
        self.local = local
        self.resolution = resolution
        self.started = time.time()
        self._history: dict[str, dict[Any, deque[Sample]]] = {}
        self._host_start: Sample | None = None

    def install(self, app: web.Application) -> None:
        app.router.add_get("/stats/summary", self.handle)
        app.cleanup_ctx.append(self._sampler)

    async def _sampler(self, app: web.Application) -> AsyncIterator[None]:
        if self.local:
            at, cpu, _ = await asyncio.to_thread(_read_host)
            self._host_start = Sample(at, cpu)

        async def loop() -> None:
            while True:
                await asyncio.sleep(self.resolution)
                for node in list(self.nodes):
                    try:
                        await self.summary(node)
                    except Exception as exc:  # the next round tries again
                        log.debug("node %s: stats reading failed: %s", node.name, exc)

        task = asyncio.ensure_future(loop())
        yield
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def handle(self, request: web.Request) -> web.Response:
        wanted = request.query.get("node", "")
        nodes = [n for n in self.nodes if n.name == wanted] if wanted else list(self.nodes)
        if len(nodes) != 1:
            message = (f'node "{wanted}" is not served here' if wanted else
                       f"this endpoint serves {len(nodes)} nodes: name one with ?node=")
            return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                                      "status": "Failure", "message": message,
                                      "reason": "NotFound" if wanted else "BadRequest",
                                      "code": 404 if wanted else 400},
                                     status=404 if wanted else 400)
        return web.json_response(await self.summary(nodes[0]))

    async def summary(self, node: ProcessNode) -> dict[str, Any]:
        targets = _targets(node)
        local = node.name in self.local
        now, readings, host = await asyncio.to_thread(_measure, targets, local)
        history = self._history.setdefault(node.name, {})
        pods: dict[str, dict[str, Any]] = {}
        total_rate = total_cpu = total_memory = 0
        for target in targets:
            reading = readings[target.key]
            rate, window = self._rate(history, target.key, now, reading.cpu_ns,
                                      Sample(target.started_at, 0))
            total_rate, total_cpu = total_rate + rate, total_cpu + reading.cpu_ns
            total_memory += reading.working_set
            md = target.pod["metadata"]
            entry = pods.setdefault(md["uid"], {
                "podRef": {"name": md["name"], "namespace": md.get("namespace", ""),
                           "uid": md["uid"]},
                "startTime": (target.pod.get("status") or {}).get("startTime")
                or rfc3339(target.started_at), "containers": []})
            entry["containers"].append({
                "name": target.name, "startTime": rfc3339(target.started_at),
                "cpu": _cpu(now, rate, reading.cpu_ns, window),
                "memory": {"time": rfc3339(now), "workingSetBytes": reading.working_set,
                           "rssBytes": reading.rss}})
        seen = {t.key for t in targets} | {"node"}
        for gone in [k for k in history if k not in seen]:
            del history[gone]  # containers that stopped: their readings go with them
        for entry in pods.values():
            _pod_totals(entry, now)
        if host is not None:
            at, cpu, memory = host
            start = self._host_start or Sample(self.started, cpu)
            rate, window = self._rate(history, "node", at, cpu, start)
            node_cpu = _cpu(at, rate, cpu, window)
            node_memory = {"time": rfc3339(at), **memory}
        else:
            _, window = self._rate(history, "node", now, 0, Sample(self.started, 0))
            node_cpu = _cpu(now, total_rate, total_cpu, window)
            node_memory = {"time": rfc3339(now), "workingSetBytes": total_memory,
                           "usageBytes": total_memory}
        return {"node": {"nodeName": node.name, "startTime": rfc3339(self.started),
                         "cpu": node_cpu, "memory": node_memory},
                "pods": list(pods.values())}

    def _rate(self, history: dict[Any, deque[Sample]], key: Any, now: float, cpu: int,
              start: Sample) -> tuple[int, float]:
        samples = history.setdefault(key, deque(maxlen=_HISTORY))
        earlier = window_start(samples, now, start)
        samples.append(Sample(now, cpu))
        return nanocores(earlier, Sample(now, cpu)), max(0.0, now - earlier.at)


def _targets(node: ProcessNode) -> list[Target]:
    out = []
    for worker in list(node.workers.values()):
        for name, run in list(worker.running.items()):
            record = run.instance.record
            if run.instance.exit is not None:
                continue
            out.append(Target((worker.uid, name, record.pid, record.start_ticks), worker.pod,
                              name, record.pid, record.cgroup, record.started_at))
    return out


def _pod_totals(entry: dict[str, Any], now: float) -> None:
    containers = entry["containers"]
    window = min(c["cpu"]["windowNanoSeconds"] for c in containers)
    entry["cpu"] = {"time": rfc3339(now),
                    "usageNanoCores": sum(c["cpu"]["usageNanoCores"] for c in containers),
                    "usageCoreNanoSeconds": sum(c["cpu"]["usageCoreNanoSeconds"]
                                                for c in containers),
                    "windowNanoSeconds": window}
    entry["memory"] = {"time": rfc3339(now),
                       "workingSetBytes": sum(c["memory"]["workingSetBytes"]
                                              for c in containers)}


def install(app: web.Application, nodes: list[ProcessNode], local: set[str],
            resolution: float) -> NodeStats:
    """Serve `/stats/summary` on the kubelet endpoint's app (before it starts)."""
    stats = NodeStats(nodes, local, resolution)
    stats.install(app)
    return stats

