"""Chart repositories: `repo add|list|update|remove` and `search repo`.

The configuration file uses Helm's `repositories.yaml` layout and indexes are cached as
`<name>-index.yaml`, as Helm does. A repository is an HTTP(S) URL (fetched through Helm's own
index download) or a local directory holding an `index.yaml`.
"""

from __future__ import annotations

import os
import re
import shutil
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

from . import paths
from .errors import ChartError, from_helm

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$")


@dataclass(frozen=True)
class Repo:
    name: str
    url: str

    @property
    def local_dir(self) -> Path | None:
        if self.url.startswith("file://"):
            return Path(urllib.parse.urlparse(self.url).path)
        if "://" not in self.url:
            return Path(self.url)
        return None


def _load_config() -> dict[str, Any]:
    path = paths.repository_config()
    if not path.exists():
        return {"apiVersion": "", "generated": "", "repositories": []}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ChartError(f"repository config {path} is not valid YAML: {err}") from err
    data.setdefault("repositories", [])
    data["repositories"] = data["repositories"] or []
    return dict(data)


def _save_config(data: dict[str, Any]) -> None:
    path = paths.repository_config()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    os.replace(tmp, path)


def repos() -> list[Repo]:
    return [Repo(r["name"], r["url"]) for r in _load_config()["repositories"]]


def get(name: str) -> Repo:
    for repo in repos():
        if repo.name == name:
            return repo
    raise ChartError(f"no repository named {name!r} (see 'daskhub-lite repo list')")


def _fetch_index(repo: Repo) -> dict[str, Any]:
    local = repo.local_dir
    if local is not None:
        index = local / "index.yaml"
        if not index.is_file():
            raise ChartError(f"looks like {repo.url!r} is not a valid chart repository or "
                             f"cannot be reached: {index} does not exist")
        try:
            data = yaml.safe_load(index.read_text())
        except yaml.YAMLError as err:
            raise ChartError(f"{index} is not a valid index: {err}") from err
    else:
        try:
            data = helm.repo_index(repo.url)
        except helm.HelmError as err:
            raise from_helm(err, f"looks like {repo.url!r} is not a valid chart repository "
                                 "or cannot be reached") from err
    if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
        raise ChartError(f"{repo.url!r} has no chart index (no 'entries')")
    return data


def _cache_index(repo: Repo, index: dict[str, Any]) -> None:
    cache = paths.repository_cache()
    cache.mkdir(parents=True, exist_ok=True)
    (cache / f"{repo.name}-index.yaml").write_text(yaml.safe_dump(index, sort_keys=False))


def cached_index(repo: Repo) -> dict[str, Any]:
    path = paths.repository_cache() / f"{repo.name}-index.yaml"
    if not path.exists():
        index = _fetch_index(repo)
        _cache_index(repo, index)
        return index
    return dict(yaml.safe_load(path.read_text()) or {"entries": {}})


def add(name: str, url: str, force_update: bool = False) -> Repo:
    if not NAME_RE.match(name):
        raise ChartError(f"repository name {name!r} is invalid: use letters, digits, '.', '_', '-'")
    if "://" not in url:
        url = str(Path(url).resolve())
    repo = Repo(name, url.rstrip("/"))
    data = _load_config()
    for existing in data["repositories"]:
        if existing["name"] == name:
            if existing["url"].rstrip("/") == repo.url:
                return repo
            if not force_update:
                raise ChartError(f"repository name ({name}) already exists, please specify a "
                                 "different name")
    index = _fetch_index(repo)
    data["repositories"] = [r for r in data["repositories"] if r["name"] != name]
    data["repositories"].append({"name": name, "url": repo.url})
    _save_config(data)
    _cache_index(repo, index)
    return repo


def remove(names: list[str]) -> None:
    data = _load_config()
    known = {r["name"] for r in data["repositories"]}
    for name in names:
        if name not in known:
            raise ChartError(f"no repo named {name!r} found")
    data["repositories"] = [r for r in data["repositories"] if r["name"] not in names]
    _save_config(data)
    for name in names:
        (paths.repository_cache() / f"{name}-index.yaml").unlink(missing_ok=True)


def refresh(repo: Repo) -> None:
    """Download `repo`'s index into the cache (for repositories not in the configuration
    too: `dependency update` caches the ones Chart.yaml names by URL)."""
    _cache_index(repo, _fetch_index(repo))


def update(names: list[str] | None = None) -> list[Repo]:
    selected = [get(n) for n in names] if names else repos()
    if not selected:
        raise ChartError("no repositories found. You must add one before updating")
    for repo in selected:
        _cache_index(repo, _fetch_index(repo))
    return selected


def search(keyword: str | None, all_versions: bool = False) -> list[dict[str, str]]:
    """Charts in the added repositories whose name, description or keywords match."""
    rows: list[dict[str, str]] = []
    needle = (keyword or "").lower()
    for repo in repos():
        for chart, versions in sorted(cached_index(repo).get("entries", {}).items()):
            for entry in (versions or [])[: None if all_versions else 1]:
                haystack = " ".join([f"{repo.name}/{chart}", entry.get("description") or "",
                                     " ".join(entry.get("keywords") or [])]).lower()
                if needle in haystack:
                    rows.append({"name": f"{repo.name}/{chart}",
                                 "version": str(entry.get("version", "")),
                                 "app_version": str(entry.get("appVersion", "")),
                                 "description": entry.get("description") or ""})
    return rows


def fetch_chart(repo_name: str, chart: str, version: str | None, dest: Path) -> Path:
    """Download (or, for a local repository, locate) a chart archive; return its path."""
    repo = get(repo_name)
    versions = cached_index(repo).get("entries", {}).get(chart) or []
    if version:
        versions = [v for v in versions if str(v.get("version")) == version]
    if not versions:
        wanted = f"{chart} version {version}" if version else chart
        raise ChartError(f"chart {wanted!r} not found in {repo_name} index (try "
                         "'daskhub-lite repo update')")
    urls = versions[0].get("urls") or []
    if not urls:
        raise ChartError(f"chart {chart!r} in {repo_name} has no download URL")
    url = urls[0]
    local = repo.local_dir
    if local is not None and "://" not in url:
        path = local / url
        if not path.is_file():
            raise ChartError(f"chart archive {path} listed in {repo_name} does not exist")
        return path
    if "://" not in url:
        url = repo.url + "/" + url
    dest.mkdir(parents=True, exist_ok=True)
    try:
        out = helm.pull(chart,
                        repo_url=repo.url, version=str(versions[0].get("version")),
                        destination=dest)
    except helm.HelmError as err:
        raise from_helm(err, f"failed to download {repo_name}/{chart}") from err
    del out
    archives = sorted(dest.glob(f"{chart}-*.tgz"))
    if not archives:
        raise ChartError(f"failed to download {repo_name}/{chart}")
    return archives[-1]


def copy_tree_resolving_links(src: Path, dest: Path) -> Path:
    """A chart directory with symlinked subcharts, copied with links followed (Helm's loader
    follows them too, but logs a line per link on stderr)."""
    target = dest / src.name
    shutil.copytree(src, target, symlinks=False)
    return target
