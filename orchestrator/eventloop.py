"""The event loop the control plane and the standalone scheduler run on.

uvloop where it is installed (a required dependency on Linux and macOS): on the API server's
request path it measured ~20% more pods/s than asyncio's own loop
(`tests/benchmarks/bench_scheduler_live.py`). Windows keeps asyncio's loop."""

from __future__ import annotations

import asyncio
import sys
from typing import Coroutine, TypeVar

T = TypeVar("T")

try:
    import uvloop
except ImportError:  # pragma: no cover - Windows
    uvloop = None  # type: ignore[assignment]


def new_event_loop() -> asyncio.AbstractEventLoop:
    if uvloop is not None:
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run(main: Coroutine[object, object, T]) -> T:
    """`asyncio.run` on `new_event_loop()`."""
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            return runner.run(main)
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy() if uvloop is not None else None)
    return asyncio.run(main)
