"""The ClusterRole aggregation controller against a real control plane: an aggregating role
gains the rules of the roles it selects, and follows them when they change."""

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


def role(name: str, verbs: list[str], **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name, "labels": {"test/aggregate-to-mine": "true"}},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": verbs}], **extra}


async def rules_become(client: Client, name: str, want: list[str]) -> None:
    rt = client.resource("rbac.authorization.k8s.io/v1", "ClusterRole")
    for _ in range(200):
        got = (await client.get(rt, name)).get("rules") or []
        if sorted(v for r in got for v in r.get("verbs", [])) == want:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} rules stayed {got}")


def test_aggregating_role_follows_its_sources(control_plane: ControlPlane) -> None:
    async def main() -> None:
        async with Client.from_kubeconfig(control_plane.kubeconfig) as client:
            rt = client.resource("rbac.authorization.k8s.io/v1", "ClusterRole")
            await client.create(rt, {
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "mine"}, "aggregationRule": {"clusterRoleSelectors": [
                    {"matchLabels": {"test/aggregate-to-mine": "true"}}]}})
            await client.create(rt, role("mine-read", ["get", "list"]))
            await rules_become(client, "mine", ["get", "list"])
            await client.create(rt, role("mine-write", ["create"]))
            await rules_become(client, "mine", ["create", "get", "list"])
            await client.delete(rt, "mine-read")
            await rules_become(client, "mine", ["create"])
            for name in ("mine", "mine-write"):
                await client.delete(rt, name)
    asyncio.run(main())
