"""Argument parsers for Helm's packaging commands (`package`, `dependency`, `repo index`) and
for `--render-subchart-notes` on `install`/`upgrade`. Handlers are imported when a command
runs, not when the parser is built."""

from __future__ import annotations

import argparse
from typing import Any, Callable

Handler = Callable[[argparse.Namespace], int]


def _handler(name: str) -> Handler:
    def run(args: argparse.Namespace) -> int:
        from . import cli_packaging

        return int(getattr(cli_packaging, name)(args))

    run.__name__ = name
    return run


def _subcommands(parser: argparse.ArgumentParser) -> Any:
    """The subparsers action of `parser` (e.g. `repo`'s add/list/...)."""
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def add_commands(sub: Any) -> None:
    p = sub.add_parser("package", help="package a chart directory into a chart archive")
    p.add_argument("charts", nargs="+", metavar="CHART_PATH")
    p.add_argument("-d", "--destination", default=".", help="location to write the chart")
    p.add_argument("--version", default=None,
                   help="set the version on the chart to this semver version")
    p.add_argument("--app-version", default=None,
                   help="set the appVersion on the chart to this version")
    p.add_argument("-u", "--dependency-update", action="store_true",
                   help='update dependencies from "Chart.yaml" to dir "charts/" before packaging')
    p.set_defaults(func=_handler("cmd_package"))

    dep = sub.add_parser("dependency", aliases=["dep", "dependencies"],
                         help="manage a chart's dependencies")
    dep_sub = dep.add_subparsers(dest="dependency_command", required=True,
                                 metavar="update|build|list")
    for name, aliases, text in (
            ("update", ["up"], "update charts/ based on the contents of Chart.yaml"),
            ("build", [], "rebuild the charts/ directory based on the Chart.lock file"),
            ("list", ["ls"], "list the dependencies for the given chart")):
        p = dep_sub.add_parser(name, aliases=aliases, help=text)
        p.add_argument("chart", nargs="?", default=".", metavar="CHART")
        if name == "list":
            p.add_argument("--max-col-width", type=int, default=80,
                           help="maximum column width for output table")
        else:
            p.add_argument("--skip-refresh", action="store_true",
                           help="do not refresh the local repository cache")
        p.set_defaults(func=_handler(f"cmd_dependency_{name}"))

    p = _subcommands(sub.choices["repo"]).add_parser(
        "index", help="generate an index file given a directory containing packaged charts")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--url", default="", help="url of chart repository")
    p.add_argument("--merge", default="", help="merge the generated index into the given index")
    p.add_argument("--json", action="store_true", help="output in JSON format")
    p.set_defaults(func=_handler("cmd_repo_index"))

    for command in ("install", "upgrade"):
        sub.choices[command].add_argument(
            "--render-subchart-notes", action="store_true",
            help="if set, render subchart notes along with the parent")
