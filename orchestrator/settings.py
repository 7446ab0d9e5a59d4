"""Names and defaults shared by the control plane and its CLI, importable without
loading the server (the CLI starts fast because of it)."""

from __future__ import annotations

import os
from pathlib import Path

CONTEXT_NAME = "daskhub-lite"
ALL_COMPONENTS = ("network", "nodes", "scheduler", "controllers")


def default_data_dir() -> Path:
    """$DASKHUB_LITE_HOME, else $XDG_DATA_HOME/daskhub-lite, else ~/.local/share/daskhub-lite."""
    if os.environ.get("DASKHUB_LITE_HOME"):
        return Path(os.environ["DASKHUB_LITE_HOME"])
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "daskhub-lite"
