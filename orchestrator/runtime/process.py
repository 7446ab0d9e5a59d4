"""Starting, watching and signalling one container instance (a shim and its command).

An instance is identified by the shim's pid and the kernel's start time for that pid, so a
restarted control plane can tell its own live processes from a recycled pid. The shim is the
leader of a new session and process group; signals go to the whole group.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from orchestrator.runtime import attachsock
from orchestrator.runtime import shim as shim_module

SHIM = str(Path(shim_module.__file__).resolve())
_POLL = 0.5


@dataclass
class ExitInfo:
    exit_code: int
    reason: str  # Completed | Error | OOMKilled | StartError
    message: str = ""
    finished_at: float = 0.0
    signal: int = 0


@dataclass
class InstanceRecord:
    """What the state file keeps about one instance (enough to adopt or report it)."""
    pid: int
    start_ticks: int
    started_at: float
    log_path: str
    exit_file: str
    start_file: str
    mount_mode: str
    cgroup: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "InstanceRecord":
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})  # type: ignore[arg-type]


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot; None when gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def alive(record: InstanceRecord) -> bool:
    return start_ticks(record.pid) == record.start_ticks


def signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


class Instance:
    """One run of a container: started here (`proc` set) or adopted (polled)."""

    def __init__(self, record: InstanceRecord,
                 proc: asyncio.subprocess.Process | None = None) -> None:
        self.record = record
        self.proc = proc
        self.exit: ExitInfo | None = None

    @property
    def pid(self) -> int:
        return self.record.pid

    @property
    def container_id(self) -> str:
        return f"process://{self.record.pid}"

    async def wait(self) -> ExitInfo:
        if self.exit is not None:
            return self.exit
        returncode: int | None = None
        if self.proc is not None:
            returncode = await self.proc.wait()
        else:
            while alive(self.record):
                await asyncio.sleep(_POLL)
        self.exit = read_exit(self.record, returncode)
        return self.exit

    def signal(self, sig: int) -> None:
        signal_group(self.record.pid, sig)


def read_exit(record: InstanceRecord, returncode: int | None) -> ExitInfo:
    """The exit the shim recorded; else what the shim's own end says (it was killed)."""
    try:
        data = json.loads(Path(record.exit_file).read_text())
        code = int(data.get("exitCode", 0))
        reason = data.get("reason") or ("Completed" if code == 0 else "Error")
        return ExitInfo(code, reason, data.get("message", ""),
                        float(data.get("finishedAt") or time.time()), int(data.get("signal", 0)))
    except (OSError, ValueError):
        pass
    if returncode is not None and returncode < 0:
        return ExitInfo(128 - returncode, "Error", finished_at=time.time(), signal=-returncode)
    if returncode is not None:
        return ExitInfo(returncode, "Completed" if returncode == 0 else "Error",
                        finished_at=time.time())
    # Adopted and gone without a record: the shim itself was killed (SIGKILL of the group).
    return ExitInfo(137, "Error", "the container's process ended without recording an exit "
                    "code", time.time(), signal=9)


async def launch(spec: dict[str, Any], instance_dir: Path, bind_mounts: bool) -> Instance:
    """Start the shim for `spec` (see shim.py) and return the running instance."""
    instance_dir.mkdir(parents=True, exist_ok=True)
    spec = dict(spec)
    spec["exitFile"] = str(instance_dir / "exit.json")
    spec["startFile"] = str(instance_dir / "start.json")
    spec["attachSocket"] = str(instance_dir / attachsock.SOCKET_NAME)
    if bind_mounts:
        # Where the shim builds the tmpfs copies that hold mount points missing on the host,
        # and the namespace it must not be in when it mounts (see mountpoints.py).
        spec["mountStage"] = str(instance_dir / "mounts")
        spec["hostMountNamespace"] = os.readlink("/proc/self/ns/mnt")
    for stale in (spec["exitFile"], spec["startFile"]):
        Path(stale).unlink(missing_ok=True)
    spec_path = instance_dir / "spec.json"
    fd = os.open(spec_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(spec, fh)
    argv = [sys.executable, "-S", SHIM, str(spec_path)]
    if bind_mounts:
        argv = ["unshare", "-m", "--propagation", "private", "--"] + argv
    with open(instance_dir / "shim.log", "ab") as shim_log:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=shim_log, start_new_session=True)
    ticks = start_ticks(proc.pid) or 0
    record = InstanceRecord(pid=proc.pid, start_ticks=ticks, started_at=time.time(),
                            log_path=spec["log"], exit_file=spec["exitFile"],
                            start_file=spec["startFile"],
                            mount_mode="bind" if bind_mounts else "rewrite",
                            cgroup=spec.get("cgroup"))
    return Instance(record, proc)


async def stop_group(instance: Instance, grace: float) -> None:
    """SIGTERM the group, wait up to `grace` seconds, then SIGKILL whatever is left."""
    instance.signal(signal.SIGTERM)
    waiter = asyncio.ensure_future(instance.wait())
    try:
        await asyncio.wait_for(asyncio.shield(waiter), timeout=max(0.0, grace))
    except asyncio.TimeoutError:
        pass
    instance.signal(signal.SIGKILL)
    # The command may have exited while grandchildren linger in the group: kill them too.
    await waiter
    signal_group(instance.pid, signal.SIGKILL)


def proc_env(pid: int) -> dict[str, str]:
    """The environment a live process started with (for exec into a container)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    out = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            out[key.decode(errors="replace")] = value.decode(errors="replace")
    return out
