"""A real browser for the e2e tests: Debian's chromium driven by Playwright (Playwright's own
browser downloads are never used), and a JupyterLab server to point it at. Screenshots go to
tests/artifacts/browser/ (git-ignored).

chromium comes from apt (`make test` installs it where it is missing), Playwright from the
`browser` extra."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import requests

ARTIFACTS = Path(__file__).resolve().parents[2] / "tests" / "artifacts" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage"]


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError("Debian's chromium is not installed: `make test` installs it "
                       "(apt-get install chromium)")


def browser() -> Iterator[Any]:
    """A headless chromium (Playwright's sync API); closed when the generator ends."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=chromium_path(), headless=True,
                                      args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


def clear(prefix: str) -> None:
    """Remove an earlier run's screenshots named `prefix*` (a failure shot must be fresh)."""
    for old in ARTIFACTS.glob(f"{prefix}*.png"):
        old.unlink()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class JupyterLab:
    """`jupyter lab` on a free port, serving `root`, with the given environment."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        # No "get Jupyter news?" toast over the screenshots.
        settings = root.parent / "lab-settings"
        notification = settings / "@jupyterlab" / "apputils-extension"
        notification.mkdir(parents=True, exist_ok=True)
        (notification / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false"}))
        env = {**env, "JUPYTERLAB_SETTINGS_DIR": str(settings)}
        log = open(root.parent / "jupyterlab.log", "w")  # noqa: SIM115 (closed in stop)
        self._log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", "--allow-root",
             f"--port={self.port}", f"--IdentityProvider.token={self.token}",
             f"--ServerApp.root_dir={root}", "--ServerApp.disable_check_xsrf=True",
             "--LabApp.news_url=", "--LabApp.check_for_updates_class="
             "jupyterlab.NeverCheckForUpdate"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait()

    def _wait(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("jupyter lab exited: " + self.log_tail())
            try:
                if requests.get(f"{self.url}/api/status", timeout=2,
                                params={"token": self.token}).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError("jupyter lab did not start: " + self.log_tail())

    def log_tail(self) -> str:
        self._log.flush()
        return (self.root.parent / "jupyterlab.log").read_text()[-3000:]

    def open_url(self, notebook: str) -> str:
        return f"{self.url}/lab/tree/{notebook}?token={self.token}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()


def write_notebook(path: Path, *sources: str) -> None:
    cells = [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
              "source": src} for src in sources]
    path.write_text(json.dumps({
        "cells": cells, "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}}}))


def run_all_cells(page: Any, timeout_ms: float = 60_000) -> None:
    """Wait for the notebook's kernel, then Run > Run All Cells, as a person would."""
    page.wait_for_selector(".jp-Notebook", timeout=timeout_ms)
    page.wait_for_selector("#jp-main-statusbar :text('Idle')", timeout=timeout_ms)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    # JupyterLab may still ask which kernel to use (first start in a fresh profile).
    select = page.locator(".jp-Dialog button", has_text="Select")
    try:
        select.wait_for(timeout=3_000)
    except Exception:  # no dialog: the cells are running
        return
    select.click()
