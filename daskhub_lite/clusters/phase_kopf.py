"""DaskCluster phase repair, loaded into the dask operator's kopf process beside the reaper:
`kopf run -m dask_kubernetes.operator.controller -m daskhub_lite.clusters.phase_kopf`.

dask-kubernetes 2026.3's operator writes `status.phase` from two handlers that race: the
scheduler Service's handler writes Running as soon as the Service exists, and the cluster's
create handler writes Pending when it returns. When Pending lands last the cluster stays
Pending for good and an unmodified `KubeCluster` times out waiting for Running
(dask/dask-kubernetes#968; fixed upstream after 2026.3 by deciding the phase once all
components exist). Until an operator release has that fix, a cluster entering Pending has its
phase decided again by the Service handler's own rule."""

from __future__ import annotations

import logging
from typing import Any

import kopf
import kr8s
import kr8s.asyncio

log = logging.getLogger(__name__)


def phase_for(service: dict[str, Any]) -> str:
    """The operator's rule: a LoadBalancer without ingress is Pending, anything else Running."""
    spec, status = service.get("spec") or {}, service.get("status") or {}
    if spec.get("type") == "LoadBalancer" and not (status.get("loadBalancer") or {}).get("ingress"):
        return "Pending"
    return "Running"


@kopf.on.field("daskcluster.kubernetes.dask.org", field="status.phase", new="Pending")
async def settle_pending_phase(name: str, namespace: str, **_: Any) -> None:
    services = [s.raw async for s in kr8s.asyncio.get(
        "services", namespace=namespace,
        label_selector={"dask.org/cluster-name": name, "dask.org/component": "scheduler"})]
    if not services or phase_for(services[0]) == "Pending":
        return  # no Service yet (its own handler decides then), or Pending is right
    try:
        async for cluster in kr8s.asyncio.get("daskclusters.kubernetes.dask.org", name,
                                              namespace=namespace):
            await cluster.patch({"status": {"phase": "Running"}})
            log.info("DaskCluster %s/%s: Pending overwrote Running; set Running again",
                     namespace, name)
    except kr8s.NotFoundError:
        pass
