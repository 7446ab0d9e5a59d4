"""`daskhub-lite package | dependency update|build|list | repo index`: Helm's packaging
commands, with Helm's output, over Helm v4's engine (helm-python-sdk) where it has the action
(package, lint, dependency statuses, repository index) and `dependencies.py` where the
engine cannot see our repository configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
from pathlib import Path
from typing import Iterator

import helm_python as helm
import yaml

from . import dependencies, output
from .cli import _guard
from .errors import ChartError, one_line


@contextlib.contextmanager
def _engine_errors() -> Iterator[None]:
    """The engine's message as Helm prints it, without an action prefix."""
    try:
        yield
    except helm.HelmError as err:
        raise ChartError(one_line(getattr(err, "detail", None) or str(err))) from err


def _lint_errors(path: str) -> list[str]:
    with _engine_errors():
        report = helm.lint(path)
    return [f"[ERROR] {m.get('path') or '.'}: {one_line(m.get('error', ''))}"
            for m in report.get("messages", []) if m.get("severity", 0) >= 3]


@_guard("package failed")
def cmd_package(args: argparse.Namespace) -> int:
    for ref in args.charts:
        path = os.path.abspath(ref)
        if not os.path.exists(ref):
            raise ChartError(f"stat {ref}: no such file or directory")
        if args.dependency_update:
            dependencies.Manager(Path(path), out=lambda _line: None).update()
        problems = _lint_errors(path)
        if problems:
            raise ChartError(f"chart {ref} fails lint, not packaged: {'; '.join(problems)}")
        destination = os.getcwd() if args.destination == "." else args.destination
        with _engine_errors():
            archive = helm.package(path, destination=destination, version=args.version,
                                   app_version=args.app_version)
        print(f"Successfully packaged chart and saved it to: {archive}")
    return 0


def _chart_dir(args: argparse.Namespace) -> Path:
    return Path(os.path.normpath(args.chart))


@_guard("dependency update failed")
def cmd_dependency_update(args: argparse.Namespace) -> int:
    dependencies.Manager(_chart_dir(args), out=print, skip_refresh=args.skip_refresh).update()
    return 0


@_guard("dependency build failed")
def cmd_dependency_build(args: argparse.Namespace) -> int:
    dependencies.Manager(_chart_dir(args), out=print, skip_refresh=args.skip_refresh).build()
    return 0


def _cut(text: str, width: int) -> str:
    return text if width <= 0 or len(text) <= width else text[: max(width - 3, 0)] + "..."


@_guard("dependency list failed")
def cmd_dependency_list(args: argparse.Namespace) -> int:
    chart = _chart_dir(args)
    with _engine_errors(), helm.Chart.load(chart) as loaded:
        declared = loaded.metadata.get("dependencies")
    if declared is None:
        print(f"WARNING: no dependencies at {chart / 'charts'}")
        return 0
    with _engine_errors():
        rows = helm.dependency_list(chart)
    width = args.max_col_width
    print(output.table(["NAME", "VERSION", "REPOSITORY", "STATUS"],
                       [[_cut(str(r.get(k, "")), width) for k in
                         ("name", "version", "repository", "status")] for r in rows]))
    print()
    names = {d.get("name") for d in declared}
    for entry in sorted((chart / "charts").glob("*")) if chart.is_dir() else []:
        if not entry.is_dir() and entry.suffix != ".tgz":
            continue
        try:
            with helm.Chart.load(entry) as sub:
                known = sub.name in names
        except helm.HelmError:
            print(f'WARNING: "{entry}" is not a chart.')
            continue
        if not known:
            print(f'WARNING: "{entry}" is not in Chart.yaml.')
    return 0


def _empty_index(path: Path) -> None:
    """What Helm writes when `--merge` names a file that does not exist yet."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "entries": {}, "generated": stamp}))


@_guard("repo index failed")
def cmd_repo_index(args: argparse.Namespace) -> int:
    directory = Path(os.path.abspath(args.dir))
    if not directory.is_dir():
        raise ChartError(f"open {directory / 'index.yaml'}: no such file or directory")
    if args.merge and not Path(args.merge).exists():
        _empty_index(Path(args.merge))
    with _engine_errors():
        helm.repo_index_generate(directory, base_url=args.url or None, merge=args.merge or None,
                                 json_index=args.json)
    return 0
