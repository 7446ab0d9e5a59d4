"""The container shim: one small process per container instance, like CRI-O's conmon.

Run as `python -S shim.py SPEC.json` (stdlib only: it must start fast and must not import the
control plane). It outlives the control plane, which is what lets a restarted control plane
adopt running containers: the shim, not the control plane, owns the container's pipes, writes
its output to the log file in the CRI format (`<RFC3339Nano> stdout|stderr F|P <text>`, which
gives `timestamps` and `sinceSeconds` for free), and records the exit code in a file.

The log is rotated as kubelet rotates container logs (containerLogMaxSize, default 10Mi;
containerLogMaxFiles, default 5, the current file included): past the size the current file
becomes `<n>.log.<UTC timestamp>` and the oldest rotated files go. A write the disk refuses
(full) is dropped, never allowed to block the container on its pipe.

Before starting the command it joins the pod's cgroup, makes the volume mounts (when started
in a private mount namespace by `unshare`; see mountpoints.py), and sets rlimits in the child
only.

With `stdin: true` the shim keeps the command's stdin open (a pipe it owns), and with
`tty: true` the command runs on a pty whose master the shim holds (ptys.py); either way
`kubectl attach` reaches the container through the shim's attach socket (attachsock.py),
which every container has, for its output at least. A tty command leads its own session (it
needs one for a controlling terminal), so the shim forwards the termination signals to it.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from typing import Any, BinaryIO

if __package__:  # imported by the control plane (for this file's path) or by tests
    from orchestrator.runtime import attachsock, mountpoints, ptys
else:  # run as `python -S shim.py`: the sibling file, without the control plane's package
    import attachsock  # type: ignore[import-not-found, no-redef]
    import mountpoints  # type: ignore[import-not-found, no-redef]
    import ptys  # type: ignore[import-not-found, no-redef]

_CHUNK = 16384


def rfc3339_nano(moment: float | None = None) -> str:
    t = time.time() if moment is None else moment
    whole = int(t)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((t - whole) * 1e9):09d}Z"


class LogWriter:
    """Serialises lines from both streams into one CRI-format file, rotated by size."""

    def __init__(self, path: str, max_bytes: int = 10 * 1024 * 1024, max_files: int = 5
                 ) -> None:
        self._path = path
        self._max_bytes = max_bytes
        self._max_files = max(2, max_files)
        self._fh = open(path, "ab", buffering=0)
        self._size = self._fh.tell()
        self._lock = threading.Lock()
        self.dropped = 0

    def line(self, stream: str, data: bytes, partial: bool = False) -> None:
        tag = b"P" if partial else b"F"
        record = rfc3339_nano().encode() + b" " + stream.encode() + b" " + tag + b" " + data + b"\n"
        with self._lock:
            try:
                if self._max_bytes > 0 and self._size > 0 and \
                        self._size + len(record) > self._max_bytes:
                    self._rotate()
                self._fh.write(record)
                self._size += len(record)
            except OSError:  # a full disk: drop the line, keep draining the pipe
                self.dropped += 1

    def _rotate(self) -> None:
        self._fh.close()
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        target = f"{self._path}.{stamp}"
        n = 0
        while os.path.exists(target):  # more than one rotation within a second
            n += 1
            target = f"{self._path}.{stamp}.{n}"
        os.replace(self._path, target)
        self._fh = open(self._path, "ab", buffering=0)
        self._size = 0
        rotated = rotated_logs(self._path)
        for old in rotated[:max(0, len(rotated) - (self._max_files - 1))]:
            try:
                os.unlink(old)
            except OSError:
                pass


def rotated_logs(path: str) -> list[str]:
    """The rotated files of one log, oldest first."""
    folder, base = os.path.split(path)
    names = [n for n in os.listdir(folder or ".") if n.startswith(base + ".")]
    return [os.path.join(folder, n) for n in sorted(names, key=_rotation_key)]


def _rotation_key(name: str) -> tuple[str, int]:
    parts = name.rsplit(".", 2)
    # <n>.log.<stamp> or <n>.log.<stamp>.<k>
    if len(parts) == 3 and parts[2].isdigit() and "-" in parts[1]:
        return parts[1], int(parts[2])
    return parts[-1], 0


def pump(pipe: BinaryIO | int, stream: str, out: LogWriter,
         attached: "attachsock.AttachServer | None" = None) -> None:
    fd = pipe if isinstance(pipe, int) else pipe.fileno()
    channel = attachsock.STDOUT if stream == "stdout" else attachsock.STDERR
    buffered = b""
    while True:
        try:
            chunk = os.read(fd, _CHUNK)
        except OSError:  # EIO: a pty whose every slave descriptor is closed
            chunk = b""
        if not chunk:
            break
        if attached is not None:
            attached.broadcast(channel, chunk)
        buffered += chunk
        *lines, buffered = buffered.split(b"\n")
        for line in lines:
            out.line(stream, line)
        # A long line without a newline is flushed in pieces, as the CRI format allows.
        while len(buffered) >= _CHUNK:
            out.line(stream, buffered[:_CHUNK], partial=True)
            buffered = buffered[_CHUNK:]
    if buffered:
        out.line(stream, buffered)


def write_json(path: str, data: dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


def child_setup(rlimits: dict[str, int], tty: int | None = None) -> Any:
    def setup() -> None:
        if tty is not None:
            ptys.controlling_terminal(tty)()
        os.umask(0o022)  # a container's usual umask, whatever the control plane runs with
        for name, value in rlimits.items():
            which = getattr(resource, name)
            resource.setrlimit(which, (value, value))
    return setup


def _ignore(signum: int, frame: Any) -> None:
    # The container's process group gets SIGTERM; the shim must live on to record the exit.
    # A handler (unlike SIG_IGN) is reset by exec, so the command sees default dispositions.
    pass


def _forwarder(pid: int, master: int) -> Any:
    """For a tty command, which leads its own session: pass termination signals to it and
    to the job in the terminal's foreground."""
    def forward(signum: int, frame: Any) -> None:
        for group in {pid, ptys.foreground_group(master)}:
            if group:
                try:
                    os.killpg(group, signum)
                except OSError:
                    pass
    return forward


def main(spec_path: str) -> int:
    with open(spec_path) as fh:
        spec = json.load(fh)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _ignore)
    out = LogWriter(spec["log"], int(spec.get("logMaxBytes") or 10 * 1024 * 1024),
                    int(spec.get("logMaxFiles") or 5))
    exit_file = spec["exitFile"]
    tty, stdin = bool(spec.get("tty")), bool(spec.get("stdin"))
    master: int | None = None
    attached: attachsock.AttachServer | None = None
    try:
        if tty:
            master, slave = ptys.open_pty()
            streams: dict[str, Any] = {"stdin": slave, "stdout": slave, "stderr": slave}
        else:
            streams = {"stdin": subprocess.PIPE if stdin else subprocess.DEVNULL,
                       "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        if spec.get("attachSocket"):
            # Bound before any mount or chroot changes what the path names, and before the
            # command starts, so an attach right after Running finds it.
            attached = attachsock.AttachServer(
                spec["attachSocket"], None, master, bool(spec.get("stdinOnce")),
                lambda w, h: ptys.set_size(master, w, h) if master is not None else None)
        if spec.get("cgroup"):
            with open(os.path.join(spec["cgroup"], "cgroup.procs"), "w") as fh:
                fh.write(str(os.getpid()))
        mountpoints.apply(spec.get("mounts") or [], spec.get("mountStage") or "",
                          spec.get("hostMountNamespace") or "")
    except (OSError, mountpoints.MountError) as exc:
        message = f"failed to prepare the container: {exc}"
        out.line("stderr", message.encode())
        if attached is not None:
            attached.close()
        write_json(exit_file, {"exitCode": 128, "reason": "StartError", "message": message,
                               "finishedAt": time.time()})
        return 128
    argv = spec["command"]
    try:
        proc = subprocess.Popen(argv, env=spec["env"], cwd=spec.get("cwd") or None,
                                start_new_session=tty,
                                preexec_fn=child_setup(spec.get("rlimits") or {},
                                                       streams["stdin"] if tty else None),
                                **streams)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) and exc.filename == argv[0]:
            message = f'exec: "{argv[0]}": executable file not found in $PATH'
        elif isinstance(exc, FileNotFoundError) and spec.get("cwd"):
            message = f"chdir to cwd (\"{spec['cwd']}\") set in config.json failed: no such file or directory"
        else:
            message = f'exec: "{argv[0]}": {exc.strerror or exc}'
        out.line("stderr", message.encode())
        if attached is not None:
            attached.close()
        write_json(exit_file, {"exitCode": 128, "reason": "StartError", "message": message,
                               "finishedAt": time.time()})
        return 128
    write_json(spec["startFile"], {"pid": proc.pid, "startedAt": time.time()})
    if master is not None:
        os.close(streams["stdin"])  # the slave: only the command holds it now
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, _forwarder(proc.pid, master))
        threads = [threading.Thread(target=pump, args=(master, "stdout", out, attached),
                                    daemon=True)]
    else:
        threads = [threading.Thread(target=pump, args=(proc.stdout, "stdout", out, attached),
                                    daemon=True),
                   threading.Thread(target=pump, args=(proc.stderr, "stderr", out, attached),
                                    daemon=True)]
    if attached is not None:
        attached.set_stdin(master if master is not None else (
            proc.stdin.fileno() if proc.stdin is not None else None))
        attached.start()
    for t in threads:
        t.start()
    code = proc.wait()
    for t in threads:
        # A pty ends (EIO) once nothing holds its slave; a background job of the command
        # may hold it or a pipe for ever, so its output is followed only a little longer.
        t.join(timeout=2)
    if attached is not None:
        attached.close()
    signum = -code if code < 0 else 0
    exit_code = 128 + signum if signum else code
    write_json(exit_file, {"exitCode": exit_code, "signal": signum, "finishedAt": time.time()})
    return exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
