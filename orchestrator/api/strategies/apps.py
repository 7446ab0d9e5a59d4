"""Strategies of apps/v1: kube's pkg/registry/apps/<kind>."""

from __future__ import annotations

from orchestrator.api import defaults, validation
from orchestrator.api import field_selectors as fields
from orchestrator.api import table_workloads as workloads
from orchestrator.api.strategy import ALL, Strategy

STRATEGIES: tuple[Strategy, ...] = (
    Strategy("apps", "Deployment", "deployments", short_names=("deploy",), categories=ALL,
             subresources=("status", "scale"), defaults=defaults.deployment,
             validate=validation.deployment_causes, initial_status={},
             printer=workloads.DEPLOYMENT),
    Strategy("apps", "ReplicaSet", "replicasets", short_names=("rs",), categories=ALL,
             subresources=("status", "scale"), defaults=defaults.replica_set,
             validate=validation.replica_set_causes, initial_status={"replicas": 0},
             printer=workloads.REPLICA_SET, fields=fields.REPLICAS_FIELDS),
    # The status fields without `omitempty` in the Go types, zero, in Go's field order:
    # `kubectl wait --for=jsonpath='{.status.availableReplicas}'=0` finds them at once.
    Strategy("apps", "StatefulSet", "statefulsets", short_names=("sts",), categories=ALL,
             subresources=("status", "scale"), defaults=defaults.stateful_set,
             validate=validation.stateful_set_causes,
             initial_status={"replicas": 0, "availableReplicas": 0},
             printer=workloads.STATEFUL_SET),
    Strategy("apps", "DaemonSet", "daemonsets", short_names=("ds",), categories=ALL,
             subresources=("status",), defaults=defaults.daemon_set,
             validate=validation.daemon_set_causes,
             initial_status={"currentNumberScheduled": 0, "numberMisscheduled": 0,
                             "desiredNumberScheduled": 0, "numberReady": 0},
             printer=workloads.DAEMON_SET),
    Strategy("apps", "ControllerRevision", "controllerrevisions"),
)
