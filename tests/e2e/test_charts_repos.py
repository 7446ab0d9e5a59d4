"""The tutorial flow, verbatim with our command in place of `helm`, against a chart repository
served over HTTP from a temp dir; and bad inputs, each a one-line error with non-zero exit."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path
from typing import Iterator

import helm_python as helm
import pytest

from tests.e2e.charts_helpers import CHARTS, CLI


@pytest.fixture(scope="module")
def cli(control_plane, tmp_path_factory) -> CLI:
    return CLI(control_plane.kubeconfig, tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="module")
def repo_url(tmp_path_factory) -> Iterator[str]:
    """`helm package` + `helm repo index`, served by a local HTTP server."""
    root = tmp_path_factory.mktemp("chart-repo")
    src = tmp_path_factory.mktemp("chart-src")
    for name in ("dask", "dask-operator"):
        chart = shutil.copytree(CHARTS / name, src / name, symlinks=False)
        helm.package(chart, destination=root)
    helm.repo_index_generate(root)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_tutorial_flow(cli: CLI, repo_url: str, kubectl) -> None:
    assert '"dask" has been added' in cli("repo", "add", "dask", repo_url).stdout
    assert "dask\t" in cli("repo", "list").stdout.replace(" ", "") or \
        cli("repo", "list").stdout.split()[2] == "dask"
    cli("repo", "update")
    found = cli("search", "repo", "dask").stdout.splitlines()
    assert found[0].split()[:2] == ["NAME", "CHART"]
    assert any(line.split()[0] == "dask/dask" for line in found[1:])

    out = cli("install", "dask/dask", "--generate-name").stdout
    name = out.splitlines()[0].removeprefix("NAME: ")
    assert name.startswith("dask-")
    rows = cli("ls").stdout.splitlines()
    assert any(row.split()[0] == name and "deployed" in row for row in rows[1:])
    assert kubectl.json("get", "deployment", f"{name}-worker")["spec"]["replicas"] == 3

    assert f'release "{name}" uninstalled' in cli("uninstall", name).stdout
    assert cli("ls").stdout.splitlines()[1:] == []
    cli("repo", "remove", "dask")


def test_local_directory_repo(cli: CLI, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    helm.package(CHARTS / "gpu-scheduler", destination=root)
    helm.repo_index_generate(root)
    cli("repo", "add", "localdir", str(root))
    assert "localdir/gpu-scheduler" in cli("search", "repo", "gpu").stdout
    out = cli("template", "gs", "localdir/gpu-scheduler").stdout
    assert "kind: ClusterRole" in out
    cli("repo", "remove", "localdir")


# --- bad input ---------------------------------------------------------------------------


def test_values_file_with_wrong_type(cli: CLI, tmp_path: Path) -> None:
    values = tmp_path / "bad.yaml"
    values.write_text("worker:\n  replicas: many\n")
    line = cli.fails("install", "bad1", "dask", "-f", str(values))
    assert "/worker/replicas" in line and "want integer" in line


def test_set_unknown_key_warns(cli: CLI) -> None:
    proc = cli("template", "w1", "dask", "--set", "worker.replica=2", "--set", "nosuch=1")
    assert "warning: worker.replica is not a value of chart dask" in proc.stderr
    assert "warning: nosuch is not a value of chart dask" in proc.stderr


def test_name_already_taken(cli: CLI) -> None:
    cli("install", "taken", "dask-operator", "-n", "taken", "--create-namespace")
    try:
        line = cli.fails("install", "taken", "dask-operator", "-n", "taken")
        assert "cannot reuse a name that is still in use" in line
    finally:
        cli("uninstall", "taken", "-n", "taken")


def test_upgrade_fails_halfway_then_rollback(cli: CLI, kubectl) -> None:
    cli("install", "half", "dask", "--set", "worker.replicas=1")
    try:
        # Valid to the chart's schema, rejected by the API server for one object.
        line = cli.fails("upgrade", "half", "dask", "--set", "worker.replicas=2",
                         "--set", "worker.resources.limits.cpu=lots")
        assert line.startswith("error: UPGRADE FAILED")
        history = cli("history", "half").stdout.splitlines()
        assert "failed" in history[-1]
        cli("rollback", "half", "1")
        assert "deployed" in cli("history", "half").stdout.splitlines()[-1]
        assert kubectl.json("get", "deployment", "half-dask-worker")["spec"]["replicas"] == 1
    finally:
        cli("uninstall", "half")
    left = kubectl.json("get", "deployments,services,secrets", "-l",
                        "app.kubernetes.io/instance=half")["items"]
    assert left == []


def test_chart_that_does_not_exist(cli: CLI) -> None:
    assert "not found" in cli.fails("install", "x", "no-such-chart")
    assert "not found" in cli.fails("install", "x", "./no/such/dir")
    assert "repo nope not found" in cli.fails("install", "x", "nope/dask")


def test_repository_unreachable(cli: CLI) -> None:
    line = cli.fails("repo", "add", "gone", "http://127.0.0.1:9/charts")
    assert "cannot be reached" in line


def test_other_bad_inputs(cli: CLI) -> None:
    assert "has no deployed releases" in cli.fails("upgrade", "ghost", "dask")
    assert "not found" in cli.fails("status", "ghost")
    assert "not found" in cli.fails("rollback", "ghost")
    assert "--generate-name" in cli.fails("install", "dask")
    assert "does not exist" in cli.fails("install", "x", "dask", "-f", "/no/such/values.yaml")
    assert "Kubernetes cluster unreachable" in _unreachable(cli)


def _unreachable(cli: CLI) -> str:
    env = dict(cli.env)
    try:
        cli.env = {**env, "KUBECONFIG": "/nonexistent/kubeconfig"}
        return cli.fails("list")
    finally:
        cli.env = env
