"""The phase the repair handler gives a Pending DaskCluster: the operator's own rule."""

from __future__ import annotations

from daskhub_lite.clusters.phase_kopf import phase_for


def test_a_cluster_ip_or_node_port_scheduler_service_means_running() -> None:
    assert phase_for({"spec": {"type": "ClusterIP"}, "status": {"loadBalancer": {}}}) == "Running"
    assert phase_for({"spec": {"type": "NodePort"}}) == "Running"


def test_a_load_balancer_is_running_only_with_an_ingress() -> None:
    waiting = {"spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {}}}
    ready = {"spec": {"type": "LoadBalancer"},
             "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}}
    assert phase_for(waiting) == "Pending"
    assert phase_for(ready) == "Running"
