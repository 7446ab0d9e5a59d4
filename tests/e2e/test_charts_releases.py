"""Release life cycle on the embedded control plane through `daskhub-lite`, checked against
the API (kubectl) and against what helm-python-sdk's own list/history read from the same
Secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.charts_helpers import CLI


@pytest.fixture(scope="module")
def cli(control_plane, tmp_path_factory) -> CLI:
    return CLI(control_plane.kubeconfig, tmp_path_factory.mktemp("helm-home"))


def _replicas(kubectl, name: str, ns: str = "default") -> int:
    return int(kubectl.json("get", "deployment", name, "-n", ns)["spec"]["replicas"])


def test_install_upgrade_rollback_uninstall(cli: CLI, kubectl) -> None:
    out = cli("install", "lc", "dask", "--set", "worker.replicas=1").stdout
    assert "NAME: lc" in out and "STATUS: deployed" in out and "REVISION: 1" in out
    assert "tcp://lc-dask-scheduler:8786" in out  # NOTES
    assert _replicas(kubectl, "lc-dask-worker") == 1

    cli("upgrade", "lc", "dask", "--set", "worker.replicas=3")
    assert _replicas(kubectl, "lc-dask-worker") == 3
    cli("rollback", "lc", "1")
    assert _replicas(kubectl, "lc-dask-worker") == 1

    history = json.loads(cli("history", "lc", "-o", "json").stdout)
    assert [(h["revision"], h["status"]) for h in history] == [
        ("1", "superseded"), ("2", "superseded"), ("3", "deployed")]
    assert history[2]["description"] == "Rollback to 1"
    table = cli("history", "lc").stdout.splitlines()
    assert table[0].split() == ["REVISION", "UPDATED", "STATUS", "CHART", "APP", "VERSION",
                                "DESCRIPTION"]

    with cli.helm_config() as cfg:  # helm-python-sdk reads the same release Secrets
        sdk = [(str(h["revision"]), h["status"]) for h in cfg.history("lc")]
        assert sdk == [(h["revision"], h["status"]) for h in history]
        ours = json.loads(cli("list", "-o", "json").stdout)
        theirs = cfg.list()
        assert [(r["name"], r["revision"], r["status"]) for r in ours] == \
            [(r["name"], str(r["revision"]), r["status"]) for r in theirs]

    secrets = kubectl.json("get", "secrets", "-l", "owner=helm,name=lc")["items"]
    assert {s["metadata"]["labels"]["version"] for s in secrets} == {"1", "2", "3"}
    assert all(s["type"] == "helm.sh/release.v1" for s in secrets)

    status = cli("status", "lc").stdout
    assert "STATUS: deployed" in status and "REVISION: 3" in status

    cli("uninstall", "lc")
    left = kubectl.json("get", "deployments,services,serviceaccounts,secrets", "-l",
                        "app.kubernetes.io/instance=lc")["items"]
    assert left == []
    assert kubectl.json("get", "secrets", "-l", "owner=helm,name=lc")["items"] == []
    with cli.helm_config() as cfg:
        assert cfg.list(all_states=True) == []


def test_list_table_and_namespaces(cli: CLI) -> None:
    cli("install", "op", "dask-operator", "-n", "dask-operator", "--create-namespace")
    try:
        assert cli("ls").stdout.strip().splitlines()[1:] == []  # default namespace: none
        rows = cli("ls", "-A").stdout.strip().splitlines()
        assert rows[0].split()[:3] == ["NAME", "NAMESPACE", "REVISION"]
        assert rows[1].split()[:3] == ["op", "dask-operator", "1"]
        assert "dask-operator-0.1.0" in rows[1]
        assert cli("ls", "-A", "-q").stdout.split() == ["op"]
    finally:
        cli("uninstall", "op", "-n", "dask-operator")


def test_operator_chart_installs_crds(cli: CLI, kubectl) -> None:
    cli("install", "dop", "dask-operator", "-n", "dop", "--create-namespace")
    try:
        crds = {c["metadata"]["name"] for c in kubectl.json("get", "crd")["items"]}
        assert {"daskclusters.kubernetes.dask.org", "daskworkergroups.kubernetes.dask.org",
                "daskjobs.kubernetes.dask.org", "daskautoscalers.kubernetes.dask.org"} <= crds
        dep = kubectl.json("get", "deployment", "dop-dask-operator", "-n", "dop")
        command = dep["spec"]["template"]["spec"]["containers"][0]["command"]
        assert command == ["kopf", "run", "-m", "dask_kubernetes.operator.controller",
                           "--all-namespaces", "--standalone"]
    finally:
        cli("uninstall", "dop", "-n", "dop")


def test_daskhub_installs(cli: CLI, kubectl) -> None:
    out = cli("install", "hub", "daskhub", "-n", "hub", "--create-namespace").stdout
    try:
        assert "admin-password" in out  # NOTES say how to log in
        secret = kubectl.json("get", "secret", "hub-daskhub-hub", "-n", "hub")
        assert len(secret["data"]["admin-password"]) > 0
        # Upgrades keep the generated password (lookup of the live Secret).
        cli("upgrade", "hub", "daskhub", "-n", "hub", "--set", "singleuser.startTimeout=120")
        again = kubectl.json("get", "secret", "hub-daskhub-hub", "-n", "hub")
        assert again["data"]["admin-password"] == secret["data"]["admin-password"]
    finally:
        cli("uninstall", "hub", "-n", "hub")


def test_template_and_lint(cli: CLI, tmp_path: Path) -> None:
    out = cli("template", "t1", "dask", "--set", "worker.replicas=4").stdout
    assert "# Source: dask/templates/workers.yaml" in out and "replicas: 4" in out
    lint = cli("lint", "dask", "daskhub", "dask-operator", "gpu-scheduler", "--strict").stdout
    assert "4 chart(s) linted, 0 chart(s) failed" in lint
