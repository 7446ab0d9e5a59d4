"""Controllers: reconcile loops over watches that keep declared state."""

from __future__ import annotations

from typing import Any

from orchestrator.api.csr_signing import Authority
from orchestrator.client import Client


def build(client: Client, signing_ca: Authority | None = None) -> list[Any]:
    """Every controller of the embedded control plane; the CSR signers only with the CA
    they issue from (`signing_ca`)."""
    from orchestrator.controllers.clusterroleaggregation import (
        ClusterRoleAggregationController,
    )
    from orchestrator.controllers.cronjob import CronJobController
    from orchestrator.controllers.daemonset import DaemonSetController
    from orchestrator.controllers.deployment import DeploymentController
    from orchestrator.controllers.disruption import DisruptionController
    from orchestrator.controllers.garbagecollector import GarbageCollector
    from orchestrator.controllers.job import JobController
    from orchestrator.controllers.replicaset import ReplicaSetController
    from orchestrator.controllers.resourcequota import ResourceQuotaController
    from orchestrator.controllers.serviceaccounts import ServiceAccountsController
    from orchestrator.controllers.statefulset import StatefulSetController
    from orchestrator.controllers.volumes import VolumeProvisioner

    from orchestrator.controllers.csrsigning import CSRSigningController

    signers: list[Any] = [CSRSigningController(client, signing_ca)] if signing_ca else []
    return signers + [
        DeploymentController(client), ReplicaSetController(client),
        StatefulSetController(client), DaemonSetController(client),
        JobController(client), CronJobController(client),
        GarbageCollector(client), ServiceAccountsController(client),
        DisruptionController(client), VolumeProvisioner(client),
        ResourceQuotaController(client),
        ClusterRoleAggregationController(client),
    ]
