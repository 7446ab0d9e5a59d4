"""One `kubectl exec` command in a container, with the streams the client asked for.

The command runs in the container's context (`container.exec_context`: its environment,
working directory and, in bind mode, its mount namespace and root), in a session of its own.
Without a tty it gets pipes (stdin only when asked for, else /dev/null); with one it gets the
slave side of a pty as stdin, stdout and stderr and as its controlling terminal, and output
comes back as stdout only, as from a container runtime's console.
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
from typing import AsyncIterator

from orchestrator.runtime import ptys
from orchestrator.runtime.container import Running, exec_context

STDOUT, STDERR = 1, 2
# After the command exits, output is followed this much longer: a background job it left may
# hold the pipes or the terminal for ever (the session then ends without its output).
OUTPUT_GRACE = 2.0
_CHUNK = 65536


class ExecProcess:
    def __init__(self, proc: asyncio.subprocess.Process, master: int | None) -> None:
        self.proc = proc
        self.master = master
        self._queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self._pumps: list[asyncio.Task[None]] = []
        self._sources = 0
        self._stdin_closed = False

    @classmethod
    async def start(cls, run: Running, argv: list[str], stdin: bool, tty: bool
                    ) -> "ExecProcess":
        """Start `argv` in `run`'s container; OSError when it cannot be started."""
        prefix, env, cwd = exec_context(run)
        argv = prefix + [run.plan.rewrite(a) for a in argv]
        if not tty:
            proc = await asyncio.create_subprocess_exec(
                *argv, env=env, cwd=cwd or None,
                stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                start_new_session=True)
            piped = cls(proc, None)
            for stream, channel in ((proc.stdout, STDOUT), (proc.stderr, STDERR)):
                assert stream is not None
                piped._pumps.append(asyncio.ensure_future(piped._pump_pipe(stream, channel)))
            piped._sources = 2
            return piped
        env = {**env}
        env.setdefault("TERM", "xterm")
        master, slave = ptys.open_pty()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, env=env, cwd=cwd or None, stdin=slave, stdout=slave, stderr=slave,
                preexec_fn=ptys.controlling_terminal(slave))
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        terminal = cls(proc, master)
        terminal._sources = 1
        asyncio.get_running_loop().add_reader(master, terminal._read_master)
        return terminal

    # -- output --------------------------------------------------------------------------

    async def _pump_pipe(self, stream: asyncio.StreamReader, channel: int) -> None:
        try:
            while chunk := await stream.read(_CHUNK):
                await self._queue.put((channel, chunk))
        finally:
            await self._queue.put(None)

    def _read_master(self) -> None:
        assert self.master is not None
        try:
            chunk = os.read(self.master, _CHUNK)
        except BlockingIOError:
            return
        except OSError:  # EIO: nothing holds the terminal's slave side any more
            chunk = b""
        if chunk:
            self._queue.put_nowait((STDOUT, chunk))
            return
        asyncio.get_running_loop().remove_reader(self.master)
        self._queue.put_nowait(None)

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        """(channel, bytes) until the command's output has ended."""
        exited = asyncio.ensure_future(self.proc.wait())
        open_sources = self._sources
        try:
            while open_sources:
                getter = asyncio.ensure_future(self._queue.get())
                waiting = {getter} if exited.done() else {getter, exited}
                done, _ = await asyncio.wait(waiting, timeout=OUTPUT_GRACE if exited.done()
                                             else None, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    if exited.done() and not done:
                        return  # exited, and its output went quiet without ending
                    continue
                item = getter.result()
                if item is None:
                    open_sources -= 1
                else:
                    yield item
        finally:
            exited.cancel()

    # -- input ---------------------------------------------------------------------------

    async def write(self, data: bytes) -> None:
        if self._stdin_closed:
            return
        if self.master is None:
            stdin = self.proc.stdin
            if stdin is None:
                return
            try:
                stdin.write(data)
                await stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                self._stdin_closed = True
            return
        await self._write_master(data)

    async def _write_master(self, data: bytes) -> None:
        assert self.master is not None
        loop = asyncio.get_running_loop()
        while data:
            try:
                written = os.write(self.master, data)
            except BlockingIOError:
                ready: asyncio.Future[None] = loop.create_future()

                def writable() -> None:
                    if not ready.done():
                        ready.set_result(None)

                loop.add_writer(self.master, writable)
                try:
                    await ready
                finally:
                    loop.remove_writer(self.master)
                continue
            except OSError as exc:
                if exc.errno == errno.EIO:
                    self._stdin_closed = True
                    return
                raise
            data = data[written:]

    def close_stdin(self) -> None:
        """The client's stdin ended: the command reads EOF (a terminal has no end of its
        own: its session ends when the command exits)."""
        if self._stdin_closed:
            return
        self._stdin_closed = True
        if self.master is None and self.proc.stdin is not None:
            self.proc.stdin.close()

    def resize(self, width: int, height: int) -> None:
        if self.master is not None:
            try:
                ptys.set_size(self.master, width, height)
            except OSError:
                pass

    # -- end -----------------------------------------------------------------------------

    async def wait(self) -> int:
        code = await self.proc.wait()
        return code if code >= 0 else 128 - code

    async def close(self) -> None:
        """Kill what is still running (the client went away) and release the terminal."""
        if self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for task in self._pumps:
            task.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        if self.master is not None:
            asyncio.get_running_loop().remove_reader(self.master)
            os.close(self.master)
            self.master = None
