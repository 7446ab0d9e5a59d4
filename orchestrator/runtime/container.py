"""Turning a container spec into a running instance, and running commands inside one.

`prepare` resolves everything a start needs (env, command, mounts, limits) or raises
`CannotStart` with the waiting reason and message a user sees; `exec_context` is what a
command run inside the container gets (its environment, working directory and, in bind mode,
mount namespace and root): `exec_in` runs one to completion for probes and hooks,
execproc.py serves `kubectl exec`.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from orchestrator.runtime import envs, limits
from orchestrator.runtime.process import Instance, proc_env
from orchestrator.runtime.volumes import MountPlan, VolumeError, plan_mounts

GPU_ANNOTATION = "daskhub-lite.io/gpu-devices"
# Variables of the control plane's own process that must not leak into pods.
_PRIVATE_ENV = ("KUBECONFIG",)


class CannotStart(Exception):
    def __init__(self, reason: str, message: str, retry: bool = True) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry = retry


@dataclass
class Prepared:
    argv: list[str]
    env: dict[str, str]
    cwd: str
    plan: MountPlan
    enforcement: limits.Enforcement
    log_path: Path
    # The container's own stdio (`stdin`, `stdinOnce`, `tty`): the shim keeps stdin open or
    # runs the command on a pty, for `kubectl attach`.
    stdin: bool = False
    stdin_once: bool = False
    tty: bool = False


@dataclass
class Running:
    """What exec needs about the current instance of a container."""
    instance: Instance
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = ""
    plan: MountPlan = field(default_factory=lambda: MountPlan("rewrite"))


def gpu_devices(pod: Mapping[str, Any]) -> str | None:
    """`0:1000,1:1000` → `0,1` (device index, then the share the scheduler gave)."""
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(GPU_ANNOTATION)
    if raw is None:
        return None
    indexes = []
    for part in str(raw).split(","):
        index = part.split(":", 1)[0].strip()
        if index and index not in indexes:
            indexes.append(index)
    return ",".join(indexes)


def injected_env(pod: Mapping[str, Any], api_host: str, api_port: str, kubeconfig: Path,
                 sa_dir: Path) -> dict[str, str]:
    """What the runtime gives every container before its own env (which may override)."""
    env = {
        "HOSTNAME": str((pod.get("spec") or {}).get("hostname")
                        or (pod.get("metadata") or {}).get("name", "")),
        "KUBERNETES_SERVICE_HOST": api_host, "KUBERNETES_SERVICE_PORT": api_port,
        "KUBERNETES_SERVICE_PORT_HTTPS": api_port,
        "KUBERNETES_PORT": f"tcp://{api_host}:{api_port}",
        "KUBERNETES_PORT_443_TCP": f"tcp://{api_host}:{api_port}",
        "KUBERNETES_PORT_443_TCP_PROTO": "tcp", "KUBERNETES_PORT_443_TCP_ADDR": api_host,
        "KUBERNETES_PORT_443_TCP_PORT": api_port,
        "KUBECONFIG": str(kubeconfig), "DASKHUB_LITE_SERVICEACCOUNT_DIR": str(sa_dir),
    }
    devices = gpu_devices(pod)
    if devices is not None:
        env["CUDA_VISIBLE_DEVICES"] = devices
        env["NVIDIA_VISIBLE_DEVICES"] = devices or "void"
    return env


def host_env() -> dict[str, str]:
    """The host environment, with this Python environment's scripts (`dask`, `kopf`,
    `jupyterhub`) first on PATH: the host environment stands in for the image, and a
    virtualenv used without activation would otherwise hide them."""
    env = {k: v for k, v in os.environ.items() if k not in _PRIVATE_ENV}
    scripts = os.path.dirname(sys.executable)
    path = env.get("PATH", os.defpath)
    if scripts not in path.split(os.pathsep):
        env["PATH"] = os.pathsep.join([scripts, path])
    return env


async def prepare(pod: Mapping[str, Any], container: Mapping[str, Any], lookup: envs.Lookup,
                  base: Mapping[str, str], allocatable: Mapping[str, str],
                  volumes: Mapping[str, Path], bind: bool, sa_dir: Path | None,
                  log_path: Path, instance_name: str,
                  default_cwd: Path | None = None) -> Prepared:
    name = container.get("name")
    try:
        own = await envs.build_env(pod, container, lookup, base, allocatable)
    except envs.ConfigError as exc:
        raise CannotStart("CreateContainerConfigError", str(exc)) from exc
    argv = [envs.expand(str(a), own) for a in (container.get("command") or [])]
    argv += [envs.expand(str(a), own) for a in (container.get("args") or [])]
    # With `args` but no `command`, the image's entrypoint would run the args; images such
    # as Dask's and Jupyter's use an entrypoint that execs its arguments, so the args are
    # the command here (the dask-kubernetes operator writes its pods that way).
    if not argv:
        raise CannotStart(
            "NoCommand",
            f'container "{name}" has no command: daskhub-lite records images but never pulls '
            f'or runs them (image "{container.get("image", "")}"), so set `command` (and '
            "`args`) to what the container should run on this machine", retry=False)
    try:
        plan = plan_mounts(container, volumes, bind, sa_dir)
    except VolumeError as exc:
        raise CannotStart("CreateContainerConfigError", str(exc)) from exc
    argv = [plan.rewrite(a) for a in argv]
    own = {k: plan.rewrite(v) for k, v in own.items()}
    # Without `workingDir` an image starts in its own WORKDIR; here that is a folder of
    # the pod's, never the control plane's current directory (a notebook server would
    # otherwise show, and write into, wherever `daskhub-lite up` was run).
    cwd = plan.rewrite(str(container.get("workingDir") or "")) or str(default_cwd or "")
    env = {**host_env(), **own}
    enforcement = limits.enforce(limits.container_limits(container), instance_name)
    tty = container.get("tty") is True
    if tty:
        env.setdefault("TERM", "xterm")  # as containerd gives a container with a terminal
    return Prepared(argv, env, cwd, plan, enforcement, log_path,
                    stdin=container.get("stdin") is True,
                    stdin_once=container.get("stdinOnce") is True, tty=tty)


def shim_spec(p: Prepared) -> dict[str, Any]:
    return {
        "command": p.argv, "env": p.env, "cwd": p.cwd or None, "log": str(p.log_path),
        "mounts": [{"source": m.source, "target": m.target, "readOnly": m.read_only}
                   for m in p.plan.mounts] if p.plan.mode == "bind" else [],
        "rlimits": p.enforcement.rlimits, "cgroup": p.enforcement.cgroup,
        "stdin": p.stdin, "stdinOnce": p.stdin_once, "tty": p.tty,
    }


def child_pid(instance: Instance) -> int | None:
    """The command's pid (the shim's child), from the file the shim writes once started."""
    try:
        return int(json.loads(Path(instance.record.start_file).read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def exec_context(run: Running) -> tuple[list[str], dict[str, str], str]:
    """Prefix, env and cwd for a command run inside `run`'s container."""
    pid = child_pid(run.instance)
    env = run.env or (proc_env(pid) if pid else {}) or host_env()
    cwd = run.cwd
    if not cwd and pid:
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            cwd = ""
    prefix: list[str] = []
    if run.instance.record.mount_mode == "bind" and pid:
        # The container's own root and working directory: its mount points exist only in its
        # namespace, and its root may be a copy it chrooted into (see mountpoints.py).
        prefix = ["nsenter", "-t", str(pid), "-m", "-r", "-w", "--"]
        cwd = ""
    return prefix, env, cwd


async def spawn_exec(run: Running, argv: list[str]) -> asyncio.subprocess.Process:
    prefix, env, cwd = exec_context(run)
    argv = [run.plan.rewrite(a) for a in argv]
    return await asyncio.create_subprocess_exec(
        *(prefix + argv), env=env, cwd=cwd or None, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=True)


async def exec_in(run: Running, argv: list[str], timeout: float) -> tuple[int, bytes]:
    """Run `argv` in the container to completion (probes, hooks): (exit code, output)."""
    proc = await spawn_exec(run, argv)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        await proc.wait()
        raise
    return int(proc.returncode or 0), out + err
