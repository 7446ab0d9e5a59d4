"""Jobs end to end: real kubectl against a live ControlPlane, whose default scheduler binds
the pods to the local process node, where they run as local processes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.conftest import Kubectl, wait_for


def job_manifest(name: str, script: str, **spec: Any) -> str:
    return json.dumps({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {**spec, "template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "python",
                            "command": [sys.executable, "-c", script]}]}}},
    })


def job_status(kubectl: Kubectl, name: str) -> dict[str, Any]:
    return dict(kubectl.json("get", "job", name).get("status") or {})


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c.get("reason", "")) for c in status.get("conditions") or []}


def test_job_with_one_failure_completes_with_right_counts(
        kubectl: Kubectl, tmp_path: Path) -> None:
    # The first pod to grab the marker fails; every other pod succeeds.
    marker = tmp_path / "failed-once"
    script = (f"import os, sys\np = {str(marker)!r}\n"
              "if not os.path.exists(p):\n    open(p, 'w').close()\n    sys.exit(3)\n")
    kubectl.run("apply", "-f", "-", input=job_manifest(
        "fail-once", script, completions=4, parallelism=2, backoffLimit=3))
    kubectl.run("wait", "--for=condition=complete", "job/fail-once", "--timeout=60s",
                timeout=70)
    status = job_status(kubectl, "fail-once")
    assert status["succeeded"] == 4
    assert status["failed"] == 1
    assert status.get("active", 0) == 0
    assert status["startTime"] and status["completionTime"]
    assert conditions(status)["Complete"] == ("True", "CompletionsReached")
    assert conditions(status)["SuccessCriteriaMet"][0] == "True"
    events = kubectl.run("get", "events", "--field-selector",
                         "involvedObject.name=fail-once").stdout
    assert "SuccessfulCreate" in events and "Completed" in events
    # Counted pods lose the tracking finalizer.
    pods = kubectl.json("get", "pods", "-l", "job-name=fail-once")["items"]
    assert len(pods) == 5
    assert all("batch.kubernetes.io/job-tracking" not in (p["metadata"].get("finalizers") or [])
               for p in pods)


def test_indexed_job_pods_see_their_index(kubectl: Kubectl,
                                          tmp_path: Path) -> None:
    script = (f"import os\nopen(os.path.join({str(tmp_path)!r}, "
              "'index-' + os.environ['JOB_COMPLETION_INDEX']), 'w').close()\n")
    kubectl.run("apply", "-f", "-", input=job_manifest(
        "indexed", script, completions=3, parallelism=3, completionMode="Indexed"))
    kubectl.run("wait", "--for=condition=complete", "job/indexed", "--timeout=60s", timeout=70)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index-0", "index-1", "index-2"]
    status = job_status(kubectl, "indexed")
    assert status["completedIndexes"] == "0-2"
    assert status["succeeded"] == 3
    pods = kubectl.json("get", "pods", "-l", "job-name=indexed")["items"]
    hostnames = sorted(p["spec"]["hostname"] for p in pods)
    assert hostnames == ["indexed-0", "indexed-1", "indexed-2"]


def test_job_over_backoff_limit_fails(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", input=job_manifest(
        "always-fails", "import sys; sys.exit(1)", backoffLimit=0))
    kubectl.run("wait", "--for=condition=failed", "job/always-fails", "--timeout=60s",
                timeout=70)
    status = job_status(kubectl, "always-fails")
    assert conditions(status)["Failed"] == ("True", "BackoffLimitExceeded")
    assert conditions(status)["FailureTarget"] == ("True", "BackoffLimitExceeded")
    assert status["failed"] == 1 and "completionTime" not in status
    events = kubectl.run("get", "events", "--field-selector",
                         "involvedObject.name=always-fails").stdout
    assert "BackoffLimitExceeded" in events


def test_pod_failure_policy_fails_job_on_exit_code(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", input=job_manifest(
        "exit-42", "import sys; sys.exit(42)", backoffLimit=6,
        podFailurePolicy={"rules": [{"action": "FailJob", "onExitCodes": {
            "operator": "In", "values": [42]}}]}))
    kubectl.run("wait", "--for=condition=failed", "job/exit-42", "--timeout=60s", timeout=70)
    status = job_status(kubectl, "exit-42")
    assert conditions(status)["Failed"] == ("True", "PodFailurePolicy")
    message = next(c["message"] for c in status["conditions"] if c["type"] == "Failed")
    assert "exit code 42" in message


def test_suspend_then_resume(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", input=job_manifest(
        "sleepy", "import time; time.sleep(600)", parallelism=2, completions=2))
    wait_for(lambda: job_status(kubectl, "sleepy").get("active") == 2, timeout=20)
    kubectl.run("patch", "job", "sleepy", "--type=merge", "-p", '{"spec":{"suspend":true}}')
    wait_for(lambda: conditions(job_status(kubectl, "sleepy")).get("Suspended") == (
        "True", "JobSuspended"), timeout=20)
    wait_for(lambda: not kubectl.json("get", "pods", "-l", "job-name=sleepy")["items"],
             timeout=20)
    status = job_status(kubectl, "sleepy")
    assert status.get("failed", 0) == 0  # suspension is not a failure
    kubectl.run("patch", "job", "sleepy", "--type=merge", "-p", '{"spec":{"suspend":false}}')
    wait_for(lambda: job_status(kubectl, "sleepy").get("active") == 2, timeout=20)
    assert conditions(job_status(kubectl, "sleepy"))["Suspended"] == ("False", "JobResumed")
    kubectl.run("delete", "job", "sleepy")


def test_active_deadline_and_ttl(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", input=job_manifest(
        "deadline", "import time; time.sleep(600)", activeDeadlineSeconds=2,
        ttlSecondsAfterFinished=2))
    kubectl.run("wait", "--for=condition=failed", "job/deadline", "--timeout=30s", timeout=40)
    assert conditions(job_status(kubectl, "deadline"))["Failed"] == ("True", "DeadlineExceeded")
    wait_for(lambda: kubectl.run("get", "job", "deadline", check=False).returncode != 0,
             timeout=20)
