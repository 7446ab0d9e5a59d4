"""`daskhub-lite scheduler` as a secondary scheduler against a live API (here the embedded
one), with leader election through a Lease, binding through pods/binding."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from orchestrator import ControlPlane
from tests.conftest import Kubectl, wait_for

NODE = {
    "apiVersion": "v1", "kind": "Node",
    "metadata": {"name": "gpu-box", "labels": {"nvidia.com/gpu.product": "A100-SXM4-40GB"}},
    "spec": {"taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]},
    "status": {"capacity": {"cpu": "16", "memory": "64Gi", "pods": "110", "nvidia.com/gpu": "2"},
               "allocatable": {"cpu": "16", "memory": "64Gi", "pods": "110",
                               "nvidia.com/gpu": "2"}},
}


def pod(name: str, gpus: int, scheduler: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"schedulerName": scheduler, "containers": [{
            "name": "train", "image": "python", "command": ["sleep", "60"],
            "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}]},
    }


def test_secondary_scheduler_binds_its_pods_only(control_plane: ControlPlane,
                                                 kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl.run("apply", "-f", "-", input=json.dumps(NODE))
    proc = subprocess.Popen(
        [sys.executable, "-m", "daskhub_lite.cli", "scheduler", "--kubeconfig",
         control_plane.kubeconfig, "--scheduler-name", "gpu-sched"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        kubectl.run("apply", "-f", "-", input=json.dumps(pod("mine", 1, "gpu-sched")))
        kubectl.run("apply", "-f", "-", input=json.dumps(pod("too-big", 3, "gpu-sched")))
        kubectl.run("apply", "-f", "-", input=json.dumps(pod("not-mine", 1, "someone-else")))

        bound = wait_for(lambda: kubectl.json("get", "pod", "mine")["spec"].get("nodeName"),
                         timeout=30)
        assert bound == "gpu-box"
        annotations = kubectl.json("get", "pod", "mine")["metadata"]["annotations"]
        assert annotations["daskhub-lite.io/gpu-devices"] in ("0:1000", "1:1000")

        def unschedulable() -> str:
            conds = kubectl.json("get", "pod", "too-big")["status"].get("conditions") or []
            return next((c["message"] for c in conds if c["type"] == "PodScheduled"), "")

        message = wait_for(unschedulable, timeout=15)
        assert "Insufficient nvidia.com/gpu" in message
        assert not kubectl.json("get", "pod", "not-mine")["spec"].get("nodeName")

        lease = kubectl.json("get", "lease", "gpu-sched", "-n", "kube-system")
        assert lease["spec"]["holderIdentity"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
