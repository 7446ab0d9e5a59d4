"""Adaptive scaling of one worker group (distributed's `Adaptive`, scoped to a group).

distributed's policy decides when (tasks per worker, memory); we scope what it sees to one
group: its plan is the group's worker Deployments, its observed workers those of them the
scheduler knows, and its target what the cluster needs beyond the other groups' workers.
Workers that never connected (pods still pending, e.g. for a GPU) are closed first; connected
ones are retired through the scheduler before their Deployments are deleted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from distributed.deploy.adaptive import Adaptive

from daskhub_lite.clusters import scaling

if TYPE_CHECKING:
    from daskhub_lite.clusters.cluster import DaskCluster


class GroupAdaptive(Adaptive):
    def __init__(self, cluster: "DaskCluster", group: str, **kwargs: Any) -> None:
        self.group = group
        super().__init__(cluster, **kwargs)

    @property
    def plan(self) -> set[str]:  # type: ignore[override]
        return set(self.cluster._deployments.get(self.group, []))

    @property
    def requested(self) -> set[str]:  # type: ignore[override]
        return self.plan

    @property
    def observed(self) -> set[str]:  # type: ignore[override]
        return self.plan & set(self.cluster.connected_names())

    async def target(self) -> int:
        total = await self.scheduler.adaptive_target(target_duration=self.target_duration)
        others = len(set(self.cluster.connected_names()) - self.plan)
        return scaling.group_target(total, others, int(self.minimum),
                                    int(min(self.maximum, 1 << 30)))

    async def workers_to_close(self, target: int) -> list[str]:
        observed = self.observed
        ranked = self.cluster._least_loaded(sorted(observed))
        return ranked[:max(0, len(observed) - target)]

    async def scale_up(self, n: int) -> None:
        await self.cluster._scale(n, self.group)

    async def scale_down(self, workers: list[str]) -> None:
        if not workers:
            return
        # Graceful first (data moves to the remaining workers), then the Deployments go.
        connected = [w for w in workers if w in self.cluster.connected_names()]
        if connected:
            await self.scheduler.retire_workers(names=connected, remove=True,
                                                close_workers=True)
        await self.cluster._remove_workers(self.group, list(workers))
