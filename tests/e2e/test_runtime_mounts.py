"""Mount points in bind mode live in the container's private mount namespace only: the
container sees its volumes at their mountPath (the service-account token, a configMap at
/etc/jupyterhub with a secret nested inside it, a subPath file under a missing folder, a
top-level emptyDir), while the host's filesystem and mount table never gain those paths."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from orchestrator import ControlPlane
from tests.conftest import Kubectl, wait_for
from tests.e2e.runtime_harness import (
    apply,
    container_status,
    control_plane,
    node_name,
    pod,
    py,
    wait_phase,
)

TAG = uuid.uuid4().hex[:8]
SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
HUB_CONFIG = "/etc/jupyterhub"
SCRATCH = f"/dhl-test-scratch-{TAG}"
CONFIG_FILE = f"/opt/dhl-test-{TAG}/config/jupyterhub_config.py"
# Paths a run of the old code left on the host; the ones with TAG never existed before.
FIXED = ("/run/secrets", HUB_CONFIG)
TAGGED = (SCRATCH, f"/opt/dhl-test-{TAG}")


def mount_table_mentions(*needles: str) -> list[str]:
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return [line for line in lines if any(n in line for n in needles)]


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with control_plane(tmp_path_factory.mktemp("mounts")) as plane:
        yield plane


@pytest.fixture(scope="module")
def kubectl(cp: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(cp, tmp_path_factory.mktemp("kubectl-cache"))


@pytest.fixture(scope="module")
def node(kubectl: Kubectl) -> str:
    return node_name(kubectl)


def hub_pod(node: str, shared: Path) -> dict[str, Any]:
    code = ("import errno, os, time\n"
            f"sa = '{SERVICE_ACCOUNT}'\n"
            "print(open(sa + '/namespace').read(), len(open(sa + '/token').read()) > 0)\n"
            "print(len(open('/var/run/secrets/tokens/api-token').read()) > 0)\n"
            f"print(open('{HUB_CONFIG}/jupyterhub_config.py').read())\n"
            f"print(open('{HUB_CONFIG}/secret/password').read())\n"
            f"print(open('{CONFIG_FILE}').read())\n"
            f"open('{SCRATCH}/x', 'w').write('scratch')\n"
            f"print(open('{SCRATCH}/x').read())\n"
            "for path in (sa + '/extra', '" + HUB_CONFIG + "/secret/extra'):\n"
            "    try:\n"
            "        open(path, 'w')\n"
            "        print('writable', path)\n"
            "    except OSError as exc:\n"
            "        print(errno.errorcode[exc.errno])\n"
            "print(open('/etc/hostname').read().strip())\n"
            f"open('{shared}', 'w').write('from the pod')\n"
            "print(os.getcwd())\n"
            "time.sleep(600)\n")
    # The nested mount comes first on purpose: mounts are made shallowest target first.
    container = py("hub", code, workingDir=SCRATCH, volumeMounts=[
        {"name": "secret", "mountPath": f"{HUB_CONFIG}/secret", "readOnly": True},
        {"name": "config", "mountPath": HUB_CONFIG, "readOnly": True},
        {"name": "config", "mountPath": CONFIG_FILE, "subPath": "jupyterhub_config.py"},
        {"name": "tokens", "mountPath": "/var/run/secrets/tokens"},
        {"name": "scratch", "mountPath": SCRATCH}])
    return pod("hub", node, container, restartPolicy="Never", volumes=[
        {"name": "config", "configMap": {"name": "hub-config"}},
        {"name": "secret", "secret": {"secretName": "hub-secret"}},
        {"name": "tokens", "projected": {"sources": [
            {"serviceAccountToken": {"path": "api-token", "expirationSeconds": 3600}}]}},
        {"name": "scratch", "emptyDir": {}}])


def test_mount_points_exist_only_in_the_container(kubectl: Kubectl, node: str,
                                                  tmp_path: Path) -> None:
    before = {path: os.path.lexists(path) for path in FIXED}
    assert not any(os.path.lexists(path) for path in TAGGED)
    kubectl.run("create", "configmap", "hub-config",
                "--from-literal=jupyterhub_config.py=c.JupyterHub.port = 8081")
    kubectl.run("create", "secret", "generic", "hub-secret", "--from-literal=password=s3cret")
    shared = tmp_path / "written-by-the-pod"
    apply(kubectl, hub_pod(node, shared))
    expected = ["default True", "True", "c.JupyterHub.port = 8081", "s3cret",
                "c.JupyterHub.port = 8081", "scratch", "EROFS", "EROFS",
                Path("/etc/hostname").read_text().strip(), SCRATCH]

    def logged() -> list[str] | None:
        lines = kubectl.run("logs", "hub", check=False).stdout.splitlines()
        return lines if len(lines) >= len(expected) else None
    try:
        lines = wait_for(logged, timeout=30, interval=0.3)
    except AssertionError:
        status = kubectl.json("get", "pod", "hub").get("status")
        logs = kubectl.run("logs", "hub", check=False)
        raise AssertionError(f"the pod did not get through its checks: {logs.stdout}"
                             f"{logs.stderr}\n{status}")
    assert lines == expected
    # The rest of the host's filesystem stays shared: what the pod writes there is here.
    assert shared.read_text() == "from the pod"
    # kubectl exec runs in the container's view, in its working directory.
    assert kubectl.run("exec", "hub", "--", "cat", CONFIG_FILE).stdout == \
        "c.JupyterHub.port = 8081"
    assert kubectl.run("exec", "hub", "--", "pwd").stdout.strip() == SCRATCH
    assert kubectl.run("exec", "hub", "--", "ls", f"{HUB_CONFIG}/secret").stdout.split() == \
        ["password"]

    def host_untouched() -> None:
        for path in TAGGED:
            assert not os.path.lexists(path), f"{path} appeared on the host"
        for path, existed in before.items():
            if not existed:
                assert not os.path.lexists(path), f"{path} appeared on the host"
        assert mount_table_mentions(TAG, HUB_CONFIG, "/secrets/") == []

    host_untouched()
    kubectl.run("delete", "pod", "hub", "--grace-period=1")
    host_untouched()


@pytest.mark.parametrize("name, mount_path, message", [
    ("in-proc", f"/proc/dhl-test-{TAG}", f'"/proc/dhl-test-{TAG}" cannot be mounted because '
     "it is inside /proc"),
    ("under-a-file", f"/etc/hostname/dhl-test-{TAG}", "/etc/hostname is not a directory"),
])
def test_impossible_mount_point_is_a_start_error(kubectl: Kubectl, node: str, name: str,
                                                  mount_path: str, message: str) -> None:
    container = py("main", "print('ran')", volumeMounts=[
        {"name": "scratch", "mountPath": mount_path}])
    apply(kubectl, pod(name, node, container, restartPolicy="Never",
                       volumes=[{"name": "scratch", "emptyDir": {}}]))
    failed = wait_phase(kubectl, name, "Failed")
    term = container_status(failed)["state"]["terminated"]
    assert term["reason"] == "StartError", term
    assert message in term["message"], term
    assert "ran" not in kubectl.run("logs", name).stdout
    assert not os.path.lexists(mount_path)
    kubectl.run("delete", "pod", name, "--wait=false")
