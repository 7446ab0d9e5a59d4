"""CronJobs end to end with a driven clock.

The control plane runs without its built-in controllers; this module runs the real
CronJobController (with a clock the test moves) and the real JobController beside it, as API
clients in a background thread, so a `* * * * *` schedule fires without waiting minutes.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest

from orchestrator import ControlPlane
from orchestrator.client import Client
from orchestrator.controllers.cronjob import CronJobController
from orchestrator.controllers.job import JobController
from orchestrator.controllers.serviceaccounts import ServiceAccountsController
from tests.conftest import Kubectl, wait_for


class Clock:
    def __init__(self) -> None:
        self.moment = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.moment


class Controllers:
    """The controllers under test in their own event loop, stoppable from the test thread."""

    def __init__(self, kubeconfig: str, clock: Clock) -> None:
        self.kubeconfig, self.clock = kubeconfig, clock
        self.loop = asyncio.new_event_loop()
        self.cron: CronJobController | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),),
                                        daemon=True)

    async def _main(self) -> None:
        async with Client.from_kubeconfig(self.kubeconfig) as client:
            self.cron = CronJobController(client, now=self.clock)
            jobs = JobController(client)
            # Pods run with their namespace's `default` service account, which this
            # controller creates (the control plane's own controllers are off here).
            accounts = ServiceAccountsController(client)
            self._stop = asyncio.Event()
            tasks = [asyncio.create_task(c.run()) for c in (self.cron, jobs, accounts)]
            await self.cron.wait_ready()
            self._ready.set()
            await self._stop.wait()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(20)

    def advance(self, seconds: float) -> None:
        self.clock.moment += timedelta(seconds=seconds)
        assert self.cron is not None
        self.loop.call_soon_threadsafe(self.cron.poke)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(data_dir=tmp_path_factory.mktemp("cp"),
                      components=("nodes", "scheduler")) as cp:
        yield cp


@pytest.fixture(scope="module")
def controllers(control_plane: ControlPlane) -> Iterator[Controllers]:
    running = Controllers(control_plane.kubeconfig, Clock())
    running.start()
    yield running
    running.stop()


def manifest(name: str, script: str, **spec: Any) -> str:
    return json.dumps({
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
        "spec": {"schedule": "* * * * *", **spec, "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{
                "name": "main", "image": "python",
                "command": [sys.executable, "-c", script]}]}}}}}})


def owned_jobs(kubectl: Kubectl, cronjob: str) -> list[dict[str, Any]]:
    return [j for j in kubectl.json("get", "jobs")["items"]
            if any(r["name"] == cronjob for r in j["metadata"].get("ownerReferences") or [])]


def test_schedule_fires_and_history_is_kept(kubectl: Kubectl, controllers: Controllers) -> None:
    kubectl.run("apply", "-f", "-", input=manifest("tick", "pass", successfulJobsHistoryLimit=2))
    assert owned_jobs(kubectl, "tick") == []
    for expected in (1, 2, 3):
        controllers.advance(60)
        wait_for(lambda: len([j for j in owned_jobs(kubectl, "tick") if any(
            c["type"] == "Complete" for c in (j.get("status") or {}).get("conditions") or [])])
            >= min(expected, 2), timeout=30)
    controllers.advance(1)
    wait_for(lambda: len(owned_jobs(kubectl, "tick")) == 2, timeout=20)
    status = kubectl.json("get", "cronjob", "tick")["status"]
    assert status["lastScheduleTime"] and status["lastSuccessfulTime"]
    wait_for(lambda: not kubectl.json("get", "cronjob", "tick")["status"].get("active"),
             timeout=20)


def test_forbid_skips_while_a_job_runs(kubectl: Kubectl, controllers: Controllers) -> None:
    kubectl.run("apply", "-f", "-", input=manifest(
        "slow", "import time; time.sleep(600)", concurrencyPolicy="Forbid"))
    controllers.advance(60)
    wait_for(lambda: len(owned_jobs(kubectl, "slow")) == 1, timeout=20)
    wait_for(lambda: kubectl.json("get", "cronjob", "slow")["status"].get("active"), timeout=20)
    controllers.advance(60)
    controllers.advance(1)
    wait_for(lambda: kubectl.json("get", "cronjob", "slow")["status"].get(
        "lastScheduleTime") is not None, timeout=10)
    assert len(owned_jobs(kubectl, "slow")) == 1
    kubectl.run("patch", "cronjob", "slow", "--type=merge", "-p",
                '{"spec":{"concurrencyPolicy":"Replace"}}')
    first = owned_jobs(kubectl, "slow")[0]["metadata"]["name"]
    controllers.advance(60)
    wait_for(lambda: [j["metadata"]["name"] for j in owned_jobs(kubectl, "slow")
                      if not j["metadata"].get("deletionTimestamp")] not in ([], [first]),
             timeout=20)
