"""`daskhub-lite cluster create|list|scale|delete` against the embedded control plane."""

from __future__ import annotations

import subprocess
import sys
from typing import Iterator

import pytest

from orchestrator import ControlPlane
from tests.e2e import dask_harness
from tests.e2e.dask_harness import objects, poll


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    yield from dask_harness.start(tmp_path_factory.mktemp("cp"))


def run(cp: ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-W", "ignore", "-m", "daskhub_lite.cli",
                           "cluster", *args, "--kubeconfig", cp.kubeconfig],
                          capture_output=True, text=True, timeout=120)


def test_create_list_scale_delete(cp: ControlPlane) -> None:
    done = run(cp, "create", "shell", "--workers", "1")
    assert done.returncode == 0, done.stderr
    assert "daskcluster.kubernetes.dask.org/shell created" in done.stdout
    listed = run(cp, "list")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()[:2]
    assert header.split() == ["NAME", "WORKERS", "GROUPS", "PROFILE", "STATUS", "AGE"]
    assert row.split()[:4] == ["shell", "1", "default=1", "cpu-small"]
    scaled = run(cp, "scale", "shell", "3")
    assert scaled.returncode == 0, scaled.stderr
    assert run(cp, "list").stdout.splitlines()[1].split()[1] == "3"
    gone = run(cp, "delete", "shell", "--wait")
    assert gone.returncode == 0 and '"shell" deleted' in gone.stdout
    poll(lambda: objects(cp, "shell") == [], 30)


def test_errors_are_one_line(cp: ControlPlane) -> None:
    for args in (("delete", "missing"), ("scale", "missing", "2"), ("scale", "x", "-1"),
                 ("create", "bad", "--profile", "huge"), ("create", "Bad_Name")):
        done = run(cp, *args)
        assert done.returncode != 0, args
        assert "Traceback" not in done.stderr, done.stderr
    assert "does not exist" in run(cp, "create", "bad", "--profile", "huge").stderr


def test_no_kubernetes_version_warning(cp: ControlPlane) -> None:
    """kr8s warns that the plane's version (v1.37.0+daskhub-lite) is newer than it knows;
    daskhub_lite filters that one warning where it calls kr8s: a DaskCluster made from
    Python and the cluster commands print none (with Python's warnings shown)."""
    made = subprocess.run(
        [sys.executable, "-W", "default", "-c",
         "from daskhub_lite import DaskCluster\n"
         f"c = DaskCluster('quiet', n_workers=0, kubeconfig={cp.kubeconfig!r}, quiet=True,"
         " shutdown_on_close=False)\nc.close()\n"],
        capture_output=True, text=True, timeout=180)
    assert made.returncode == 0, made.stderr
    runs = [made]
    for args in (("list",), ("scale", "quiet", "1"), ("delete", "quiet", "--wait")):
        done = subprocess.run([sys.executable, "-W", "default", "-m", "daskhub_lite.cli",
                               "cluster", *args, "--kubeconfig", cp.kubeconfig],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        runs.append(done)
    assert "quiet" in runs[1].stdout
    for done in runs:
        assert "is not supported" not in done.stderr, done.stderr
        assert "Kubernetes version" not in done.stderr, done.stderr
