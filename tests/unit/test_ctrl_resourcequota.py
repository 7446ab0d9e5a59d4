"""The ResourceQuota controller against a real control plane: a new quota's status is filled
in, and usage is given back when an object it counts goes (admission only charges)."""

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


async def used_becomes(client: Client, want: dict[str, str]) -> dict[str, Any]:
    rt = client.resource("v1", "ResourceQuota")
    for _ in range(200):
        status = (await client.get(rt, "q", "quota-test")).get("status") or {}
        if status.get("used") == want:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"quota status stayed {status}")


def test_quota_status_is_filled_and_usage_given_back(control_plane: ControlPlane) -> None:
    async def main() -> None:
        async with Client.from_kubeconfig(control_plane.kubeconfig) as client:
            namespaces = client.resource("v1", "Namespace")
            quotas = client.resource("v1", "ResourceQuota")
            deployments = client.resource("apps/v1", "Deployment")
            await client.create(namespaces, {"apiVersion": "v1", "kind": "Namespace",
                                             "metadata": {"name": "quota-test"}})
            hard = {"count/deployments.apps": "2"}
            await client.create(quotas, {"apiVersion": "v1", "kind": "ResourceQuota",
                                         "metadata": {"name": "q", "namespace": "quota-test"},
                                         "spec": {"hard": hard}})
            status = await used_becomes(client, {"count/deployments.apps": "0"})
            assert status["hard"] == hard
            await client.create(deployments, {
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "quota-test"},
                "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                         "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                             "containers": [{"name": "c", "image": "x"}]}}}})
            await used_becomes(client, {"count/deployments.apps": "1"})
            await client.delete(deployments, "web", "quota-test")
            await used_becomes(client, {"count/deployments.apps": "0"})
            await client.delete(namespaces, "quota-test")
    asyncio.run(main())
