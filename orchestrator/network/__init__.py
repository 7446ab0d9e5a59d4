"""The pod network of the embedded cluster: pod IPs, cluster DNS, Services, Ingress.

Seams for the wiring layer:
- `build(client, ingress_port=8080)` -> components to run (PodNetwork, endpoints
  controller, service proxy, the kube-dns Service, ingress controller);
- `pod_network(components)` -> the PodNetwork among them, whose `attach(pod)` /
  `detach(pod)` the runtime calls around a pod's processes;
- `use_cluster_dns(kubeconfig)` for a user's own Python process.

What processes get: Python processes started by the runtime load the hook (hook/), so
binds on the wildcard land on the pod IP and cluster names resolve. Non-Python processes
get only the environment: `DASKHUB_LITE_POD_IP`, `{SVC}_SERVICE_HOST/PORT` (Service IPs are
loopback addresses, so they are reachable from any process) — no cluster DNS and no bind
mapping, so a non-Python server must bind `$DASKHUB_LITE_POD_IP` itself; Service ports
below 1024 are reachable at port + 40000 unless the control plane runs as root.
macOS: see podnet.py (aliases on lo0, or DASKHUB_LITE_POD_NETWORK=host).
NetworkPolicy objects are stored, never enforced.
"""

from __future__ import annotations

from typing import Any

from orchestrator.planeranges import DEFAULT_RANGES, PlaneRanges

from orchestrator.network.hook import daskhub_netpatch
from orchestrator.network.podnet import (
    HOOK_DIR,
    POD_CIDR,
    IPAllocator,
    PodAttachment,
    PodNetwork,
    PodNetworkUnavailable,
    check_platform,
)

__all__ = [
    "HOOK_DIR", "POD_CIDR", "IPAllocator", "PodAttachment", "PodNetwork",
    "PodNetworkUnavailable", "build", "check_platform", "pod_network", "use_cluster_dns",
]

DEFAULT_INGRESS_PORT = 8080


def build(client: Any, *, ingress_port: int | None = DEFAULT_INGRESS_PORT,
          pod_network_mode: str | None = None,
          ranges: PlaneRanges = DEFAULT_RANGES) -> list[Any]:
    """The network's components; `ingress_port=None` leaves the ingress controller out;
    `ranges` are the plane's pod and service ranges (orchestrator.planeranges)."""
    from orchestrator.network.clusterdns import ClusterDNSService
    from orchestrator.network.endpoints import EndpointsController
    from orchestrator.network.ingress import IngressController
    from orchestrator.network.serviceproxy import ServiceProxy

    out: list[Any] = [PodNetwork(client, mode=pod_network_mode, ranges=ranges), EndpointsController(client),
                      ServiceProxy(client), ClusterDNSService(client)]
    if ingress_port is not None:
        out.append(IngressController(client, port=ingress_port))
    return out


def pod_network(components: list[Any]) -> PodNetwork:
    return next(c for c in components if isinstance(c, PodNetwork))


def use_cluster_dns(kubeconfig: str | None = None, namespace: str | None = None) -> None:
    """Resolve cluster names (`svc`, `svc.ns`, `svc.ns.svc.cluster.local`, pod hostnames of
    headless Services) in this Python process through the API named by `kubeconfig`
    (default: $KUBECONFIG, else ~/.kube/config), so `distributed.Client("tcp://sched.ns:8786")`
    connects straight to the Service. Other names still go to the system resolver."""
    import os

    path = kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    daskhub_netpatch.install(kubeconfig=str(path), namespace=namespace, pod_ip=None)


def stop_cluster_dns() -> None:
    """Undo `use_cluster_dns`."""
    daskhub_netpatch.uninstall()
