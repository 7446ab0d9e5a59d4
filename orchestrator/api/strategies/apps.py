"""Strategies of apps/v1: kube's pkg/registry/apps/<kind>."""

from __future__ import annotations

from orchestrator.api.strategy import Strategy

STRATEGIES: tuple[Strategy, ...] = (
    Strategy("apps", "Deployment", "deployments", initial_status={}),
    Strategy("apps", "ReplicaSet", "replicasets", initial_status={"replicas": 0}),
    # The status fields without `omitempty` in the Go types, zero, in Go's field order:
    # `kubectl wait --for=jsonpath='{.status.availableReplicas}'=0` finds them at once.
    Strategy("apps", "StatefulSet", "statefulsets",
             initial_status={"replicas": 0, "availableReplicas": 0}),
    Strategy("apps", "DaemonSet", "daemonsets",
             initial_status={"currentNumberScheduled": 0, "numberMisscheduled": 0,
                             "desiredNumberScheduled": 0, "numberReady": 0}),
    Strategy("apps", "ControllerRevision", "controllerrevisions"),
)
