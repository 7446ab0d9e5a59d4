"""The names daskhub-lite's Dask clusters carry: the operator's API group and kinds, and our
annotations. Import-free, so the CLI's listing does not load distributed or kr8s."""

from __future__ import annotations

API_VERSION = "kubernetes.dask.org/v1"
DASKCLUSTERS = "daskclusters"
WORKERGROUPS = "daskworkergroups"

# Ours, on the DaskCluster: who made it and when its client last said it is alive.
MANAGED_BY = "daskhub-lite"
PROFILE_ANNOTATION = "daskhub-lite.io/profile"
HEARTBEAT_ANNOTATION = "daskhub-lite.io/heartbeat"
IDLE_TIMEOUT_ANNOTATION = "daskhub-lite.io/idle-timeout"
GROUP_PROFILE_ANNOTATION = "daskhub-lite.io/worker-profile"
DASHBOARD_PREFIX_ANNOTATION = "daskhub-lite.io/dashboard-prefix"
