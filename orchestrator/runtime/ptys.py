"""Pseudo-terminals for containers and exec sessions with `tty: true`.

Stdlib only (the shim loads it as a sibling module). The command gets the pty's slave side as
stdin, stdout and stderr and as its controlling terminal (a new session, `TIOCSCTTY`), as a
container runtime gives it a console; whoever holds the master side relays the bytes and sets
the window size (`TIOCSWINSZ`, which also sends the foreground process group SIGWINCH).
"""

from __future__ import annotations

import fcntl
import os
import struct
import termios
from typing import Callable


def open_pty() -> tuple[int, int]:
    """(master, slave); the master is close-on-exec, so no command inherits it."""
    master, slave = os.openpty()
    os.set_inheritable(master, False)
    return master, slave


def set_size(fd: int, width: int, height: int) -> None:
    if width > 0 and height > 0:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def controlling_terminal(slave: int) -> Callable[[], None]:
    """A preexec function: a new session whose controlling terminal is the pty. It names the
    slave by its own descriptor, not stdin: uvloop runs preexec before it sets up stdio, and
    applies `start_new_session` after, so the session is made here too."""
    def setup() -> None:
        if os.getsid(0) != os.getpid():
            os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    return setup


def foreground_group(master: int) -> int | None:
    """The process group reading the terminal now (a shell's current job)."""
    try:
        return os.tcgetpgrp(master)
    except OSError:
        return None
