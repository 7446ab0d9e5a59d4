"""The Launcher widget, driven headlessly: its buttons clicked as a browser would."""

from __future__ import annotations

from typing import Iterator

import pytest

from daskhub_lite import Launcher
from orchestrator import ControlPlane
from tests.e2e import dask_harness
from tests.e2e.dask_harness import objects, poll

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    yield from dask_harness.start(tmp_path_factory.mktemp("cp"))


def test_bad_values_are_refused_before_anything_is_created(cp: ControlPlane) -> None:
    launcher = Launcher(kubeconfig=cp.kubeconfig)
    launcher.workers.value = -1
    launcher.launch_button.click()
    assert "Workers must be 0 or more" in launcher.message.value
    launcher.workers.value = 1
    launcher.gpus.value = 5
    launcher.launch_button.click()
    assert "no node has that many" in launcher.message.value
    assert "most on any node is 2" in launcher.message.value
    assert launcher.cluster is None and launcher.refresh() == []


def test_profile_fills_the_form(cp: ControlPlane) -> None:
    launcher = Launcher(kubeconfig=cp.kubeconfig)
    launcher.profile.value = "gpu"
    assert launcher.gpus.value == 1 and launcher.memory.value == "16Gi"


def test_launch_lists_connects_and_shuts_down(cp: ControlPlane) -> None:
    launcher = Launcher(kubeconfig=cp.kubeconfig)
    launcher.workers.value = 2
    launcher.launch_button.click()
    launcher.wait(120)
    assert launcher.cluster is not None, launcher.message.value
    name = launcher.cluster.name
    assert f"/dask/default/{name}/status" in launcher.dashboard.value  # via the Ingress
    assert launcher.cluster_box.children  # the cluster's own status/scaling widget
    assert name in launcher.refresh()
    assert not launcher.shutdown_button.disabled and launcher.launch_button.disabled
    # A second launcher sees it in the running list and connects to it.
    other = Launcher(kubeconfig=cp.kubeconfig)
    row = next(r for r in other.running.children if r.children[0].value == name) \
        if other.refresh() else None
    assert row is not None
    row.children[1].click()  # Connect
    assert other.cluster is not None and other.cluster.name == name
    other.cluster.shutdown_on_close = False
    other.cluster.close()
    launcher.shutdown_button.click()
    assert launcher.cluster is None and "shut down" in launcher.status.value
    poll(lambda: objects(cp, name) == [], 30)


def test_launch_shows_workers(cp: ControlPlane) -> None:
    """Waits on the pod network: workers must reach the scheduler to count."""
    launcher = Launcher(kubeconfig=cp.kubeconfig)
    launcher.workers.value = 2
    launcher.launch_button.click()
    launcher.wait(120)
    try:
        assert launcher.cluster is not None, launcher.message.value
        poll(lambda: "Workers: 2" in launcher.status.value, 45)
    finally:
        launcher.shutdown()
