"""Argument parsers for the chart commands; `add_commands(sub)` is the one entry point the
top-level CLI calls."""

from __future__ import annotations

import argparse
from typing import Any

from daskhub_lite.lazy import handlers

from . import commands_packaging

cli = handlers("daskhub_lite.charts.cli")  # Helm's engine loads when a chart command runs

SubParsers = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _cluster(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG)")
    p.add_argument("--kube-context", default=None, help="kubeconfig context to use")
    p.add_argument("-n", "--namespace", default=None, help="namespace (default: the context's)")


def _values(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--values", action="append", metavar="FILE",
                   help="values YAML file (can repeat)")
    p.add_argument("--set", action="append", metavar="K=V", help="set values (can repeat)")
    p.add_argument("--set-string", action="append", metavar="K=V",
                   help="set STRING values (can repeat)")
    p.add_argument("--version", default=None, help="chart version (repository charts)")


def _waiting(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait", action="store_true",
                   help="wait until workloads are ready, showing which are not and why")
    p.add_argument("--timeout", type=_seconds, default=300,
                   help="time to wait, e.g. 300, 300s, 5m (default 5m)")


def _seconds(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}") from None


def add_commands(sub: Any) -> None:
    p = sub.add_parser("install", help="install a chart")
    p.add_argument("name", metavar="[NAME]")
    p.add_argument("chart", nargs="?", metavar="CHART")
    p.add_argument("--generate-name", "-g", action="store_true", help="generate the name")
    p.add_argument("--create-namespace", action="store_true")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--description", default=None)
    _cluster(p), _values(p), _waiting(p)
    p.set_defaults(func=cli.cmd_install)

    p = sub.add_parser("upgrade", help="upgrade a release")
    p.add_argument("release")
    p.add_argument("chart")
    p.add_argument("-i", "--install", action="store_true", help="install if absent")
    p.add_argument("--create-namespace", action="store_true")
    p.add_argument("--reuse-values", action="store_true")
    p.add_argument("--reset-values", action="store_true")
    p.add_argument("--cleanup-on-fail", action="store_true")
    p.add_argument("--atomic", "--rollback-on-failure", dest="atomic", action="store_true")
    _cluster(p), _values(p), _waiting(p)
    p.set_defaults(func=cli.cmd_upgrade)

    p = sub.add_parser("rollback", help="roll a release back to a previous revision")
    p.add_argument("release")
    p.add_argument("revision", nargs="?", type=int, default=0)
    _cluster(p), _waiting(p)
    p.set_defaults(func=cli.cmd_rollback)

    p = sub.add_parser("uninstall", aliases=["delete", "un"], help="uninstall releases")
    p.add_argument("releases", nargs="+", metavar="RELEASE")
    p.add_argument("--keep-history", action="store_true")
    p.add_argument("--ignore-not-found", action="store_true")
    _cluster(p), _waiting(p)
    p.set_defaults(func=cli.cmd_uninstall)

    p = sub.add_parser("list", aliases=["ls"], help="list releases")
    p.add_argument("-a", "--all", action="store_true", help="releases in every state")
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument("-q", "--short", action="store_true")
    p.add_argument("--filter", default=None, help="regular expression on release names")
    p.add_argument("-o", "--output", choices=["table", "json"], default="table")
    _cluster(p)
    p.set_defaults(func=cli.cmd_list)

    p = sub.add_parser("history", aliases=["hist"], help="a release's revisions")
    p.add_argument("release")
    p.add_argument("--max", type=int, default=256)
    p.add_argument("-o", "--output", choices=["table", "json"], default="table")
    _cluster(p)
    p.set_defaults(func=cli.cmd_history)

    p = sub.add_parser("template", help="render a chart locally")
    p.add_argument("name", metavar="[NAME]")
    p.add_argument("chart", nargs="?", metavar="CHART")
    p.add_argument("-s", "--show-only", action="append", default=None)
    _cluster(p), _values(p)
    p.set_defaults(func=cli.cmd_template)

    p = sub.add_parser("lint", help="examine charts for possible issues")
    p.add_argument("charts", nargs="+", metavar="CHART")
    p.add_argument("--strict", action="store_true", help="fail on warnings too")
    p.add_argument("--kube-version", default=None, help="e.g. 1.30.0")
    _values(p)
    p.set_defaults(func=cli.cmd_lint)

    repo = sub.add_parser("repo", help="add, list, update, remove chart repositories")
    repo_sub = repo.add_subparsers(dest="repo_command", required=True)
    p = repo_sub.add_parser("add")
    p.add_argument("name")
    p.add_argument("url", help="http(s) URL or a local directory with an index.yaml")
    p.add_argument("--force-update", action="store_true")
    p.set_defaults(func=cli.cmd_repo_add)
    p = repo_sub.add_parser("list", aliases=["ls"])
    p.set_defaults(func=cli.cmd_repo_list)
    p = repo_sub.add_parser("update", aliases=["up"])
    p.add_argument("names", nargs="*")
    p.set_defaults(func=cli.cmd_repo_update)
    p = repo_sub.add_parser("remove", aliases=["rm"])
    p.add_argument("names", nargs="+")
    p.set_defaults(func=cli.cmd_repo_remove)

    search = sub.add_parser("search", help="search added chart repositories")
    search_sub = search.add_subparsers(dest="search_command", required=True)
    p = search_sub.add_parser("repo")
    p.add_argument("keyword", nargs="?", default=None)
    p.add_argument("-l", "--versions", action="store_true", help="every version")
    p.set_defaults(func=cli.cmd_search_repo)

    commands_packaging.add_commands(sub)  # package, dependency, repo index
    _add_release_status(sub)


def _add_release_status(sub: Any) -> None:
    """`status` is the control plane's (`daskhub-lite status`) and Helm's (`status RELEASE`):
    extend the existing parser with an optional RELEASE and dispatch on it."""
    existing = sub.choices.get("status")
    if existing is None:
        existing = sub.add_parser("status", help="a release's status")
    existing.add_argument("release", nargs="?", default=None, metavar="RELEASE",
                          help="a release: show its status (Helm's `status`)")
    existing.add_argument("--revision", type=int, default=None)
    _cluster(existing)
    control_plane = existing.get_default("func")

    def dispatch(args: argparse.Namespace) -> int:
        if args.release is not None or control_plane is None:
            return cli.cmd_status(args)
        return int(control_plane(args))

    existing.set_defaults(func=dispatch)
