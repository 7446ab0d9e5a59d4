"""The reconcile loop: workers take keys from a queue and make the world match the spec.

As in controller-runtime: a reconcile takes a key, re-reads current state, acts, and is
safe to run twice. An error requeues the key with back-off; `TerminalError` stops retrying
(the reconciler records why in a condition or Event first); `Result.requeue_after` polls.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Hashable, Protocol, TypeVar

from orchestrator.client.workqueue import WorkQueue

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Result:
    requeue_after: float | None = None


class TerminalError(Exception):
    """The key cannot make progress until its object changes: do not retry."""


class Reconciler(Protocol[K]):  # type: ignore[misc]
    async def reconcile(self, key: K) -> Result | None: ...


async def run_workers(name: str, reconciler: Reconciler[K], queue: WorkQueue[K],
                      workers: int = 1) -> None:
    """Run `workers` loops until cancelled."""

    async def worker() -> None:
        while True:
            key = await queue.get()
            try:
                result = await reconciler.reconcile(key)
            except asyncio.CancelledError:
                queue.done(key)
                raise
            except TerminalError as exc:
                log.info("%s: %s: %s", name, key, exc)
                queue.forget(key)
            except Exception as exc:
                # Conflicts and vanished objects are routine: the next pass sees fresh state.
                level = logging.DEBUG if queue.failures(key) < 3 else logging.WARNING
                log.log(level, "%s: reconcile %s failed: %s", name, key, exc,
                        exc_info=level == logging.WARNING)
                queue.add_rate_limited(key)
            else:
                queue.forget(key)
                if result is not None and result.requeue_after is not None:
                    queue.add_after(key, result.requeue_after)
            finally:
                queue.done(key)

    await asyncio.gather(*(worker() for _ in range(workers)))


async def run_controller(name: str, reconciler: Reconciler[K], queue: WorkQueue[K],
                         informers: "list[Any]", workers: int = 1) -> None:
    """A controller's whole life: run its informers, wait until they are synced, then its
    workers, until cancelled; the informers stop and the queue is shut down after."""
    tasks = [asyncio.create_task(i.run()) for i in informers]
    try:
        await asyncio.gather(*(i.wait_synced() for i in informers))
        await run_workers(name, reconciler, queue, workers)
    finally:
        for task in tasks:
            task.cancel()
        queue.shutdown()
