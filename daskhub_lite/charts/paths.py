"""Where chart repositories are configured and cached (Helm's environment variables win)."""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(var: str, fallback: str) -> Path:
    return Path(os.environ.get(var) or Path.home() / fallback)


def repository_config() -> Path:
    """Helm's `repositories.yaml` format; `HELM_REPOSITORY_CONFIG` overrides."""
    if os.environ.get("HELM_REPOSITORY_CONFIG"):
        return Path(os.environ["HELM_REPOSITORY_CONFIG"])
    return _xdg("XDG_CONFIG_HOME", ".config") / "daskhub-lite" / "repositories.yaml"


def repository_cache() -> Path:
    """Downloaded `<repo>-index.yaml` files and chart archives; `HELM_REPOSITORY_CACHE`."""
    if os.environ.get("HELM_REPOSITORY_CACHE"):
        return Path(os.environ["HELM_REPOSITORY_CACHE"])
    return _xdg("XDG_CACHE_HOME", ".cache") / "daskhub-lite" / "repository"


def bundled_charts() -> Path | None:
    """The charts shipped with daskhub-lite (`charts/` of the source tree, or
    `DASKHUB_LITE_CHARTS`)."""
    if os.environ.get("DASKHUB_LITE_CHARTS"):
        return Path(os.environ["DASKHUB_LITE_CHARTS"])
    candidate = Path(__file__).resolve().parents[2] / "charts"
    return candidate if candidate.is_dir() else None
