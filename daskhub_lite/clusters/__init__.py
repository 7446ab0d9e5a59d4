"""Dask clusters on Kubernetes through the dask-kubernetes operator: `DaskCluster`, profiles,
worker groups, scaling, idle reaping, and the `daskhub-lite cluster` commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from daskhub_lite.clusters.cluster import DaskCluster
    from daskhub_lite.clusters.kube import WorkersRefused

__all__ = ["DaskCluster", "WorkersRefused"]


def __getattr__(name: str) -> Any:
    # Lazy: `daskhub-lite --help` should not import distributed.
    if name == "DaskCluster":
        from daskhub_lite.clusters.cluster import DaskCluster

        return DaskCluster
    if name == "WorkersRefused":
        from daskhub_lite.clusters.kube import WorkersRefused

        return WorkersRefused
    raise AttributeError(name)
