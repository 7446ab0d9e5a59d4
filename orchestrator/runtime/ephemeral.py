"""A pod's ephemeral containers (`kubectl debug`), as kubelet runs them.

Each one found added to `spec.ephemeralContainers` is started once, in the pod's context
(its volumes, network, service-account credentials, as the pod's other containers, through
the pod worker's own start), and never restarted; its state is reported in
`status.ephemeralContainerStatuses` (a status patch of that field alone, so the pod worker's
own status posts leave it be). Running instances sit in the worker's `running` table with the
other containers', so exec, attach, logs and the pod's termination reach them.

What is missing: `targetContainerName` asks for the target container's process namespace;
this runtime gives no container a process namespace of its own, so an ephemeral container
sees the host's processes (the target's among them), and a RuntimeNotes Event says so.

`ephemeral.json` in the pod's folder records every instance started (started once means
never again), so a restarted control plane adopts the live ones and the node's clean-up of a
deleted pod's leftovers finds them (`saved_instances`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.api import errors
from orchestrator.api.kinds import BUILTIN_TYPES
from orchestrator.runtime import container as ctr
from orchestrator.runtime import limits, process
from orchestrator.runtime.status import ContainerState
from orchestrator.runtime.volumes import MountPlan

if TYPE_CHECKING:
    from orchestrator.runtime.pod import PodWorker

log = logging.getLogger(__name__)
RECORD = "ephemeral.json"
PODS = next(rt for rt in BUILTIN_TYPES if rt.plural == "pods")


def saved_instances(folder: Path) -> list[process.InstanceRecord]:
    """The ephemeral container instances a pod folder records."""
    try:
        data = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return []
    return [process.InstanceRecord.from_json(entry["instance"])
            for entry in data.values() if isinstance(entry, dict) and entry.get("instance")]


class EphemeralContainers:
    def __init__(self, worker: "PodWorker") -> None:
        self.worker = worker
        self.states: dict[str, ContainerState] = {}
        self._records: dict[str, dict[str, Any]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._ready = False
        self._dirty = asyncio.Event()
        self._publisher: asyncio.Task[None] | None = None

    @property
    def _file(self) -> Path:
        return self.worker.folder / RECORD

    def adopt(self) -> None:
        """Take over what an earlier control plane started (once)."""
        if self._records:
            return
        try:
            self._records = json.loads(self._file.read_text())
        except (OSError, ValueError):
            self._records = {}
        for name, entry in self._records.items():
            if name not in self.states and isinstance(entry, dict):
                self._adopt(name, entry)

    def ready(self) -> None:
        """The pod's volumes and credentials exist: adopt, then start what is new."""
        self._ready = True
        self.adopt()
        self.sync()

    def sync(self) -> None:
        """After every change of the pod: start the ephemeral containers not seen before."""
        worker = self.worker
        if worker.terminating or (worker.pod.get("metadata") or {}).get("deletionTimestamp"):
            # The pod's termination stops the running ones; what still waits to start won't.
            for task in self._tasks.values():
                task.cancel()
            if self._publisher is not None:
                self._publisher.cancel()
            return
        if not self._ready:
            return
        for spec in (worker.pod.get("spec") or {}).get("ephemeralContainers") or []:
            name = spec.get("name") if isinstance(spec, dict) else None
            if not name or name in self.states:
                continue
            state = ContainerState(name, str(spec.get("image", "")))
            self.states[name] = state
            self._tasks[name] = asyncio.ensure_future(self._run(dict(spec), state))
        self._publish()

    def _adopt(self, name: str, entry: dict[str, Any]) -> None:
        state = ContainerState(name, str(entry.get("image", "")))
        self.states[name] = state
        raw = entry.get("instance")
        if not raw:
            state.terminated(128, "StartError", 0, 0, "never started")
            state.done = True
            return
        record = process.InstanceRecord.from_json(raw)
        instance = process.Instance(record)
        state.container_id = instance.container_id
        if process.alive(record):
            run = ctr.Running(instance, plan=MountPlan(record.mount_mode))
            self.worker.running[name] = run
            state.running(record.started_at, instance.container_id)
            self._tasks[name] = asyncio.ensure_future(self._watch(name, state, run))
        else:
            info = process.read_exit(record, None)
            state.terminated(info.exit_code, info.reason, record.started_at, info.finished_at,
                             info.message, info.signal)
            state.done = True

    async def _run(self, spec: dict[str, Any], state: ContainerState) -> None:
        name = state.name
        self._records[name] = {"image": state.image, "instance": None}
        self._save()
        if spec.get("targetContainerName"):
            self.worker._event(
                "Normal", "RuntimeNotes",
                f"ephemeral container {name}: targetContainerName "
                f"{spec['targetContainerName']}: this runtime gives no container a process "
                "namespace of its own, so it shares the host's (the target's processes are "
                "visible with every other)")
        run = None
        while run is None:  # a missing ConfigMap or Secret is waited for, as for any container
            run = await self.worker._start(spec, state)
            self._publish()
        self._records[name]["instance"] = run.instance.record.to_json()
        self._save()
        await self._watch(name, state, run)

    async def _watch(self, name: str, state: ContainerState, run: ctr.Running) -> None:
        self._publish()
        info = await run.instance.wait()
        reason = info.reason
        enforcement = self.worker.enforcement.get(name)
        if enforcement is not None:
            if limits.oom_killed(enforcement):
                reason = "OOMKilled"
            limits.release(enforcement)
        state.terminated(info.exit_code, reason, run.instance.record.started_at,
                         info.finished_at, info.message, info.signal)
        state.done = True
        if self.worker.running.get(name) is run:
            del self.worker.running[name]
        self._publish()

    def _save(self) -> None:
        tmp = self._file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(self._records, fh)
        os.replace(tmp, self._file)

    def statuses(self) -> list[dict[str, Any]]:
        out = []
        for state in self.states.values():
            status = state.to_status()
            status["ready"] = False  # ephemeral containers never count for readiness
            out.append(status)
        return out

    def _publish(self) -> None:
        if not self.states or self.worker.terminating:
            return
        self._dirty.set()
        if self._publisher is None or self._publisher.done():
            self._publisher = asyncio.ensure_future(self._publish_loop())

    async def _publish_loop(self) -> None:
        """One post at a time, the latest states each time (a burst becomes one post)."""
        worker = self.worker
        while True:
            await self._dirty.wait()
            await asyncio.sleep(0.05)
            self._dirty.clear()
            if worker.terminating:
                return
            try:
                await worker.ctx.client.patch(
                    PODS, worker.name, {"status": {
                        "ephemeralContainerStatuses": self.statuses()}},
                    worker.namespace, subresource="status")
            except errors.NotFound:
                return
            except Exception as exc:  # the API is restarting: try again shortly
                log.debug("pod %s/%s: ephemeral container status not posted: %s",
                          worker.namespace, worker.name, exc)
                await asyncio.sleep(0.5)
                self._dirty.set()
