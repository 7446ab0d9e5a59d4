"""A real browser (Debian chromium, Playwright) on JupyterLab served against the embedded
control plane: a notebook cell shows `daskhub_lite.Launcher()`, the test clicks Launch and sees
"Workers: 2", then Shutdown. Screenshots: tests/artifacts/browser/."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from orchestrator import ControlPlane
from tests.e2e import browser_harness, dask_harness
from tests.e2e.dask_harness import poll


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    yield from dask_harness.start(tmp_path_factory.mktemp("cp"))


@pytest.fixture(scope="module")
def lab(cp: ControlPlane, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[browser_harness.JupyterLab]:
    home = tmp_path_factory.mktemp("lab")
    root = home / "work"
    root.mkdir()
    env = {**os.environ, "KUBECONFIG": cp.kubeconfig, "HOME": str(home),
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"],
           "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime")}
    env.pop("PYTHONPATH", None)
    server = browser_harness.JupyterLab(root, env)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from browser_harness.browser()


def test_launcher_in_jupyterlab(lab: browser_harness.JupyterLab, browser: Any,
                                cp: ControlPlane) -> None:
    browser_harness.write_notebook(
        lab.root / "launcher.ipynb",
        "from daskhub_lite import Launcher\n"
        "launcher = Launcher()\n"
        "launcher.workers.value = 2\n"
        "launcher")
    browser_harness.clear("launcher-")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(lab.open_url("launcher.ipynb"), timeout=60_000)
        browser_harness.run_all_cells(page)
        launch = page.locator(".jp-OutputArea button", has_text="Launch")
        launch.wait_for(timeout=60_000)
        browser_harness.screenshot(page, "launcher-form")
        launch.click()
        page.locator(".jp-OutputArea", has_text="Workers: 2").wait_for(timeout=150_000)
        shot = browser_harness.screenshot(page, "launcher-workers-2")
        assert shot.stat().st_size > 0
        page.locator(".jp-OutputArea button", has_text="Shutdown").first.click()
        page.locator(".jp-OutputArea", has_text="shut down").wait_for(timeout=60_000)
        browser_harness.screenshot(page, "launcher-shut-down")
    except Exception:
        browser_harness.screenshot(page, "launcher-failure")
        print(lab.log_tail())
        print(dask_harness.kubectl(cp, "get", "pods", "-A", "-o", "wide"))
        print(dask_harness.kubectl(cp, "logs", "-l", "dask.org/component=worker", "--tail=20"))
        raise
    finally:
        page.close()
    poll(lambda: dask_harness.kubectl(cp, "get", "daskclusters", "-o", "name").strip() in (
        "", "No resources found in default namespace."), 60)
