"""Reaching a cluster's scheduler from this process, the fastest way the setting allows.

- embedded control plane: cluster DNS in this process (`use_cluster_dns`), then straight to
  the scheduler Service (`tcp://<name>-scheduler.<ns>:8786`): no DNS-retry delay, no
  port-forward; the dashboard is the Service's ClusterIP, a loopback address a browser on
  this machine reaches;
- inside a pod of any cluster: in-cluster DNS (`<svc>.<ns>.svc.cluster.local`);
- elsewhere (a laptop against a real cluster): a port-forward to the scheduler Service.

The dashboard link these give is the fallback: where the cluster has an Ingress for its
dashboard (see `DaskCluster`), the link goes through the Ingress instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from daskhub_lite.clusters.spec import DASHBOARD_PORT, SCHEDULER_PORT, scheduler_service_name
from daskhub_lite.clusters.target import Target, in_pod

log = logging.getLogger(__name__)


@dataclass
class Route:
    address: str
    dashboard: str | None
    how: str  # "cluster-dns" | "in-cluster" | "port-forward"
    forwards: tuple[Any, ...] = ()

    async def close(self) -> None:
        for pf in self.forwards:
            try:
                await pf.stop()
            except Exception as exc:  # already gone
                log.debug("port-forward stop: %s", exc)


async def route(target: Target, service: Any, cluster: str, prefix: str = "") -> Route:
    """How to reach `cluster`'s scheduler; `service` is its kr8s async Service object;
    `prefix` is the scheduler's `--dashboard-prefix`."""
    svc = scheduler_service_name(cluster)
    ns = target.namespace
    if target.embedded:
        enable_cluster_dns(target.kubeconfig, ns)
        ip = (service.raw.get("spec") or {}).get("clusterIP")
        dashboard = f"http://{ip}:{DASHBOARD_PORT}{prefix}/status" if ip and ip != "None" \
            else None
        return Route(f"tcp://{svc}.{ns}:{SCHEDULER_PORT}", dashboard, "cluster-dns")
    if in_pod():
        host = f"{svc}.{ns}.svc.cluster.local"
        return Route(f"tcp://{host}:{SCHEDULER_PORT}", f"http://{host}:{DASHBOARD_PORT}{prefix}/status",
                     "in-cluster")
    comm = service.portforward(remote_port=SCHEDULER_PORT, local_port="auto")
    dash = service.portforward(remote_port=DASHBOARD_PORT, local_port="auto")
    comm_port = await comm.start()
    dash_port = await dash.start()
    return Route(f"tcp://127.0.0.1:{comm_port}", f"http://127.0.0.1:{dash_port}{prefix}/status",
                 "port-forward", (comm, dash))


_dns_for: str | None = None


def enable_cluster_dns(kubeconfig: str | None, namespace: str) -> None:
    """Resolve the embedded cluster's names in this process (once per kubeconfig)."""
    global _dns_for
    if _dns_for == kubeconfig:
        return
    from orchestrator.network import use_cluster_dns

    use_cluster_dns(kubeconfig, namespace)
    _dns_for = kubeconfig
