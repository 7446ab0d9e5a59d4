"""DaskHub end to end on one embedded control plane: install the chart, log in through the
Ingress, spawn user servers in their own namespaces, compute (with Dask) through a kernel,
RBAC between users, and the hub's faults (wrong password, a server that cannot start, the
hub pod or the proxy pod killed)."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
import yaml

from orchestrator import ControlPlane
from tests.conftest import Kubectl, wait_for
from tests.e2e.charts_helpers import CLI
from tests.e2e.daskhub_harness import Hub, Kernel

NS = "dhub"
RELEASE = "dhub"
HUB = f"{RELEASE}-daskhub-hub"
VALUES = {
    # Small guarantees: two servers and a Dask cluster share this machine's CPUs.
    "singleuser": {
        "cpu": {"guarantee": 0.05, "limit": 2},
        "memory": {"guarantee": "256M", "limit": "4G"},
        "profileList": [
            {"display_name": "CPU", "slug": "cpu", "default": True},
            # A server that cannot start: its command does not exist.
            {"display_name": "Broken", "slug": "broken",
             "kubespawner_override": {"cmd": ["daskhub-no-such-command"],
                                      "start_timeout": 20}},
        ],
    },
    "proxy": {"routeCheckSeconds": 5},
}


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(data_dir=tmp_path_factory.mktemp("hub-cp"), ingress_port=0) as plane:
        yield plane


@pytest.fixture(scope="module")
def kubectl(cp: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(cp, tmp_path_factory.mktemp("kubectl-cache"))


@pytest.fixture(scope="module")
def hub(cp: ControlPlane, kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory) -> Hub:
    home = tmp_path_factory.mktemp("helm-home")
    values = home / "values.yaml"
    values.write_text(yaml.safe_dump(VALUES))
    start = time.monotonic()
    CLI(cp.kubeconfig, home)("install", RELEASE, "daskhub", "-n", NS, "--create-namespace",
                             "-f", str(values), "--wait", "--timeout", "240s", timeout=400)
    print(f"daskhub ready in {time.monotonic() - start:.1f}s")
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


@pytest.fixture(scope="module")
def alice(hub: Hub) -> Iterator[Kernel]:
    hub.ensure_user("alice")
    hub.spawn("alice")
    kernel = Kernel(hub, "alice")
    yield kernel
    kernel.shutdown()


def _user_token(kernel: Kernel) -> dict[str, Any]:
    """What the user's server holds: its kubeconfig's server, CA and token."""
    out = kernel.run("import os; print(open(os.environ['KUBECONFIG']).read())")
    config = yaml.safe_load(out)
    cluster = config["clusters"][0]["cluster"]
    return {"server": cluster["server"], "token": config["users"][0]["user"]["token"],
            "ca": Path(cluster["certificate-authority"]).read_bytes()}


def test_wrong_password_gets_no_access(hub: Hub, kubectl: Kubectl) -> None:
    password = base64.b64decode(kubectl.json("get", "secret", "-n", NS, HUB)["data"][
        "admin-password"]).decode()
    answers = [hub.login(user, pw) for user, pw in (("admin", password[:-1] + "x"),
                                                     ("nobody", password),
                                                     ("alice", "guess"))]
    for resp in answers:
        assert resp.status_code == 403
        assert "jupyterhub-hub-login" not in resp.headers.get("Set-Cookie", "")
        assert "Invalid username or password" in resp.text
    # The same words whichever part was wrong.
    assert len({_message(r.text) for r in answers}) == 1
    assert requests.get(f"{hub.base}/hub/api/users",
                        headers={"Authorization": "token not-a-token"}, timeout=30
                        ).status_code == 403


def _message(page: str) -> str:
    start = page.index("Invalid username or password")
    return page[start:start + 40]


def test_spawn_runs_code_and_dask_in_the_users_namespace(hub: Hub, alice: Kernel,
                                                         kubectl: Kubectl) -> None:
    assert alice.run("print(6 * 7)").strip() == "42"
    pod = kubectl.json("get", "pod", "-n", f"{NS}-alice", "jupyter-alice")
    assert pod["spec"]["serviceAccountName"] == "daskhub-user"
    assert alice.run("import os; print(os.environ['DASKHUB_LITE_NAMESPACE'])").strip() == \
        f"{NS}-alice"
    out = alice.run(
        "import daskhub_lite, dask.array as da\n"
        "with daskhub_lite.DaskCluster(n_workers=1, cores=0.1, memory='1G', quiet=True"
        ") as cluster, cluster.get_client() as client:\n"
        "    print(cluster.namespace, float(da.ones((1000, 1000), chunks=250).sum()"
        ".compute()))\n", timeout=240)
    assert out.strip().splitlines()[-1].split() == [f"{NS}-alice", "1000000.0"]


def test_the_dask_sidebar_api_makes_daskhub_clusters(hub: Hub, alice: Kernel,
                                                     kubectl: Kubectl) -> None:
    """dask-labextension's REST API in the user's server, as the JupyterLab sidebar calls it
    through the hub: its cluster factory is daskhub_lite.DaskCluster."""
    api = f"{hub.base}/user/alice/dask/clusters"
    headers = {"Authorization": f"token {hub.token}"}
    listed = requests.get(api, headers=headers, timeout=30)
    assert listed.status_code == 200 and listed.json() == [], listed.text
    made = requests.put(api, headers=headers, timeout=300)
    assert made.status_code == 200, made.text
    model = made.json()
    found = kubectl.json("get", "daskclusters", "-n", f"{NS}-alice")["items"]
    assert len(found) == 1
    assert model["scheduler_address"] == \
        f"tcp://{found[0]['metadata']['name']}-scheduler.{NS}-alice.svc.cluster.local:8786", model
    assert [c["id"] for c in requests.get(api, headers=headers, timeout=30).json()] == \
        [model["id"]]
    # The dashboard through alice's own server (jupyter-server-proxy, behind the hub's
    # login), as the sidebar's panes load it; nothing outside her namespace that way.
    scheduler = f"{found[0]['metadata']['name']}-scheduler.{NS}-alice:8787"
    assert model["dashboard_link"] == f"/user/alice/proxy/{scheduler}/status", model
    plots = requests.get(f"{hub.base}/user/alice/proxy/{scheduler}/individual-plots.json",
                         headers=headers, timeout=60)
    assert plots.status_code == 200, plots.text
    assert "Individual Task Stream" in plots.json()
    assert requests.get(f"{hub.base}/user/alice/proxy/{scheduler}/status",
                        timeout=30, allow_redirects=False).status_code in (302, 403)
    for elsewhere in (f"{HUB}.{NS}:8081", f"{HUB}.{NS}.svc.cluster.local:8081",
                      "10.96.0.1:443", "example.com:80"):
        refused = requests.get(f"{hub.base}/user/alice/proxy/{elsewhere}/hub/api",
                               headers=headers, timeout=30)
        assert refused.status_code == 403, (elsewhere, refused.status_code)
    closed = requests.delete(f"{api}/{model['id']}", headers=headers, timeout=120)
    assert closed.status_code == 204, closed.text
    assert wait_for(lambda: not kubectl.json("get", "daskclusters", "-n", f"{NS}-alice")[
        "items"], timeout=60)


def test_the_users_namespace_enforces_restricted_and_jobs_run_there(
        hub: Hub, alice: Kernel, kubectl: Kubectl) -> None:
    labels = kubectl.json("get", "namespace", f"{NS}-alice")["metadata"]["labels"]
    assert {mode: labels[f"pod-security.kubernetes.io/{mode}"]
            for mode in ("enforce", "warn", "audit")} == {
        "enforce": "restricted", "warn": "restricted", "audit": "restricted"}
    pod = kubectl.json("get", "pod", "-n", f"{NS}-alice", "jupyter-alice")
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    out = alice.run(
        "import pathlib, tempfile\n"
        "from daskhub_lite import jobs\n"
        "code = pathlib.Path(tempfile.mkdtemp())\n"
        "(code / 'train.py').write_text('print(\"trained\")')\n"
        "job = jobs.submit('python train.py', code=code, name='hub-train', outputs=False)\n"
        "print(job.wait(timeout=120, progress=False).phase, job.logs().strip())\n"
        "job.delete()\n", timeout=180)
    assert out.strip().splitlines()[-1] == "Succeeded trained"
    # A pod that asks for the host is refused in the user's namespace, even from the hub's
    # admin kubectl.
    refused = kubectl.run("run", "escape", "-n", f"{NS}-alice", "--image", "x", "--restart",
                          "Never", "--overrides", '{"spec": {"hostPID": true}}', check=False)
    assert 'pods "escape" is forbidden: violates PodSecurity "restricted:latest": host ' \
           "namespaces (hostPID=true)" in refused.stderr


def test_users_cannot_touch_each_other_or_the_hub(hub: Hub, alice: Kernel,
                                                  kubectl: Kubectl) -> None:
    hub.ensure_user("bob")
    hub.spawn("bob")
    creds = _user_token(alice)
    ca = Path(kubectl.cache_dir) / "alice-ca.crt"
    ca.write_bytes(creds["ca"])
    headers = {"Authorization": f"Bearer {creds['token']}"}

    def call(method: str, path: str) -> requests.Response:
        return requests.request(method, creds["server"] + path, headers=headers,
                                verify=str(ca), timeout=30)

    resp = call("DELETE", f"/api/v1/namespaces/{NS}-bob/pods/jupyter-bob")
    assert resp.status_code == 403, resp.text
    status = resp.json()
    assert status["kind"] == "Status" and status["reason"] == "Forbidden"
    assert f"system:serviceaccount:{NS}-alice:daskhub-user" in status["message"]
    assert call("GET", f"/api/v1/namespaces/{NS}/secrets/{HUB}").status_code == 403
    assert call("GET", f"/api/v1/namespaces/{NS}-alice/pods").status_code == 200
    assert kubectl.json("get", "pod", "-n", f"{NS}-bob", "jupyter-bob")["status"][
        "phase"] == "Running"

    def can_i(*args: str) -> str:
        proc = kubectl.run("auth", "can-i", *args, "--token", creds["token"], check=False)
        return proc.stdout.strip()

    assert can_i("create", "daskclusters.kubernetes.dask.org", "-n", f"{NS}-alice") == "yes"
    assert can_i("create", "jobs.batch", "-n", f"{NS}-alice") == "yes"
    assert can_i("delete", "pods", "-n", f"{NS}-bob") == "no"
    assert can_i("get", "secrets", "-n", NS) == "no"
    assert can_i("create", "pods", "-n", "kube-system") == "no"
    # The hub's own account may make user pods, but not read Secrets or run Deployments.
    hub_token = kubectl.run("create", "token", HUB, "-n", NS).stdout.strip()

    def hub_can(*args: str) -> str:
        return kubectl.run("auth", "can-i", *args, "--token", hub_token,
                           check=False).stdout.strip()

    assert hub_can("create", "pods", "-n", f"{NS}-carol") == "yes"
    assert hub_can("create", "rolebindings", "-n", f"{NS}-carol") == "yes"
    assert hub_can("get", "secrets", "-n", NS) == "no"
    assert hub_can("create", "deployments.apps", "-n", NS) == "no"
    assert hub_can("create", "clusterrolebindings") == "no"
    hub.stop("bob")


def test_a_server_that_cannot_start_shows_why(hub: Hub) -> None:
    hub.ensure_user("carol")
    resp = hub.api("POST", "/users/carol/server", json={"profile": "broken"})
    assert resp.status_code == 202, resp.text
    events = hub.progress("carol", timeout=120)
    assert events[-1].get("failed"), events[-1]
    text = "\n".join(e.get("message", "") for e in events)
    assert "daskhub-no-such-command" in text, text
    assert wait_for(lambda: not hub.user("carol").get("servers"), timeout=60)


def test_hub_pod_killed_users_keep_running(hub: Hub, alice: Kernel,
                                           kubectl: Kubectl) -> None:
    before = kubectl.json("get", "pod", "-n", f"{NS}-alice", "jupyter-alice")["metadata"]
    old = kubectl.json("get", "pods", "-n", NS, "-l", "app.kubernetes.io/component=hub")
    kubectl.run("delete", "pod", "-n", NS, old["items"][0]["metadata"]["name"], "--wait=false")

    def new_hub_ready() -> bool:
        pods = kubectl.json("get", "pods", "-n", NS, "-l",
                            "app.kubernetes.io/component=hub")["items"]
        return any(p["metadata"]["uid"] != old["items"][0]["metadata"]["uid"]
                   and any(c.get("ready") for c in p["status"].get("containerStatuses", []))
                   for p in pods)

    assert wait_for(new_hub_ready, timeout=120)
    assert wait_for(lambda: _answers(hub.base), timeout=60)
    assert wait_for(lambda: (hub.user("alice").get("servers", {}).get("") or {}).get("ready"),
                    timeout=60)
    after = kubectl.json("get", "pod", "-n", f"{NS}-alice", "jupyter-alice")["metadata"]
    assert after["uid"] == before["uid"]
    assert alice.run("print('still here')").strip() == "still here"


def test_proxy_pod_killed_routes_come_back(hub: Hub, alice: Kernel, kubectl: Kubectl) -> None:
    old = kubectl.json("get", "pods", "-n", NS, "-l", "app.kubernetes.io/component=proxy")
    kubectl.run("delete", "pod", "-n", NS, old["items"][0]["metadata"]["name"], "--wait=false")

    def user_route() -> bool:
        try:
            resp = requests.get(f"{hub.base}/user/alice/api/status", timeout=5,
                                headers={"Authorization": f"token {hub.token}"},
                                allow_redirects=False)
            return resp.status_code == 200 and "kernels" in resp.json()
        except (OSError, ValueError):
            return False

    time.sleep(2)
    assert wait_for(user_route, timeout=120, interval=2)
    assert alice.run("print(1 + 1)").strip() == "2"


def test_stop_removes_the_pod(hub: Hub, alice: Kernel, kubectl: Kubectl) -> None:
    hub.stop("alice")
    assert wait_for(lambda: kubectl.run("get", "pod", "-n", f"{NS}-alice", "jupyter-alice",
                                        check=False).returncode != 0, timeout=60)
