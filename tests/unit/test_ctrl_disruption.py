"""The disruption controller against a real control plane: a budget's status follows the
pods its selector matches, and its condition times come from the injected clock."""

from __future__ import annotations

import asyncio
from typing import Any, Iterator

import pytest

from orchestrator import ControlPlane
from orchestrator.client import Client


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(data_dir=tmp_path_factory.mktemp("cp"), components=("controllers",)) as cp:
        yield cp


async def status_becomes(client: Client, want: dict[str, Any]) -> dict[str, Any]:
    rt = client.resource("policy/v1", "PodDisruptionBudget")
    for _ in range(200):
        status = (await client.get(rt, "web", "default")).get("status") or {}
        if all(status.get(k) == v for k, v in want.items()):
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"budget status stayed {status}")


def test_budget_status_follows_ready_pods(control_plane: ControlPlane) -> None:
    async def main() -> None:
        async with Client.from_kubeconfig(control_plane.kubeconfig) as client:
            pdbs = client.resource("policy/v1", "PodDisruptionBudget")
            pods = client.resource("v1", "Pod")
            await client.create(pdbs, {
                "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}})
            status = await status_becomes(client, {"observedGeneration": 1, "expectedPods": 0,
                                                   "disruptionsAllowed": 0})
            assert status["conditions"][0]["reason"] == "InsufficientPods"
            for name in ("web-1", "web-2"):
                pod = await client.create(pods, {
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "x"}]}})
                pod["status"] = {"phase": "Running", "conditions": [
                    {"type": "Ready", "status": "True"}]}
                await client.replace(pods, pod, "status")
            status = await status_becomes(client, {"expectedPods": 2, "currentHealthy": 2,
                                                   "disruptionsAllowed": 1})
            assert status["conditions"][0]["reason"] == "SufficientPods"
            await client.delete(pdbs, "web", "default")
            for name in ("web-1", "web-2"):
                await client.delete(pods, name, "default", grace_period=0)
    asyncio.run(main())
