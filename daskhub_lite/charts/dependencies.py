"""`dependency update` and `dependency build`, with Helm's downloader semantics and messages.

helm-python-sdk's own dependency actions register the URLs named in Chart.yaml in a private
configuration, so they cannot see repositories added with `daskhub-lite repo add` (`@name`
aliases, local directory repositories). This module follows Helm's manager step by step with
our repository configuration, and leaves to Helm's engine what it can do: loading and
validating charts, archiving `file://` dependencies (`Chart.save`), downloads (`pull`).

- `""` repository: the chart is already in `charts/<name>`; only its version is checked.
- `file://PATH` (relative to the chart): archived into `charts/`.
- `@name` / `alias:name`: an added repository, by name; the lock records its URL.
- a URL (or directory) of an added repository; any other URL is used as Helm v4 does, through
  an unmanaged index cached as `helm-manager-<sha256>`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import helm_python as helm
import yaml

from . import lockfile, paths, repos, semver
from .errors import ChartError, from_helm, one_line

Printer = Callable[[str], None]
MANAGED_PREFIX = "helm-manager-"


def local_path(repository: str, chart_dir: Path, dependency: str) -> Path:
    """A `file://` repository (or `charts/<name>`) as a directory that must exist."""
    target = repository.removeprefix("file://")
    path = Path(os.path.normpath(target if target.startswith("/") else chart_dir / target))
    if not path.exists():
        raise ChartError(f"dependency {dependency!r}: directory {path} not found")
    return path


def same_url(a: str, b: str) -> bool:
    def norm(u: str) -> str:
        parts = urllib.parse.urlsplit(u)
        return parts._replace(path=os.path.normpath(parts.path or "/")).geturl()
    return norm(a) == norm(b)


def _is_request_uri(text: str) -> bool:
    """Go's url.ParseRequestURI: an absolute URL or an absolute path."""
    parts = urllib.parse.urlsplit(text)
    return bool(parts.scheme) or text.startswith("/")


def _load(path: Path) -> helm.Chart:
    try:
        return helm.Chart.load(path)
    except helm.HelmError as err:
        raise ChartError(f"unable to load chart '{path}': {one_line(str(err))}") from err


def _chart_version(path: Path) -> str:
    with _load(path) as chart:
        return chart.version


@dataclass
class Manager:
    chart_dir: Path
    out: Printer
    skip_refresh: bool = False
    # repository URL -> cached index name, for URLs nobody added (Helm v4's unmanaged repos)
    _unmanaged: dict[str, str] = field(default_factory=dict)

    # -- the two commands ------------------------------------------------------------------

    def update(self) -> None:
        requested = self._requested()
        if not requested:
            return
        repo_names = self._resolve_repo_names(requested)
        self._ensure_unmanaged(repo_names, requested)
        if not self.skip_refresh:
            self._update_repositories()
        locked = self._resolve(requested, repo_names)
        self._download_all(locked)
        digest = lockfile.digest(requested, locked)
        old = lockfile.read(self.chart_dir)
        if old is None or old.digest != digest:
            lockfile.write(self.chart_dir, lockfile.Lock(locked, digest))

    def build(self) -> None:
        lock = lockfile.read(self.chart_dir)
        if lock is None:
            self.update()
            return
        requested = self._requested() or []
        self._resolve_repo_names(requested)
        if lockfile.digest(requested, lock.dependencies) != lock.digest:
            raise ChartError("the lock file (Chart.lock) is out of sync with the dependencies "
                             "file (Chart.yaml). Please update the dependencies with "
                             "'daskhub-lite dependency update'")
        self._check_all_repos(lock.dependencies)
        if not self.skip_refresh:
            self._update_repositories()
        self._download_all([dict(d) for d in lock.dependencies])

    # -- reading and resolving -----------------------------------------------------------------

    def _requested(self) -> list[dict[str, Any]] | None:
        if not self.chart_dir.exists():
            raise ChartError(f"could not find {self.chart_dir}: no such file or directory")
        if not self.chart_dir.is_dir():
            raise ChartError("only unpacked charts can be updated")
        with _load(self.chart_dir) as chart:
            deps = chart.metadata.get("dependencies")
        return None if deps is None else [dict(d) for d in deps]

    def _resolve_repo_names(self, deps: list[dict[str, Any]]) -> dict[str, str]:
        """Dependency name -> repository name; `@name` repositories become their URL (in
        `deps`, as Helm rewrites them before hashing and locking)."""
        configured = repos.repos()
        names: dict[str, str] = {}
        missing: list[str] = []
        for dep in deps:
            repository = str(dep.get("repository") or "")
            if not repository:
                continue
            if repository.startswith("file://"):
                local_path(repository, self.chart_dir, dep["name"])
                names[dep["name"]] = repository
                continue
            if repository.startswith("oci://"):
                raise ChartError(f"dependency {dep['name']!r}: oci:// repositories are not "
                                 "supported by daskhub-lite yet (use helm for this chart)")
            alias = (repository[1:] if repository.startswith("@") else
                     repository[6:] if repository.startswith("alias:") else None)
            found = None
            for repo in configured:
                if repo.name == alias:
                    dep["repository"] = repo.url
                    found = repo
                    break
                if alias is None and same_url(repo.url, repository):
                    found = repo
                    break
            if found is not None:
                names[dep["name"]] = found.name
            elif alias is None and _is_request_uri(repository):
                names[repository] = repository  # Helm's key, so the name below stays unset
            else:
                missing.append(repository)
        if missing:
            message = (f"no repository definition for {', '.join(missing)}. Please add them "
                       "via 'daskhub-lite repo add'")
            if any("//" not in r and not r.startswith(("@", "alias:")) for r in missing):
                message += ("; repositories must be URLs or aliases: to refer to the "
                            "\"example\" repository use its URL or \"@example\"")
            raise ChartError(message)
        return names

    def _ensure_unmanaged(self, names: dict[str, str], deps: list[dict[str, Any]]) -> None:
        fresh: list[repos.Repo] = []
        for dep in deps:
            repository = str(dep.get("repository") or "")
            if not repository or dep["name"] in names:
                continue
            key = MANAGED_PREFIX + hashlib.sha256(repository.encode()).hexdigest()
            names[dep["name"]] = key
            self._unmanaged[repository] = key
            fresh.append(repos.Repo(key, repository))
        if fresh and not self.skip_refresh:
            self.out("Getting updates for unmanaged Helm repositories...")
            for repo in {r.url.rstrip("/"): r for r in fresh}.values():
                self._refresh(repo, label=repo.url)

    def _update_repositories(self) -> None:
        configured = repos.repos()
        if not configured:
            return
        self.out("Hang tight while we grab the latest from your chart repositories...")
        for repo in configured:
            self._refresh(repo, label=repo.name)
        self.out("Update Complete. ⎈Happy Helming!⎈")

    def _refresh(self, repo: repos.Repo, label: str) -> None:
        try:
            repos.refresh(repo)
        except ChartError as err:
            where = "" if label == repo.url else f" ({repo.url})"
            self.out(f'...Unable to get an update from the "{label}" chart repository{where}:'
                     f"\n\t{err}")
        else:
            self.out(f'...Successfully got an update from the "{label}" chart repository')

    def _index(self, name: str) -> dict[str, Any]:
        path = paths.repository_cache() / f"{name}-index.yaml"
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise ChartError(f"no cached repository for {name} found. (try 'daskhub-lite repo "
                             f"update'): {one_line(str(err))}") from err
        return dict(data.get("entries") or {})

    def _versions(self, name: str, repository: str, chart: str) -> list[dict[str, Any]]:
        """The index entries of `chart`, newest first (as Helm sorts an index on load)."""
        entries = self._index(name)
        if chart not in entries:
            raise ChartError(f"{chart} chart not found in repo {repository}")

        def newest_first(entry: dict[str, Any]) -> tuple[int, semver.Version]:
            try:
                return (1, semver.Version.parse(str(entry.get("version"))))
            except semver.SemverError:
                return (0, semver.Version(0, 0, 0))
        return sorted(entries[chart] or [], key=newest_first, reverse=True)

    def _resolve(self, deps: list[dict[str, Any]], names: dict[str, str]
                 ) -> list[dict[str, str]]:
        locked: list[dict[str, str]] = []
        missing: list[str] = []
        for dep in deps:
            name, repository = str(dep["name"]), str(dep.get("repository") or "")
            wanted = str(dep.get("version") or "")
            try:
                constraint = semver.Constraint.parse(wanted)
            except semver.SemverError as err:
                raise ChartError(f"dependency {name!r} has an invalid version/constraint "
                                 f"format: {err}") from err
            chosen: str | None = None
            if not repository:
                local_path(f"charts/{name}", self.chart_dir, name)
                chosen = wanted
            elif repository.startswith("file://"):
                version = _chart_version(local_path(repository, self.chart_dir, name))
                if semver.satisfies(version, wanted):
                    chosen = version
            else:
                for entry in self._versions(names[name], repository, name):
                    version = str(entry.get("version", ""))
                    try:
                        ok = bool(entry.get("urls")) and constraint.allows(
                            semver.Version.parse(version))
                    except semver.SemverError:
                        continue
                    if ok:
                        chosen = version
                        break
            if chosen is None:
                missing.append(f'"{name}" (repository "{repository}", version "{wanted}")')
            else:
                locked.append({"name": name, "repository": repository, "version": chosen})
        if missing:
            raise ChartError(f"can't get a valid version for {len(missing)} subchart(s): "
                             f"{', '.join(missing)}. Make sure a matching chart version exists "
                             "in the repo, or change the version constraint in Chart.yaml")
        return locked

    def _check_all_repos(self, deps: list[dict[str, str]]) -> None:
        configured = repos.repos()
        missing = [d["repository"] for d in deps
                   if d["repository"] and not d["repository"].startswith(("file://", "oci://"))
                   and not any(same_url(r.url, d["repository"].rstrip("/")) for r in configured)]
        if missing:
            raise ChartError(f"no repository definition for {', '.join(missing)}. Please add "
                             "the missing repos via 'daskhub-lite repo add'")

    # -- fetching into charts/ ------------------------------------------------------------------

    def _download_all(self, deps: list[dict[str, str]]) -> None:
        dest = self.chart_dir / "charts"
        if dest.exists() and not dest.is_dir():
            raise ChartError(f'"{dest}" is not a directory')
        dest.mkdir(parents=True, exist_ok=True)
        tmp = self.chart_dir / f"tmpcharts-{os.getpid()}"
        tmp.mkdir(parents=True, exist_ok=True)
        try:
            self.out(f"Saving {len(deps)} charts")
            fetched: set[str] = set()
            try:
                for dep in deps:
                    self._fetch(dep, dest, tmp, fetched)
            except ChartError as err:
                self.out(f"Save error occurred:  {err}")
                raise
            self._move(deps, tmp, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _fetch(self, dep: dict[str, str], dest: Path, tmp: Path, fetched: set[str]) -> None:
        name, repository, version = dep["name"], dep["repository"], dep["version"]
        if not repository:
            self.out(f"Dependency {name} did not declare a repository. Assuming it exists in "
                     "the charts directory")
            found = _chart_version(dest / name)
            if not semver.satisfies(found, version):
                raise ChartError(f"dependency {name} at version {found} does not satisfy the "
                                 f"constraint {version}")
            return
        if repository.startswith("file://"):
            with _load(local_path(repository, self.chart_dir, name)) as chart:
                if not semver.satisfies(chart.version, version):
                    raise ChartError(f"can't get a valid version for dependency {name}")
                dep["version"] = chart.version
                chart.save(tmp)
            return
        repo = self._repo_for(repository)
        entry = next((e for e in self._versions(repo.name, repository, name)
                      if e.get("urls") and _same_version(version, str(e.get("version")))), None)
        if entry is None:
            raise ChartError(f"could not find {name} {version} in repo {repository}: no "
                             "matching version")
        url = str(entry["urls"][0])
        if url in fetched:
            self.out(f"Already downloaded {name} from repo {repository}")
            return
        self.out(f"Downloading {name} from repo {repository}")
        _download(repo, name, version, url, tmp)
        fetched.add(url)

    def _repo_for(self, repository: str) -> repos.Repo:
        for repo in repos.repos():
            if same_url(repo.url, repository):
                return repo
        if repository in self._unmanaged:
            return repos.Repo(self._unmanaged[repository], repository)
        raise ChartError(f"no repository definition for {repository}")

    def _move(self, deps: list[dict[str, str]], tmp: Path, dest: Path) -> None:
        local = {d["name"] for d in deps if not d["repository"]}
        moved: set[str] = set()
        for source in sorted(p for p in tmp.iterdir() if p.is_file()):
            moved.add(source.name)
            try:
                _load(source).close()
            except ChartError as err:
                self.out(f"Could not verify {source} for moving: {err} (Skipping)")
                continue
            os.replace(source, dest / source.name)
        self.out("Deleting outdated charts")
        for old in sorted(dest.iterdir()):
            if old.is_dir() or old.name in moved:
                continue
            try:
                with helm.Chart.load(old) as chart:
                    if chart.name in local:
                        continue
            except helm.HelmError as err:
                self.out(f"Could not verify {old} for deletion: {one_line(str(err))} "
                         "(Skipping)")
                continue
            old.unlink()


def _same_version(a: str, b: str) -> bool:
    try:
        return semver.Version.parse(a) == semver.Version.parse(b)
    except semver.SemverError:
        return a == b


def _download(repo: repos.Repo, name: str, version: str, url: str, tmp: Path) -> None:
    local = repo.local_dir
    if local is not None:
        source = Path(urllib.parse.urlsplit(url).path) if url.startswith("file://") else \
            local / url
        if not source.is_file():
            raise ChartError(f"could not download {source}: no such file")
        shutil.copy(source, tmp / source.name)
        return
    try:
        helm.pull(name, repo_url=repo.url, version=version, destination=tmp)
    except helm.HelmError as err:
        raise from_helm(err, f"could not download {urllib.parse.urljoin(repo.url + '/', url)}"
                        ) from err
