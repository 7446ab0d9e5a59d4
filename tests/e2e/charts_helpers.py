"""Shared helpers for the chart e2e tests: run the real CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import helm_python as helm

CHARTS = Path(__file__).resolve().parents[2] / "charts"


class CLI:
    def __init__(self, kubeconfig: str, home: Path) -> None:
        self.env = {**os.environ, "KUBECONFIG": kubeconfig,
                    "HELM_REPOSITORY_CONFIG": str(home / "repositories.yaml"),
                    "HELM_REPOSITORY_CACHE": str(home / "cache")}
        self.kubeconfig = kubeconfig

    def __call__(self, *args: str, ok: bool = True, timeout: float = 300
                 ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "daskhub_lite.cli", *args],
                              capture_output=True, text=True, env=self.env, timeout=timeout)
        if ok and proc.returncode != 0:
            raise AssertionError(f"daskhub-lite {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stderr}{proc.stdout}")
        return proc

    def fails(self, *args: str) -> str:
        """A bad input: non-zero exit, one line on stderr, no traceback."""
        proc = self(*args, ok=False)
        assert proc.returncode != 0, proc.stdout
        lines = [line for line in proc.stderr.splitlines() if line.strip()
                 and "found symbolic link" not in line]
        assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
        assert "Traceback" not in proc.stderr
        return lines[0]

    def helm_config(self, namespace: str = "default") -> helm.Config:
        return helm.Config(kubeconfig_path=self.kubeconfig, namespace=namespace)
