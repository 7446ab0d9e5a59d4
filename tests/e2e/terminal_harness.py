"""A real pseudo-terminal for driving interactive clients (kubectl exec -it, attach, debug).

The client runs as the leader of a new session whose controlling terminal is the slave side
of a pty, exactly as from a terminal emulator: kubectl sees a terminal on stdin, puts it in
raw mode and watches SIGWINCH. The test holds the master: it types, reads what the client
shows, and resizes the window (TIOCSWINSZ, which signals the client's foreground group).
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from typing import Mapping, Sequence


def _controlling_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    def __init__(self, argv: Sequence[str], env: Mapping[str, str], columns: int = 80,
                 rows: int = 24) -> None:
        self.master, slave = os.openpty()
        self.resize(columns, rows)
        try:
            self.proc = subprocess.Popen(list(argv), stdin=slave, stdout=slave, stderr=slave,
                                         env=dict(env), start_new_session=True,
                                         preexec_fn=_controlling_terminal, close_fds=True)
        finally:
            os.close(slave)
        self.screen = b""  # everything shown so far

    def resize(self, columns: int, rows: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the client exited and closed the terminal
            return False
        if not chunk:
            return False
        self.screen += chunk
        return True

    def expect(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """Wait until the output since the last match shows `pattern` (a regex)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen.decode(errors="replace")
            match = re.search(pattern, text)
            if match:
                self.screen = self.screen[len(text[:match.end()].encode()):]
                return match
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"terminal did not show {pattern!r} within {timeout}s; "
                                     f"it shows:\n{text[-2000:]}")
            if not self._read(min(left, 0.5)):
                raise AssertionError(f"the terminal closed before showing {pattern!r}; it "
                                     f"showed:\n{text[-2000:]}")

    def wait(self, timeout: float = 30.0) -> int:
        """The client's exit code, reading the terminal until it exits."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"the client did not exit within {timeout}s; the "
                                     f"terminal shows:\n{self.screen[-2000:]!r}")
            self._read(0.2)
        while select.select([self.master], [], [], 0)[0] and self._read(0):
            pass  # what it showed last
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        os.close(self.master)
