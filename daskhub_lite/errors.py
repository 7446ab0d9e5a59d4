"""The user layer's errors: raised where they happen, rendered once by `daskhub_lite.cli`
(`error: <message>` on stderr and the error's exit code; a traceback only with `--debug`).

Light on purpose (the standard library only): every command imports it, and the CLI starts
without the heavy client libraries (tests/unit/test_cli_imports.py).
"""

from __future__ import annotations

import sys
from typing import TextIO


class UserError(Exception):
    """One line for the user and the exit code that goes with it."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BadInput(UserError):
    """Arguments or files the command cannot use (a name that is not a DNS label, ...)."""


class NotFound(UserError):
    """The named object (cluster, job, release, ...) does not exist."""


class Refused(UserError):
    """The cluster said no: a quota, an admission check, a permission."""


class NotInstalled(UserError):
    """Something the command needs is missing (the dask operator, a chart, a package)."""


class ConnectionFailed(UserError, ConnectionError):
    """No cluster answers at the configured address (still a ConnectionError, for callers
    that catch that)."""


def render(err: BaseException) -> tuple[str, int]:
    """The line a failed command prints and its exit code."""
    code = err.exit_code if isinstance(err, UserError) else 1
    return f"error: {err}", code


def report(err: BaseException, stream: TextIO | None = None) -> int:
    """Print the error's line on `stream` (stderr by default) and return its exit code."""
    line, code = render(err)
    print(line, file=stream or sys.stderr, flush=True)
    return code
