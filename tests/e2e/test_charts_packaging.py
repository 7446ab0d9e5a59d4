"""Helm's packaging commands through `daskhub-lite`: package a chart and install the archive on
a live control plane, dependency update/build/list on scratch charts (a `file://` dependency,
an added local repository, one served over HTTP), repo index, the values warnings that know
subcharts, and the bad inputs, each one line on stderr."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import tarfile
import threading
from pathlib import Path
from typing import Any, Iterator

import helm_python as helm
import pytest
import yaml

from tests.conftest import wait_for
from tests.e2e.charts_helpers import CHARTS, CLI


@pytest.fixture(scope="module")
def cli(control_plane, tmp_path_factory) -> CLI:
    return CLI(control_plane.kubeconfig, tmp_path_factory.mktemp("helm-home"))


def _chart(root: Path, name: str, version: str = "0.1.0",
           dependencies: list[dict[str, Any]] | None = None, template: str | None = None
           ) -> Path:
    """A small chart: one ConfigMap, its own values, optional dependencies."""
    path = root / name
    (path / "templates").mkdir(parents=True)
    meta: dict[str, Any] = {"apiVersion": "v2", "name": name, "version": version,
                            "appVersion": "1.0", "description": f"chart {name}"}
    if dependencies:
        meta["dependencies"] = dependencies
    (path / "Chart.yaml").write_text(yaml.safe_dump(meta))
    (path / "values.yaml").write_text(f"greeting: hello from {name}\n")
    (path / "templates" / "configmap.yaml").write_text(template or (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        f"  name: {{{{ .Release.Name }}}}-{name}\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n"))
    return path


def _rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip()]


# --- package, then install the archive --------------------------------------------------


def test_package_daskhub_and_install_the_archive(cli: CLI, kubectl, tmp_path: Path) -> None:
    out = cli("package", str(CHARTS / "daskhub"), "-d", str(tmp_path), "--version", "0.2.0",
              "--app-version", "5.3.1").stdout
    archive = tmp_path / "daskhub-0.2.0.tgz"
    assert out.strip() == f"Successfully packaged chart and saved it to: {archive}"
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert all(n.startswith("daskhub/") for n in names)
    assert {"daskhub/Chart.yaml", "daskhub/templates/NOTES.txt",
            "daskhub/charts/dask-operator/Chart.yaml"} <= set(names)

    ns = "packaged"
    out = cli("install", "ph", str(archive), "-n", ns, "--create-namespace",
              "--render-subchart-notes").stdout
    try:
        assert "STATUS: deployed" in out
        ingress = wait_for(lambda: _with_address(kubectl.json("get", "ingress", "ph-daskhub",
                                                              "-n", ns)), timeout=30)
        lb = ingress["status"]["loadBalancer"]["ingress"][0]
        # NOTES, rendered before the Ingress existed, show the address it was given.
        assert f"Open: http://{lb['ip']}:{lb['ports'][0]['port']}/\n" in out
        assert "<ingress address>" not in out
        # The subchart's NOTES.txt too (daskhub's own say "the Dask operator is part...").
        assert "The Dask operator " in out
        rows = _rows(cli("list", "-n", ns).stdout)
        assert rows[1][0] == "ph" and "daskhub-0.2.0" in rows[1] and rows[1][-1] == "5.3.1"
        assert "The Dask operator " in cli("status", "ph", "-n", ns).stdout  # stored notes
        plain = cli("upgrade", "ph", str(archive), "-n", ns).stdout
        assert f"Open: http://{lb['ip']}:{lb['ports'][0]['port']}/" in plain
        assert "The Dask operator " not in plain  # without the flag: the parent's only
    finally:
        cli("uninstall", "ph", "-n", ns)
        kubectl.run("delete", "namespace", ns, "--wait=false")


def _with_address(ingress: dict[str, Any]) -> dict[str, Any] | None:
    return ingress if (ingress.get("status") or {}).get("loadBalancer", {}).get("ingress") \
        else None


def test_package_with_dependency_update(cli: CLI, tmp_path: Path) -> None:
    _chart(tmp_path, "child")
    parent = _chart(tmp_path, "parent", dependencies=[
        {"name": "child", "version": "~0.1", "repository": "file://../child"}])
    dist = tmp_path / "dist"
    dist.mkdir()
    cli("package", str(parent), "-u", "-d", str(dist))
    with tarfile.open(dist / "parent-0.1.0.tgz") as tar:
        assert "parent/charts/child/Chart.yaml" in tar.getnames()  # as Helm saves subcharts
    assert (parent / "Chart.lock").is_file()
    out = cli("template", "t", str(dist / "parent-0.1.0.tgz")).stdout
    assert "name: t-child" in out and "name: t-parent" in out


def test_package_refuses_a_chart_that_fails_lint(cli: CLI, tmp_path: Path) -> None:
    bad = _chart(tmp_path, "broken", template="{{ .Values.nope.deeper }}\n")
    line = cli.fails("package", str(bad), "-d", str(tmp_path))
    assert "fails lint, not packaged" in line
    assert "[ERROR] templates/:" in line and "nil pointer evaluating" in line
    assert list(tmp_path.glob("*.tgz")) == []
    bad_version = _chart(tmp_path, "badver", version="one")
    assert "version 'one' is not a valid SemVer" in cli.fails("package", str(bad_version))
    assert "no such file or directory" in cli.fails("package", str(tmp_path / "nothere"))


# --- dependencies ---------------------------------------------------------------------------


def test_dependency_update_build_list_with_a_file_dependency(cli: CLI, tmp_path: Path) -> None:
    _chart(tmp_path, "child")
    parent = _chart(tmp_path, "parent", dependencies=[
        {"name": "child", "version": "^0.1.0", "repository": "file://../child"}])
    header = ["NAME", "VERSION", "REPOSITORY", "STATUS"]
    assert _rows(cli("dependency", "list", str(parent)).stdout) == [
        header, ["child", "^0.1.0", "file://../child", "missing"]]

    out = cli("dependency", "update", str(parent)).stdout
    assert out.splitlines() == ["Saving 1 charts", "Deleting outdated charts"]
    assert sorted(p.name for p in (parent / "charts").iterdir()) == ["child-0.1.0.tgz"]
    lock = yaml.safe_load((parent / "Chart.lock").read_text())
    assert lock["dependencies"] == [
        {"name": "child", "repository": "file://../child", "version": "0.1.0"}]
    assert _rows(cli("dep", "ls", str(parent)).stdout)[1][-1] == "ok"

    # Helm's own engine writes the same lock digest, and accepts ours.
    twin = tmp_path / "twin"
    shutil.copytree(tmp_path / "child", twin / "child")
    shutil.copytree(parent, twin / "parent", ignore=shutil.ignore_patterns("Chart.lock", "charts"))
    helm.dependency_update(twin / "parent")
    assert yaml.safe_load((twin / "parent" / "Chart.lock").read_text())["digest"] == \
        lock["digest"]
    helm.dependency_build(parent)

    (parent / "charts" / "child-0.1.0.tgz").unlink()
    assert _rows(cli("dependency", "list", str(parent)).stdout)[1][-1] == "missing"
    cli("dependency", "build", str(parent))
    assert _rows(cli("dependency", "list", str(parent)).stdout)[1][-1] == "ok"
    out = cli("template", "t", str(parent)).stdout
    assert "name: t-child" in out

    # The child moves to 0.2.0: the lock's 0.1.0 cannot be built, ^0.1.0 cannot be met;
    # with ^0.2.0 update replaces the archive and the lock.
    child_meta = tmp_path / "child" / "Chart.yaml"
    child_meta.write_text(child_meta.read_text().replace("0.1.0", "0.2.0"))
    assert "can't get a valid version for dependency child" in cli.fails(
        "dependency", "build", str(parent))
    assert 'can\'t get a valid version for 1 subchart(s): "child"' in cli.fails(
        "dependency", "update", str(parent))
    meta = parent / "Chart.yaml"
    meta.write_text(meta.read_text().replace("^0.1.0", "^0.2.0"))
    cli("dependency", "update", str(parent))
    assert sorted(p.name for p in (parent / "charts").iterdir()) == ["child-0.2.0.tgz"]
    assert yaml.safe_load((parent / "Chart.lock").read_text())["dependencies"][0][
        "version"] == "0.2.0"


def test_dependency_list_statuses_and_warnings(cli: CLI, tmp_path: Path) -> None:
    _chart(tmp_path, "child")
    parent = _chart(tmp_path, "parent", dependencies=[
        {"name": "child", "version": "^0.2.0", "repository": "file://../child"}])
    (parent / "charts").mkdir()
    helm.package(tmp_path / "child", destination=parent / "charts")
    _chart(parent / "charts", "stray")
    lines = cli("dependency", "list", str(parent)).stdout.splitlines()
    assert lines[1].split() == ["child", "^0.2.0", "file://../child", "wrong", "version"]
    assert lines[2] == ""
    assert lines[3] == f'WARNING: "{parent / "charts" / "stray"}" is not in Chart.yaml.'
    lone = _chart(tmp_path, "lone")
    assert cli("dependency", "list", str(lone)).stdout.strip() == \
        f"WARNING: no dependencies at {lone / 'charts'}"


@pytest.fixture
def http_repo(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_dependencies_from_added_repositories(cli: CLI, tmp_path: Path,
                                              http_repo: tuple[Path, str]) -> None:
    served, url = http_repo
    local = tmp_path / "localrepo"
    local.mkdir()
    for version in ("0.1.0", "0.1.5", "0.2.0"):
        helm.package(_chart(tmp_path / version, "child", version), destination=local)
        helm.package(_chart(tmp_path / f"o{version}", "other", version), destination=served)
    cli("repo", "index", str(local))
    cli("repo", "index", str(served), "--url", url)
    cli("repo", "add", "mine", str(local))
    cli("repo", "add", "web", url)
    try:
        parent = _chart(tmp_path, "parent", dependencies=[
            {"name": "child", "version": "~0.1", "repository": "@mine"},
            {"name": "other", "version": ">=0.1.5 <0.2.0 || ^0.2", "repository": url}])
        out = cli("dependency", "update", str(parent)).stdout.splitlines()
        assert out[0] == "Hang tight while we grab the latest from your chart repositories..."
        assert '...Successfully got an update from the "web" chart repository' in out
        assert out[out.index("Saving 2 charts") + 1:] == [
            "Downloading child from repo " + str(local),
            "Downloading other from repo " + url,
            "Deleting outdated charts"]
        assert sorted(p.name for p in (parent / "charts").iterdir()) == [
            "child-0.1.5.tgz", "other-0.2.0.tgz"]
        lock = yaml.safe_load((parent / "Chart.lock").read_text())
        assert lock["dependencies"] == [
            {"name": "child", "repository": str(local), "version": "0.1.5"},
            {"name": "other", "repository": url, "version": "0.2.0"}]
        for archive in (parent / "charts").iterdir():
            archive.unlink()
        cli("dependency", "build", str(parent), "--skip-refresh")
        assert sorted(p.name for p in (parent / "charts").iterdir()) == [
            "child-0.1.5.tgz", "other-0.2.0.tgz"]

        # Chart.yaml changed since the lock was written: build refuses.
        text = (parent / "Chart.yaml").read_text().replace("~0.1", "~0.2")
        (parent / "Chart.yaml").write_text(text)
        assert "out of sync" in cli.fails("dependency", "build", str(parent))
        # A range nothing in the repository meets names the dependency.
        (parent / "Chart.yaml").write_text(text.replace("~0.2", "^3.0.0"))
        line = cli.fails("dependency", "update", str(parent))
        assert 'can\'t get a valid version for 1 subchart(s): "child"' in line
    finally:
        cli("repo", "remove", "mine", "web")


def test_dependency_bad_inputs(cli: CLI, tmp_path: Path) -> None:
    _chart(tmp_path, "child")
    parent = _chart(tmp_path, "parent", dependencies=[
        {"name": "child", "version": "0.1.0", "repository": "file://../child"}])
    cli("dependency", "update", str(parent))
    shutil.rmtree(tmp_path / "child")
    (parent / "charts" / "child-0.1.0.tgz").unlink()
    line = cli.fails("dependency", "build", str(parent))
    assert "'child'" in line and "not found" in line

    unknown = _chart(tmp_path, "unknown", dependencies=[
        {"name": "x", "version": "1.0.0", "repository": "@nosuch"}])
    assert "no repository definition for @nosuch" in cli.fails(
        "dependency", "update", str(unknown))
    local = _chart(tmp_path, "local", dependencies=[{"name": "sub", "version": "1.0.0",
                                                     "repository": ""}])
    assert "'sub'" in cli.fails("dependency", "update", str(local))
    assert "could not find" in cli.fails("dependency", "update", str(tmp_path / "nothere"))


# --- repo index -----------------------------------------------------------------------------


def test_repo_index(cli: CLI, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    for name, version in (("alpha", "1.0.0"), ("alpha", "1.1.0"), ("beta", "0.3.0")):
        helm.package(_chart(tmp_path / f"{name}{version}", name, version), destination=repo)
    old = tmp_path / "old-index.yaml"
    old.write_text(yaml.safe_dump({"apiVersion": "v1", "entries": {"gamma": [{
        "name": "gamma", "version": "2.0.0", "urls": ["https://old.example/gamma-2.0.0.tgz"],
        "digest": "0" * 64, "created": "2024-01-01T00:00:00Z", "apiVersion": "v2"}]}}))
    out = cli("repo", "index", str(repo), "--url", "https://charts.example/x",
              "--merge", str(old)).stdout
    assert out == ""
    index = yaml.safe_load((repo / "index.yaml").read_text())
    assert index["apiVersion"] == "v1" and index["generated"]
    assert sorted(index["entries"]) == ["alpha", "beta", "gamma"]
    assert [e["version"] for e in index["entries"]["alpha"]] == ["1.1.0", "1.0.0"]
    for entry in index["entries"]["alpha"] + index["entries"]["beta"]:
        archive = repo / f"{entry['name']}-{entry['version']}.tgz"
        assert entry["digest"] == hashlib.sha256(archive.read_bytes()).hexdigest()
        assert entry["urls"] == [f"https://charts.example/x/{archive.name}"]
        assert entry["created"]
    # A --merge file that does not exist yet is created (empty) first, as Helm does.
    fresh = tmp_path / "fresh.yaml"
    cli("repo", "index", str(repo), "--merge", str(fresh))
    assert yaml.safe_load(fresh.read_text())["entries"] == {}
    assert yaml.safe_load((repo / "index.yaml").read_text())["entries"]["beta"][0]["urls"] == \
        ["beta-0.3.0.tgz"]
    assert "no such file or directory" in cli.fails("repo", "index", str(tmp_path / "nothere"))


# --- values warnings know subcharts -----------------------------------------------------------


def test_values_warnings_know_subcharts(cli: CLI) -> None:
    proc = cli("template", "w", "daskhub", "--set", "dask-operator.image.tag=2026.1.0",
               "--set", "dask-operator.enabled=true", "--set", "proxy.service.port=8080",
               "--set", "dask-operator.imge.tag=x", "--set", "nosuch=1")
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: dask-operator.imge is not a value of chart dask-operator; ignored by its "
        "templates",
        "warning: nosuch is not a value of chart daskhub; ignored by its templates"]
    assert "dask-kubernetes-operator:2026.1.0" in proc.stdout  # reached the subchart


# --- the command line's own bad input ---------------------------------------------------------


@pytest.mark.parametrize("argv, expected", [
    (["frobnicate"], 'error: unknown command "frobnicate" for "daskhub-lite"'),
    (["dependency", "frobnicate"],
     'error: unknown command "frobnicate" for "daskhub-lite dependency"'),
])
def test_unknown_subcommand(cli: CLI, argv: list[str], expected: str) -> None:
    proc = cli(*argv, ok=False)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(expected), proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
