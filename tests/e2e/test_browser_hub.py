"""DaskHub in a real browser (Debian chromium, Playwright): log in to the hub with the
generated admin password, spawn a server from the profile form, open the quickstart notebook,
launch a Dask cluster from the Launcher widget and see its workers. Screenshots:
tests/artifacts/browser/hub-*.png."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import pytest
import requests

from daskhub_lite.demo_hub import HubUser
from tests.e2e import browser_harness
from tests.e2e.dask_harness import kubectl, poll

ROOT = Path(__file__).resolve().parents[2]
NS = "bhub"
RELEASE = "bhub"
USER = "admin"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, str]]:
    """DaskHub on a control plane started as users start it (`daskhub-lite up`, a daemon),
    from a scratch folder: user servers start in the daemon's folder, which must not be the
    checkout. Yields (an object with .kubeconfig, hub base URL, admin password)."""
    tmp = tmp_path_factory.mktemp("hub")
    data = tmp / "cp"
    cli = [sys.executable, "-m", "daskhub_lite.cli"]
    # Its own HOME: the embedded runtime's pods inherit the daemon's (issue 16), and
    # JupyterLab saves each browser session's layout there; the host's must stay untouched
    # and the next run must not restore this one's panes.
    home = tmp / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home),
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]}
    subprocess.run([*cli, "up", "--data-dir", str(data), "--ingress-port",
                    str(browser_harness.free_port())], cwd=tmp, env=env, check=True,
                   timeout=120, capture_output=True)
    cp = SimpleNamespace(kubeconfig=str(data / "kubeconfig"))
    try:
        subprocess.run([*cli, "install", RELEASE, "daskhub", "-n", NS, "--create-namespace",
                        "--wait", "--timeout", "300s", "--kubeconfig", cp.kubeconfig],
                       cwd=tmp, env=env, check=True, timeout=400, capture_output=True)
        ingress = json.loads(kubectl(cp, "get", "ingress", "-n", NS, "-o", "json"))["items"][0]
        port = ingress["status"]["loadBalancer"]["ingress"][0]["ports"][0]["port"]
        secret = json.loads(kubectl(cp, "get", "secret", "-n", NS, f"{RELEASE}-daskhub-hub",
                                    "-o", "json"))
        password = base64.b64decode(secret["data"]["admin-password"]).decode()
        base = f"http://127.0.0.1:{port}"
        poll(lambda: requests.get(f"{base}/hub/api/", timeout=5).ok, 60)
        yield cp, base, password
    finally:
        subprocess.run([*cli, "down", "--data-dir", str(data)], env=env, timeout=120,
                       capture_output=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from browser_harness.browser()


def test_login_spawn_quickstart_launcher(hub: tuple[Any, str, str],
                                         browser: Any) -> None:
    cp, base, password = hub
    browser_harness.clear("hub-")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(f"{base}/hub/login", timeout=60_000)
        page.fill("#username_input", USER)
        page.fill("#password_input", password)
        browser_harness.screenshot(page, "hub-1-login")
        page.click("#login_submit")
        # The profile form (CPU / GPU servers), then the spawn's progress page.
        start = page.locator("form button[type=submit]", has_text="Start")
        start.wait_for(timeout=60_000)
        browser_harness.screenshot(page, "hub-2-profiles")
        start.click()
        page.wait_for_url(f"**/user/{USER}/**", timeout=240_000)
        page.wait_for_selector("#jp-main-statusbar", timeout=120_000)

        # The quickstart notebook, put into the server through its contents API.
        api = HubUser(base, USER)
        api.login(password)
        notebook = json.loads((ROOT / "notebooks" / "01-quickstart.ipynb").read_text())
        put = requests.put(f"{base}/user/{USER}/api/contents/01-quickstart.ipynb",
                           headers={"Authorization": f"token {api.token}"},
                           json={"type": "notebook", "format": "json", "content": notebook},
                           timeout=30)
        assert put.status_code in (200, 201), (put.status_code, put.text[:300])
        page.goto(f"{base}/user/{USER}/lab/tree/01-quickstart.ipynb", timeout=60_000)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        page.wait_for_selector("#jp-main-statusbar :text('Idle')", timeout=60_000)
        browser_harness.screenshot(page, "hub-3-quickstart")

        # A new first cell with the Launcher, typed and run as a person would.
        page.locator(".jp-Notebook .jp-Cell").first.click()
        page.keyboard.press("Escape")
        page.keyboard.press("a")
        page.keyboard.press("Enter")
        page.keyboard.type("from daskhub_lite import Launcher\nlauncher = Launcher()\n"
                           "launcher.workers.value = 2\nlauncher")
        page.keyboard.press("Shift+Enter")
        select = page.locator(".jp-Dialog button", has_text="Select")
        try:
            select.wait_for(timeout=3_000)
            select.click()
        except Exception:  # no kernel question: the cell is running
            pass
        launch = page.locator(".jp-OutputArea button", has_text="Launch")
        launch.wait_for(timeout=120_000)
        launch.click()
        page.locator(".jp-OutputArea", has_text="Workers: 2").wait_for(timeout=180_000)
        browser_harness.screenshot(page, "hub-4-workers")
        page.locator(".jp-OutputArea button", has_text="Shutdown").first.click()
        page.locator(".jp-OutputArea", has_text="shut down").wait_for(timeout=60_000)
    except Exception:
        browser_harness.screenshot(page, "hub-failure")
        print(kubectl(cp, "get", "pods", "-A", "-o", "wide"))
        raise
    finally:
        page.close()
    poll(lambda: "No resources" in kubectl(cp, "get", "daskclusters", "-A"), 60)


def test_dask_sidebar_new_cluster_scale_and_task_stream(hub: tuple[Any, str, str],
                                                        browser: Any) -> None:
    """The Dask JupyterLab extension as DaskHub users know it: "+ NEW" in the sidebar makes
    a DaskCluster in the user's namespace, SCALE gives it a worker, and the Task Stream pane
    opens through the user's own server proxy."""
    cp, base, password = hub
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(f"{base}/hub/login", timeout=60_000)
        page.fill("#username_input", USER)
        page.fill("#password_input", password)
        page.click("#login_submit")
        start = page.locator("form button[type=submit]", has_text="Start")
        try:  # the first test's server may be running already
            start.wait_for(timeout=10_000)
            start.click()
        except Exception:
            pass
        page.goto(f"{base}/user/{USER}/lab", timeout=240_000)
        page.wait_for_selector("#jp-main-statusbar", timeout=120_000)

        tab = page.locator('.jp-SideBar .lm-TabBar-tab[data-id="dask-dashboard-launcher"]')
        new = page.locator('jp-button[data-command="dask:launch-cluster"]')
        tab.wait_for(timeout=60_000)
        page.wait_for_timeout(1_000)  # the layout restored (a tab click toggles its panel)
        if not new.is_visible():
            tab.click()
        new.click()
        item = page.locator(".dask-ClusterListingItem").first
        item.wait_for(timeout=240_000)
        namespace = f"{NS}-{USER}"
        poll(lambda: "Running" in kubectl(cp, "get", "daskclusters", "-n", namespace), 120)

        item.locator("button.dask-ClusterListingItem-scale").click()
        scaling = page.locator(".jp-Dialog input.dask-ScalingInput").first
        scaling.fill("1")
        page.locator(".jp-Dialog button.jp-mod-accept").click()
        item.locator(".dask-ClusterListingItem-stats", has_text="Workers: 1").wait_for(
            timeout=240_000)
        browser_harness.screenshot(page, "hub-5-sidebar-cluster")

        item.click()  # makes it the active cluster: the panes list its dashboard's plots
        task_stream = page.locator(".dask-DashboardListing-item button", has_text="Task Stream")
        task_stream.first.wait_for(timeout=60_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.dask-DashboardListing-item button')]"
            ".some(b => b.textContent === 'Task Stream' && !b.disabled)", timeout=60_000)
        task_stream.first.click()
        frame = page.locator(".jp-MainAreaWidget iframe").last
        frame.wait_for(timeout=60_000)
        src = frame.get_attribute("src") or ""
        scheduler = kubectl(cp, "get", "svc", "-n", namespace, "-o",
                            "jsonpath={.items[0].metadata.name}")
        assert f"/user/{USER}/proxy/{scheduler}.{namespace}:8787/" in src, src
        # The pane's content: the task stream's Bokeh document, served through the proxy and
        # drawn live over its websocket (through the hub's proxy and the server's).
        page.frame_locator(".jp-MainAreaWidget iframe").last.locator(
            ".bk-Canvas").first.wait_for(timeout=60_000)
        browser_harness.screenshot(page, "hub-6-task-stream")

        item.locator("button.dask-ClusterListingItem-stop").click()
        page.locator(".dask-ClusterListingItem").wait_for(state="detached", timeout=120_000)
    except Exception:
        browser_harness.screenshot(page, "hub-sidebar-failure")
        print(kubectl(cp, "get", "pods,daskclusters", "-A", "-o", "wide"))
        raise
    finally:
        page.close()
    poll(lambda: "No resources" in kubectl(cp, "get", "daskclusters", "-A"), 60)
