"""Which addresses the API server connects to on a client's behalf (pods/proxy,
services/proxy, pods/portforward).

kube-apiserver refuses any address that is not global unicast (`proxyutil.IsProxyableIP`):
loopback, link-local, multicast, unspecified. Otherwise a client who can write a pod's
`status.podIP` (or an Endpoints object) makes the API server reach the host's own services.
Here pods of the loopback pod network legitimately live on 127.x.y.z, so the rule is:

- always refused: 127.0.0.1 and every other loopback address outside the plane's pod range
  (the host's own services, Service VIPs, other planes' pods), link-local 169.254/16 and fe80::/10
  (cloud metadata endpoints), multicast, unspecified and broadcast addresses;
- allowed in loopback: only addresses of the pod network's allocation range
  (the plane's `PlaneRanges.pod_cidr`, 127.244/16 for the first plane on a host) that the
  pod network hands out (not the network
  address, nor the first one, kept back as the probe);
- everything else (global unicast, as a sandboxed pod on a bridge has) as in Kubernetes.

A Service's endpoint must, as kube's `isValidAddress`, also be an address of the very pod its
`targetRef` names; pods/proxy and port-forward only ever dial the pod's own `status.podIP`,
which only nodes and cluster admins may write (`edit` may not write `pods/status`).

This is not the whole of the host's protection in loopback mode: pods share the host's
loopback there, so a server bound to 0.0.0.0 on the host answers on pod addresses too
(`DESIGN.md`, loopback mode). Under `DASKHUB_LITE_POD_NETWORK=host` every pod is 127.0.0.1,
so the API server proxies to none of them: use a Service through the service proxy instead.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Callable, Mapping

from orchestrator.api import errors
from orchestrator.server.allocation import POD_CIDR

NOT_ALLOWED = "address not allowed"
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


def proxyable(ip: str, pod_cidr: ipaddress.IPv4Network = POD_CIDR) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1, as Go parses it
    if address.version == 4 and address in pod_cidr:
        return int(address) - int(pod_cidr.network_address) >= 2 and (
            address != pod_cidr.broadcast_address)
    return not (address.is_loopback or address.is_link_local or address.is_multicast
                or address.is_unspecified or address == _BROADCAST)


def check_proxyable(ip: str, pod_cidr: ipaddress.IPv4Network = POD_CIDR) -> str:
    """`ip`, or the 400 kube-apiserver answers for an address it will not proxy to."""
    if not proxyable(ip, pod_cidr):
        raise errors.BadRequest(NOT_ALLOWED)
    return ip


def endpoint_is_pod_address(address: Mapping[str, Any], namespace: str,
                            get_pod: Callable[[str], Mapping[str, Any] | None]) -> bool:
    """kube's isValidAddress: the endpoint names a pod of the Service's namespace (by
    targetRef) and is one of that pod's IPs. `get_pod` reads a pod of `namespace`."""
    ref = address.get("targetRef")
    if not isinstance(ref, Mapping) or ref.get("kind", "Pod") != "Pod":
        return False
    if (ref.get("namespace") or namespace) != namespace:
        return False
    pod = get_pod(str(ref.get("name")))
    if pod is None:
        return False
    status = pod.get("status") or {}
    ips = {str(i.get("ip")) for i in status.get("podIPs") or [] if isinstance(i, Mapping)}
    ips.add(str(status.get("podIP") or ""))
    return bool(address.get("ip")) and str(address["ip"]) in ips
