"""One pod's life on a process node: volumes, init containers, containers with restarts,
probes, status, graceful termination, and adoption after a control-plane restart.

A `PodWorker` owns one task per pod; each container has a supervisor coroutine. Status is
published by one coalescing writer so a burst of changes becomes one PATCH.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping, Protocol

from orchestrator.api import errors
from orchestrator.api.kinds import BUILTIN_TYPES
from orchestrator.client import Client, EventRecorder
from orchestrator.runtime import container as ctr
from orchestrator.runtime import eviction, limits, podfiles, process
from orchestrator.runtime.ephemeral import EphemeralContainers
from orchestrator.runtime.probes import ProbeLoop
from orchestrator.runtime.status import (
    HOST_IP,
    Backoff,
    ContainerState,
    pod_status,
    rfc3339,
    terminate_unstarted,
)
from orchestrator.runtime.volumes import MountPlan, VolumeBuilder, VolumeError

log = logging.getLogger(__name__)
PODS = next(rt for rt in BUILTIN_TYPES if rt.plural == "pods")
CONFIGMAPS = next(rt for rt in BUILTIN_TYPES if rt.plural == "configmaps")
SECRETS = next(rt for rt in BUILTIN_TYPES if rt.plural == "secrets")
_CONFIG_RETRY = 2.0  # seconds between tries of a container whose config is missing


@dataclass
class NodeContext:
    """What every pod worker on one node shares."""
    client: Client
    recorder: EventRecorder
    node_name: str
    data_dir: Path
    allocatable: dict[str, str]
    bind_mounts: bool
    backoff_base: float = 10.0
    backoff_cap: float = 300.0
    pod_network: "PodNetworkHook | None" = None
    # kubelet's containerLogMaxSize (10Mi) and containerLogMaxFiles (5): the shim rotates.
    log_max_bytes: int = 10 * 1024 * 1024
    log_max_files: int = 5


class PodAttachmentLike(Protocol):
    @property
    def ip(self) -> str: ...

    @property
    def env(self) -> dict[str, str]: ...

    @property
    def pythonpath(self) -> list[str]: ...


class PodNetworkHook(Protocol):
    """The pod network, handed in by the control plane (the runtime may not import it):
    `attach` gives a pod its address, the Service variables and the start-up hook folder;
    `detach` releases them once the pod's processes are gone."""

    def attach(self, pod: dict[str, Any]) -> PodAttachmentLike: ...

    def detach(self, pod: dict[str, Any]) -> None: ...


class PodWorker:
    def __init__(self, ctx: NodeContext, pod: dict[str, Any],
                 saved: dict[str, Any] | None = None) -> None:
        self.ctx = ctx
        self.pod = pod
        md = pod["metadata"]
        self.uid: str = md["uid"]
        self.namespace: str = md.get("namespace", "default")
        self.name: str = md["name"]
        self.folder = podfiles.pod_dir(ctx.data_dir, self.uid)
        self.attachment: PodAttachmentLike | None = None
        self.ip = HOST_IP
        spec = pod.get("spec") or {}
        self.policy = str(spec.get("restartPolicy", "Always"))
        self.init_specs: list[dict[str, Any]] = list(spec.get("initContainers") or [])
        self.specs: list[dict[str, Any]] = list(spec.get("containers") or [])
        self.init = [ContainerState(c["name"], c.get("image", "")) for c in self.init_specs]
        self.containers = [ContainerState(c["name"], c.get("image", "")) for c in self.specs]
        self.init_failed = False
        self.running: dict[str, ctr.Running] = {}
        self.enforcement: dict[str, limits.Enforcement] = {}
        self.volumes: dict[str, Path] = {}
        self.sa_dir = self.folder / "serviceaccount"
        self.kubeconfig = self.folder / "kubeconfig"
        self.start_time = time.time()
        self.saved = saved or {}
        self.terminating = False
        self.evicted = ""  # kubelet's eviction message, once evicted
        self._task: asyncio.Task[None] | None = None
        self._dirty = asyncio.Event()
        self._publisher: asyncio.Task[None] | None = None
        self._stop_task: asyncio.Task[None] | None = None
        self._mount_note_sent = False
        self._refresher: asyncio.Task[None] | None = None
        self.ephemeral = EphemeralContainers(self)
        self._posting = asyncio.Lock()

    # -- public --------------------------------------------------------------------------

    def start(self) -> None:
        self._publisher = asyncio.ensure_future(self._publish_loop())
        self._task = asyncio.ensure_future(self._run())

    def update(self, pod: dict[str, Any]) -> None:
        self.pod = pod
        self.ephemeral.sync()  # `kubectl debug` adds ephemeral containers to a running pod

    def container_state(self, name: str) -> ContainerState | None:
        return next((c for c in self.containers + self.init if c.name == name), None)

    def request_stop(self, grace: float, delete: bool) -> asyncio.Task[None]:
        """Begin graceful termination once; later calls return the same task."""
        if self._stop_task is None:
            self._stop_task = asyncio.ensure_future(self.terminate(grace, delete))
        return self._stop_task

    # -- life cycle ----------------------------------------------------------------------

    def _event(self, etype: str, reason: str, message: str) -> None:
        asyncio.ensure_future(self.ctx.recorder.record(self.pod, etype, reason, message))

    def _ref(self) -> str:
        return f"pod={self.name}_{self.namespace}({self.uid})"

    async def _lookup(self, kind: str, name: str) -> dict[str, Any] | None:
        rt = CONFIGMAPS if kind == "ConfigMap" else SECRETS
        try:
            return await self.ctx.client.get(rt, name, self.namespace)
        except errors.NotFound:
            return None

    async def _run(self) -> None:
        try:
            await self._prepare_pod()
            self._restore()
            self.ephemeral.ready()
            self._publish()
            if not self.saved.get("initDone"):
                for spec, state in zip(self.init_specs, self.init):
                    if not await self._supervise(spec, state, init=True):
                        self.init_failed = True
                        self._publish()
                        return
            else:
                for state in self.init:
                    state.done = True
                    state.terminated(0, "Completed", self.start_time, self.start_time)
            self.saved["initDone"] = True
            self._save()
            await asyncio.gather(*(self._supervise(spec, state, init=False)
                                   for spec, state in zip(self.specs, self.containers)))
            self._publish()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pod %s/%s: runtime failure", self.namespace, self.name)

    async def _prepare_pod(self) -> None:
        """Folders, credentials and volumes; a missing ConfigMap/Secret is retried."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.ctx.pod_network is not None and self.attachment is None:
            self.attachment = self.ctx.pod_network.attach(self.pod)
            self.ip = self.attachment.ip
        await self._write_credentials()
        delay = 1.0
        while True:
            builder = VolumeBuilder(self.pod, self.folder, self.ctx.data_dir, self._lookup,
                                    self.ctx.allocatable, self.sa_dir)
            try:
                self.volumes = await builder.build()
                return
            except VolumeError as exc:
                self._event("Warning", "FailedMount", str(exc))
                for state in self.init + self.containers:
                    state.waiting("ContainerCreating")
                self._publish()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _write_credentials(self) -> None:
        """The pod's own service-account token (never the control plane's), refreshed
        before it expires; waits while the account is not yet created."""
        delay = 0.2
        while True:
            try:
                credentials, refresh_at = await podfiles.pod_credentials(self.ctx.client,
                                                                         self.pod)
                break
            except errors.NotFound as exc:
                if delay >= 2.0:
                    for state in self.init + self.containers:
                        state.waiting("ContainerCreating", str(exc))
                    self._publish()
            except errors.APIError as exc:
                log.warning("pod %s/%s: token request failed: %s", self.namespace, self.name,
                            exc)
            except Exception as exc:  # the API is restarting: try again shortly
                log.debug("pod %s/%s: token request failed: %s", self.namespace, self.name,
                          exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
        self.sa_dir, self.kubeconfig = podfiles.write_credentials(
            self.folder, credentials, self.namespace)
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.ensure_future(self._refresh_credentials(refresh_at))

    async def _refresh_credentials(self, refresh_at: float) -> None:
        await asyncio.sleep(max(1.0, refresh_at - time.time()))
        self._refresher = None
        await self._write_credentials()

    def _restore(self) -> None:
        """Adopt live instances recorded by an earlier control plane; note dead ones."""
        saved = self.saved.get("containers") or {}
        for state in self.init + self.containers:
            entry = saved.get(state.name)
            if not entry:
                continue
            state.restart_count = int(entry.get("restartCount", 0))
            if entry.get("lastState"):
                state.last_state = entry["lastState"]
            raw = entry.get("instance")
            if not raw:
                continue
            record = process.InstanceRecord.from_json(raw)
            instance = process.Instance(record)
            if process.alive(record):
                self.running[state.name] = ctr.Running(instance, plan=_plan_of(record))
                state.container_id = instance.container_id
                state.state = {"running": {"startedAt": rfc3339(record.started_at)}}
                state.started = True
                log.info("pod %s/%s: adopted container %s (pid %d)", self.namespace,
                         self.name, state.name, record.pid)
            else:
                info = process.read_exit(record, None)
                state.container_id = instance.container_id
                state.terminated(info.exit_code, info.reason, record.started_at,
                                 info.finished_at, info.message)

    def _save(self) -> None:
        containers = {}
        for state in self.init + self.containers:
            run = self.running.get(state.name)
            containers[state.name] = {
                "restartCount": state.restart_count, "lastState": state.last_state,
                "instance": run.instance.record.to_json() if run else None}
        podfiles.write_state(self.folder, {
            "uid": self.uid, "namespace": self.namespace, "name": self.name,
            "node": self.ctx.node_name, "initDone": bool(self.saved.get("initDone")),
            "containers": containers})

    async def _supervise(self, spec: dict[str, Any], state: ContainerState, init: bool
                         ) -> bool:
        """Run one container until it is done for good; returns whether it succeeded."""
        backoff = Backoff(self.ctx.backoff_base, self.ctx.backoff_cap)
        while True:
            run = self.running.get(state.name)
            if run is None and "terminated" not in state.state:
                run = await self._start(spec, state)
                if run is None:
                    continue  # _start waited before returning; try again
            if run is not None:
                info = await self._watch(spec, state, run, init)
                ran_for = info.finished_at - run.instance.record.started_at
            else:
                ran_for = 0.0  # a dead instance found at adoption
            code = state.exit_code or 0
            if self.policy == "Never" or (self.policy == "OnFailure" and code == 0) or (
                    init and code == 0):
                state.done = True
                self._save()
                self._publish()
                return code == 0
            delay = backoff.next_delay(ran_for)
            state.retire()
            if delay > 0:
                state.waiting("CrashLoopBackOff",
                              f"back-off {_human(delay)} restarting failed container="
                              f"{state.name} {self._ref()}")
                self._event("Warning", "BackOff", f"Back-off restarting failed container "
                            f"{state.name} in pod {self.name}_{self.namespace}({self.uid})")
                self._publish()
                await asyncio.sleep(delay)

    async def _start(self, spec: dict[str, Any], state: ContainerState) -> ctr.Running | None:
        base = ctr.injected_env(self.pod, *podfiles.api_host_port(self.ctx.client.credentials),
                                self.kubeconfig, self.sa_dir)
        # A container's temporary files are its own (an image's /tmp is), and go with the
        # pod: never the host's temporary folder, which `daskhub-lite up` would leave full.
        base["TMPDIR"] = str(self._private_folder("tmp"))
        if self.attachment is not None:
            base.update(self.attachment.env)
            base["DASKHUB_LITE_POD_IP"] = self.ip
            paths = list(self.attachment.pythonpath)
            if os.environ.get("PYTHONPATH"):
                paths.append(os.environ["PYTHONPATH"])
            base["PYTHONPATH"] = os.pathsep.join(paths)
        attempt = state.restart_count + (1 if state.restarting else 0)
        log_path = podfiles.log_path(self.folder, state.name, attempt)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        automount = (self.pod.get("spec") or {}).get("automountServiceAccountToken", True)
        try:
            prepared = await ctr.prepare(
                self.pod, spec, self._lookup, base, self.ctx.allocatable, self.volumes,
                self.ctx.bind_mounts, self.sa_dir if automount is not False else None,
                log_path, f"{self.uid}-{state.name}-{attempt}", self._workdir())
        except ctr.CannotStart as exc:
            already = state.state.get("waiting", {}).get("reason") == exc.reason
            state.waiting(exc.reason, exc.message)
            if not already:
                self._event("Warning", "Failed", f"Error: {exc.message}")
            self._publish()
            if not exc.retry:
                await asyncio.Event().wait()  # until the pod is deleted
            await asyncio.sleep(_CONFIG_RETRY)
            return None
        podfiles.prune_logs(self.folder, state.name, attempt - 1)
        self._note_mounts(prepared)
        self.enforcement[state.name] = prepared.enforcement
        spec_for_shim = {**ctr.shim_spec(prepared), "logMaxBytes": self.ctx.log_max_bytes,
                         "logMaxFiles": self.ctx.log_max_files}
        instance = await process.launch(spec_for_shim,
                                        self.folder / "run" / f"{state.name}-{attempt}",
                                        self.ctx.bind_mounts)
        run = ctr.Running(instance, prepared.env, prepared.cwd, prepared.plan)
        self.running[state.name] = run
        state.running(instance.record.started_at, instance.container_id)
        state.started = not spec.get("startupProbe")
        state.ready = state.started and not spec.get("readinessProbe")
        self._save()
        if state.restart_count == 0:
            self._event("Normal", "Pulled", f'Container image "{spec.get("image", "")}" '
                        "already present on machine")
        self._event("Normal", "Created", f"Created container: {state.name}")
        self._event("Normal", "Started", f"Started container {state.name}")
        self._publish()
        return run

    def _note_mounts(self, prepared: ctr.Prepared) -> None:
        if self._mount_note_sent:
            return
        self._mount_note_sent = True
        how = ("bind-mounted at their mountPath in a private mount namespace"
               if prepared.plan.mode == "bind" else
               "folders; mount paths in command, args and env rewritten to them")
        message = f"volumes: {how}"
        if prepared.enforcement.note:
            message += f"; limits: {prepared.enforcement.note}"
        self._event("Normal", "RuntimeNotes", message)

    async def _watch(self, spec: dict[str, Any], state: ContainerState, run: ctr.Running,
                     init: bool) -> process.ExitInfo:
        """Probes while the instance runs; then its terminated state."""
        probes = [] if init else self._probes(spec, state, run)
        try:
            info = await run.instance.wait()
        finally:
            for task in probes:
                task.cancel()
        enforcement = self.enforcement.get(state.name)
        reason = info.reason
        if enforcement is not None and limits.oom_killed(enforcement):
            reason = "OOMKilled"
        if enforcement is not None:
            limits.release(enforcement)
        state.terminated(info.exit_code, reason, run.instance.record.started_at,
                         info.finished_at, info.message, info.signal)
        if reason == "StartError":
            self._event("Warning", "Failed", f"Error: failed to start container "
                        f'"{state.name}": {info.message}')
        self.running.pop(state.name, None)
        self._save()
        self._publish()
        return info

    def _probes(self, spec: dict[str, Any], state: ContainerState, run: ctr.Running
                ) -> list[asyncio.Task[None]]:
        host = self.ip
        started = asyncio.Event()
        if state.started:
            started.set()

        async def exec_fn(argv: list[str], timeout: float) -> tuple[int, bytes]:
            return await ctr.exec_in(run, argv, timeout)

        async def failed(kind: str, message: str) -> None:
            self._event("Warning", "Unhealthy", f"{kind} probe failed: {message}")

        async def on_startup(ok: bool, message: str) -> None:
            if ok:
                state.started = True
                state.ready = not spec.get("readinessProbe")
                started.set()
                self._publish()
            else:
                self._event("Normal", "Killing", f"Container {state.name} failed startup "
                            "probe, will be restarted")
                asyncio.ensure_future(process.stop_group(run.instance, _grace(self.pod)))

        async def on_liveness(ok: bool, message: str) -> None:
            if not ok:
                self._event("Normal", "Killing", f"Container {state.name} failed liveness "
                            "probe, will be restarted")
                asyncio.ensure_future(process.stop_group(run.instance, _grace(self.pod)))

        async def on_readiness(ok: bool, message: str) -> None:
            state.ready = ok
            self._publish()

        async def after_startup(loop: ProbeLoop) -> None:
            await started.wait()
            await loop.run()

        def reporter(kind: str) -> Callable[[str], Awaitable[None]]:
            return lambda message: failed(kind, message)

        tasks = []
        if spec.get("startupProbe"):
            tasks.append(asyncio.ensure_future(ProbeLoop(
                "Startup", spec["startupProbe"], spec, host, exec_fn, on_startup,
                reporter("Startup")).run()))
        for key, kind, handler in (("livenessProbe", "Liveness", on_liveness),
                                   ("readinessProbe", "Readiness", on_readiness)):
            if spec.get(key):
                loop = ProbeLoop(kind, spec[key], spec, host, exec_fn, handler, reporter(kind))
                tasks.append(asyncio.ensure_future(after_startup(loop)))
        return tasks

    # -- status --------------------------------------------------------------------------

    def _publish(self) -> None:
        self._dirty.set()

    async def _publish_loop(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(0.05)  # coalesce a burst of changes
            self._dirty.clear()
            if self.terminating:
                continue
            status = pod_status(self.pod, self.init, self.init_failed, self.containers,
                                self.start_time, self.ip)
            if self.evicted:
                eviction.mark_evicted(status, self.evicted, rfc3339(time.time()))
            try:
                updated = await self.ctx.client.patch(PODS, self.name, {"status": status},
                                                      self.namespace, subresource="status")
                if updated.get("metadata", {}).get("uid") == self.uid:
                    self.pod = updated
            except errors.NotFound:
                return
            except Exception as exc:  # the API is restarting: try again shortly
                log.debug("pod %s/%s: status update failed: %s", self.namespace, self.name,
                          exc)
                await asyncio.sleep(0.5)
                self._dirty.set()

    # -- eviction ------------------------------------------------------------------------

    def evictable(self) -> bool:
        return not self.terminating and not self.evicted and bool(self.running) and \
            eviction.has_limits(self.pod)

    def evict(self, message: str) -> asyncio.Task[None]:
        """As kubelet evicts for local storage: kill every container at once (no grace),
        keep the pod object, Failed with reason Evicted."""
        if self._stop_task is None:
            self.evicted = message
            self._stop_task = asyncio.ensure_future(self._evict(message))
        return self._stop_task

    async def _evict(self, message: str) -> None:
        log.info("pod %s/%s: evicted: %s", self.namespace, self.name, message)
        self._event("Warning", "Evicted", message)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        runs = list(self.running.items())
        for name, _ in runs:
            self._event("Normal", "Killing", f"Stopping container {name}")
        await asyncio.gather(*(process.stop_group(run.instance, 0.0) for _, run in runs))
        for name, run in runs:
            state = self.container_state(name)
            info = await run.instance.wait()
            if state is not None:
                state.terminated(info.exit_code, info.reason, run.instance.record.started_at,
                                 info.finished_at, info.message, info.signal)
                state.ready = False
        self.running.clear()
        for enforcement in self.enforcement.values():
            limits.release(enforcement)
        # The kubelet tears down a terminated pod's volumes: the space comes back now.
        podfiles.remove(self.folder / "volumes" / "empty-dir")
        self._save()
        self._publish()

    # -- termination ---------------------------------------------------------------------

    async def terminate(self, grace: float, delete: bool) -> None:
        """preStop hooks, SIGTERM, wait up to `grace`, SIGKILL; then remove the pod.

        Deleting, it posts what kubelet posts on the way (syncTerminatingPod): each
        container's terminated state as it exits, so Ready and ContainersReady go False,
        then the terminal phase (TerminatePod), and only then removes the pod. Its logs stay
        readable until it is gone."""
        self.terminating = True
        if delete and self._publisher is not None:
            self._publisher.cancel()  # statuses are posted here from now on, in order
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        deadline = time.monotonic() + grace
        live = [(name, run) for name, run in self.running.items()
                if process.alive(run.instance.record)]
        for name, _ in live:
            self._event("Normal", "Killing", f"Stopping container {name}")
        await asyncio.gather(*(self._stop_one(name, run, deadline, report=delete)
                               for name, run in live))
        if self._publisher is not None:
            self._publisher.cancel()
        if self._refresher is not None:
            self._refresher.cancel()
        for enforcement in self.enforcement.values():
            limits.release(enforcement)
        if not delete:
            self.running.clear()
            return
        self.running.clear()
        await self._post_status(terminal=True)
        held = False
        try:
            left = await self.ctx.client.delete(PODS, self.name, self.namespace,
                                                grace_period=0, uid=self.uid)
            # A finalizer keeps the pod: its logs stay until it goes (the agent's _gone).
            held = bool(((left or {}).get("metadata") or {}).get("finalizers"))
        except (errors.NotFound, errors.Conflict):
            pass
        self.release_network()
        if not held:
            podfiles.remove(self.folder)

    def _workdir(self) -> Path:
        return self._private_folder("workdir")

    def _private_folder(self, name: str) -> Path:
        folder = self.folder / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def release_network(self) -> None:
        if self.ctx.pod_network is not None and self.attachment is not None:
            self.ctx.pod_network.detach(self.pod)
            self.attachment = None

    async def _post_status(self, terminal: bool = False) -> None:
        """Post the status now (the publisher is stopped while terminating). `terminal`:
        the pod will run nothing more, so it gets a terminal phase and a container that
        never ran a terminated state, as kubelet's TerminatePod gives them."""
        async with self._posting:
            if terminal:
                terminate_unstarted(self.init, self.containers)
            status = pod_status(self.pod, self.init, self.init_failed, self.containers,
                                self.start_time, self.ip, terminal=terminal)
            try:
                updated = await self.ctx.client.patch(PODS, self.name, {"status": status},
                                                      self.namespace, subresource="status")
            except errors.APIError as exc:  # gone, or the API restarting: deleted anyway
                log.debug("pod %s/%s: terminating status not posted: %s", self.namespace,
                          self.name, exc)
                return
            if updated.get("metadata", {}).get("uid") == self.uid:
                self.pod = updated

    async def _report_exit(self, name: str, run: ctr.Running) -> None:
        info = await run.instance.wait()
        state = self.container_state(name)
        if state is None:
            return
        enforcement = self.enforcement.get(name)
        oom = enforcement is not None and limits.oom_killed(enforcement)
        state.terminated(info.exit_code, "OOMKilled" if oom else info.reason,
                         run.instance.record.started_at, info.finished_at, info.message,
                         info.signal)
        state.done = True
        self.running.pop(name, None)
        await self._post_status()

    async def _stop_one(self, name: str, run: ctr.Running, deadline: float,
                        report: bool = False) -> None:
        spec = next((c for c in self.specs + self.init_specs if c["name"] == name), {})
        pre_stop = ((spec.get("lifecycle") or {}).get("preStop")) or {}
        if "exec" in pre_stop:
            argv = [str(a) for a in (pre_stop["exec"] or {}).get("command") or []]
            try:
                await ctr.exec_in(run, argv, max(0.1, deadline - time.monotonic()))
            except (asyncio.TimeoutError, OSError) as exc:
                self._event("Warning", "FailedPreStopHook", f"PreStopHook failed: {exc}")
        elif "sleep" in pre_stop:
            seconds = float((pre_stop["sleep"] or {}).get("seconds", 0))
            await asyncio.sleep(min(seconds, max(0.0, deadline - time.monotonic())))
        await process.stop_group(run.instance, max(0.0, deadline - time.monotonic()))
        if report:
            await self._report_exit(name, run)

    def kill_now(self) -> None:
        """Last resort (the pod object is gone): SIGKILL every instance's group."""
        for run in self.running.values():
            run.instance.signal(signal.SIGKILL)


def _grace(pod: Mapping[str, Any]) -> float:
    return float((pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))


def _plan_of(record: process.InstanceRecord) -> MountPlan:
    return MountPlan(record.mount_mode)


def _human(seconds: float) -> str:
    if seconds >= 60:
        minutes, rest = divmod(int(seconds), 60)
        return f"{minutes}m{rest}s"
    return f"{seconds:g}s"

