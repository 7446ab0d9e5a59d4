"""Chart references, as Helm takes them, plus daskhub-lite's bundled charts by short name:

- a path to a chart directory or `.tgz` archive;
- `REPO/CHART` from an added repository (`--version` picks a version);
- a bundled chart's short name (`dask`, `daskhub`, `dask-operator`, `gpu-scheduler`), offline.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Iterator

from . import paths, repos
from .errors import ChartError


def bundled_names() -> list[str]:
    root = paths.bundled_charts()
    if root is None:
        return []
    return sorted(p.name for p in root.iterdir() if (p / "Chart.yaml").is_file())


def _has_links(chart_dir: Path) -> bool:
    return any(p.is_symlink() for p in chart_dir.rglob("*"))


@contextlib.contextmanager
def resolve(ref: str, version: str | None = None) -> Iterator[Path]:
    """Yield a local chart path (directory or archive) for `ref`; temporary copies are
    removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="daskhub-lite-chart-") as tmp:
        path = _find(ref, version, Path(tmp))
        if path.is_dir() and _has_links(path):
            path = repos.copy_tree_resolving_links(path, Path(tmp) / "resolved")
        yield path


def _find(ref: str, version: str | None, tmp: Path) -> Path:
    candidate = Path(ref).expanduser()
    looks_like_path = ref.startswith((".", "/", "~")) or ref.endswith(".tgz")
    if candidate.exists():
        if candidate.is_dir() and not (candidate / "Chart.yaml").is_file():
            raise ChartError(f"{ref}: not a chart directory (no Chart.yaml)")
        return candidate.resolve()
    if looks_like_path:
        raise ChartError(f"path {ref!r} not found")
    if ref.count("/") == 1:
        repo_name, chart = ref.split("/")
        known = {r.name for r in repos.repos()}
        if repo_name not in known:
            raise ChartError(f"repo {repo_name} not found (add it with 'daskhub-lite repo add "
                             f"{repo_name} URL')")
        return repos.fetch_chart(repo_name, chart, version, tmp / "download")
    root = paths.bundled_charts()
    if root is not None and (root / ref / "Chart.yaml").is_file():
        return root / ref
    names = ", ".join(bundled_names()) or "none"
    raise ChartError(f"chart {ref!r} not found: not a path, not REPO/CHART, and not a bundled "
                     f"chart ({names})")
