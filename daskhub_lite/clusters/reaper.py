"""Reaping clusters whose client died: heartbeat annotations and the reaper.

A `DaskCluster` made with `idle_timeout=T` carries `daskhub-lite.io/idle-timeout: T`, and its
client process patches `daskhub-lite.io/heartbeat` (UTC seconds) every `T/4` seconds (at most
30). When the client dies (a crashed kernel), the heartbeat goes stale; once it is older than
T the reaper deletes the DaskCluster, and owner references take the rest away.

Where the reaper runs: inside the dask operator's kopf process, loaded with
`kopf run -m dask_kubernetes.operator.controller -m daskhub_lite.clusters.reaper_kopf`, because the
operator is already the one long-lived process with rights to delete DaskClusters. The
embedded control plane's operator is installed that way; on a real cluster use an operator
image that has daskhub-lite, or run `daskhub-lite cluster reap --watch` somewhere long-lived.
Clusters without the annotation (plain dask-kubernetes ones) are never touched.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Mapping

from daskhub_lite.clusters.spec import HEARTBEAT_ANNOTATION, IDLE_TIMEOUT_ANNOTATION

log = logging.getLogger(__name__)
REAP_INTERVAL = 5.0


def heartbeat_interval(idle_timeout: float) -> float:
    return max(1.0, min(30.0, idle_timeout / 4))


def is_stale(annotations: Mapping[str, str], now: float) -> bool:
    """Whether a cluster with these annotations has outlived its client."""
    try:
        timeout = float(annotations[IDLE_TIMEOUT_ANNOTATION])
        beat = float(annotations[HEARTBEAT_ANNOTATION])
    except (KeyError, TypeError, ValueError):
        return False
    return timeout > 0 and now - beat > timeout


def stale_clusters(clusters: list[Mapping[str, Any]], now: float) -> list[tuple[str, str]]:
    """(namespace, name) of each stale cluster among raw DaskCluster objects."""
    out = []
    for body in clusters:
        md = body.get("metadata") or {}
        if md.get("deletionTimestamp"):
            continue
        if is_stale(md.get("annotations") or {}, now):
            out.append((md.get("namespace", "default"), md["name"]))
    return out


def reap_once(api: Any, namespace: str | None = None, now: float | None = None) -> list[str]:
    """Delete stale clusters (kr8s sync api); returns `namespace/name` of each deleted."""
    import kr8s

    now = time.time() if now is None else now
    raw = [c.raw for c in api.get("daskclusters.kubernetes.dask.org",
                                  namespace=namespace or kr8s.ALL)]
    deleted = []
    for ns, name in stale_clusters(raw, now):
        try:
            for obj in api.get("daskclusters.kubernetes.dask.org", name, namespace=ns):
                obj.delete()
            deleted.append(f"{ns}/{name}")
            log.info("reaped DaskCluster %s/%s: its client stopped sending heartbeats", ns, name)
        except kr8s.NotFoundError:
            pass
    return deleted
