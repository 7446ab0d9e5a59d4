"""The idle reaper as a kopf handler, for the operator's process:
`kopf run -m dask_kubernetes.operator.controller -m daskhub_lite.clusters.reaper_kopf`.
See `reaper.py` for the rule."""

from __future__ import annotations

import logging
import time
from typing import Any

import kopf
import kr8s
import kr8s.asyncio

from daskhub_lite.clusters.reaper import REAP_INTERVAL, is_stale
from daskhub_lite.clusters.spec import IDLE_TIMEOUT_ANNOTATION

log = logging.getLogger(__name__)


@kopf.timer("daskcluster.kubernetes.dask.org", interval=REAP_INTERVAL,
            annotations={IDLE_TIMEOUT_ANNOTATION: kopf.PRESENT})
async def reap_idle_cluster(meta: Any, name: str, namespace: str, **_: Any) -> None:
    if not is_stale(dict(meta.get("annotations") or {}), time.time()):
        return
    log.info("reaping DaskCluster %s/%s: its client stopped sending heartbeats",
             namespace, name)
    try:
        async for obj in kr8s.asyncio.get("daskclusters.kubernetes.dask.org", name,
                                          namespace=namespace):
            await obj.delete()
    except kr8s.NotFoundError:
        pass
