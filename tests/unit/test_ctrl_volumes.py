"""The volume provisioner against a real control plane: the default StorageClass exists, a
claim is bound to a volume of its size, and the volume goes with the claim."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Iterator

import pytest

from orchestrator import ControlPlane
from orchestrator.api import errors
from orchestrator.client import Client


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(data_dir=tmp_path_factory.mktemp("cp"), components=("controllers",)) as cp:
        yield cp


async def until(check: Callable[[], Awaitable[Any]]) -> Any:
    for _ in range(200):
        got = await check()
        if got:
            return got
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met")


def test_claim_is_bound_and_its_volume_reclaimed(control_plane: ControlPlane) -> None:
    async def main() -> None:
        async with Client.from_kubeconfig(control_plane.kubeconfig) as client:
            pvcs = client.resource("v1", "PersistentVolumeClaim")
            pvs = client.resource("v1", "PersistentVolume")
            classes = client.resource("storage.k8s.io/v1", "StorageClass")
            claim = await client.create(pvcs, {
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data", "namespace": "default"},
                "spec": {"accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "2Gi"}}}})

            async def bound() -> Any:
                got = await client.get(pvcs, "data", "default")
                return got if (got.get("status") or {}).get("phase") == "Bound" else None
            got = await until(bound)
            pv_name = f"pvc-{claim['metadata']['uid']}"
            assert got["spec"]["volumeName"] == pv_name
            assert got["spec"]["storageClassName"] == "standard"
            assert got["status"]["capacity"] == {"storage": "2Gi"}
            pv = await client.get(pvs, pv_name)
            assert pv["status"]["phase"] == "Bound"
            assert pv["spec"]["claimRef"]["uid"] == claim["metadata"]["uid"]
            await client.get(classes, "standard")
            await client.delete(pvcs, "data", "default")

            async def reclaimed() -> bool:
                try:
                    await client.get(pvs, pv_name)
                except errors.NotFound:
                    return True
                return False
            await until(reclaimed)
    asyncio.run(main())
