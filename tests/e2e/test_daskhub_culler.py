"""The daskhub chart's idle culler, end to end on one embedded control plane: a server left
idle is stopped by jupyterhub-idle-culler (a hub service), and the Dask cluster its kernel
made is reaped once its heartbeats stop; a culler setting out of range is refused."""

from __future__ import annotations

import base64
from typing import Iterator

import pytest
import requests
import yaml

from orchestrator import ControlPlane
from tests.conftest import Kubectl, wait_for
from tests.e2e.charts_helpers import CLI
from tests.e2e.daskhub_harness import Hub, Kernel

NS = "dcull"
RELEASE = "dcull"
HUB = f"{RELEASE}-daskhub-hub"
VALUES = {
    "singleuser": {"cpu": {"guarantee": 0.05, "limit": 2},
                   "memory": {"guarantee": "256M", "limit": "4G"}},
    # The hub learns of activity through the proxy at this interval.
    "proxy": {"routeCheckSeconds": 5},
    "cull": {"enabled": True, "timeout": 20, "every": 5},
}


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(data_dir=tmp_path_factory.mktemp("cull-cp"), ingress_port=0) as plane:
        yield plane


@pytest.fixture(scope="module")
def kubectl(cp: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(cp, tmp_path_factory.mktemp("kubectl-cache"))


@pytest.fixture(scope="module")
def cli(cp: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> CLI:
    return CLI(cp.kubeconfig, tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="module")
def hub(cp: ControlPlane, kubectl: Kubectl, cli: CLI,
        tmp_path_factory: pytest.TempPathFactory) -> Hub:
    values = tmp_path_factory.mktemp("values") / "values.yaml"
    values.write_text(yaml.safe_dump(VALUES))
    cli("install", RELEASE, "daskhub", "-n", NS, "--create-namespace", "-f", str(values),
        "--wait", "--timeout", "240s", timeout=400)
    ingress = kubectl.json("get", "ingress", "-n", NS, RELEASE + "-daskhub")
    port = ingress["status"]["loadBalancer"]["ingress"][0]["ports"][0]["port"]
    hub = Hub(f"http://127.0.0.1:{port}")
    assert wait_for(lambda: _answers(hub.base), timeout=60)
    password = base64.b64decode(kubectl.json("get", "secret", "-n", NS, HUB)["data"][
        "admin-password"]).decode()
    hub.login_token("admin", password)
    return hub


def _answers(base: str) -> bool:
    try:
        return requests.get(f"{base}/hub/api/", timeout=5).status_code == 200
    except OSError:
        return False


def test_the_culler_runs_as_a_hub_service_with_its_scopes(hub: Hub) -> None:
    services = hub.api("GET", "/services")
    assert services.status_code == 200, services.text
    assert "idle-culler" in services.json()
    role = hub.api("GET", "/services/idle-culler").json()
    assert set(role["roles"]) == {"idle-culler"}
    # Its command runs in the hub pod: the hub reports the process it started.
    assert role["command"][1:3] == ["-m", "jupyterhub_idle_culler"]
    assert "--timeout=20" in role["command"] and "--cull-every=5" in role["command"]


def test_an_idle_server_is_culled_and_its_dask_cluster_reaped(hub: Hub,
                                                              kubectl: Kubectl) -> None:
    hub.ensure_user("dora")
    hub.spawn("dora")
    kernel = Kernel(hub, "dora")
    out = kernel.run(
        "import daskhub_lite\n"
        "cluster = daskhub_lite.DaskCluster('left-behind', idle_timeout=10, quiet=True)\n"
        "print(cluster.namespace, cluster.status.name)\n", timeout=240)
    assert out.strip().splitlines()[-1] == f"{NS}-dora running"
    assert kubectl.json("get", "daskcluster", "-n", f"{NS}-dora", "left-behind")
    # Nothing touches the server from here on: the culler stops it...
    assert wait_for(lambda: not hub.user("dora").get("servers"), timeout=180, interval=2)
    assert wait_for(lambda: kubectl.run("get", "pod", "-n", f"{NS}-dora", "jupyter-dora",
                                        check=False).returncode != 0, timeout=60)
    # ...its kernel dies with it, the cluster's heartbeats stop, and the reaper deletes it.
    assert wait_for(lambda: kubectl.run("get", "daskcluster", "-n", f"{NS}-dora",
                                        "left-behind", check=False).returncode != 0,
                    timeout=120, interval=2)


def test_a_cull_timeout_out_of_range_is_refused(hub: Hub, cli: CLI,
                                                tmp_path_factory: pytest.TempPathFactory
                                                ) -> None:
    values = tmp_path_factory.mktemp("bad-values") / "values.yaml"
    values.write_text(yaml.safe_dump({"cull": {"timeout": 0}}))
    line = cli.fails("upgrade", RELEASE, "daskhub", "-n", NS, "-f", str(values))
    assert "cull.timeout" in line or "/cull/timeout" in line, line
    # The release is untouched: the culler still at work.
    assert hub.api("GET", "/services/idle-culler").status_code == 200
