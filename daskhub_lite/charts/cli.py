"""`daskhub-lite install|upgrade|rollback|uninstall|list|history|status|template|lint|repo|
search`: Helm's names, flags and output shapes, over Helm v4's engine (helm-python-sdk).

Cluster access is a kubeconfig (`--kubeconfig`, else `KUBECONFIG`, else ~/.kube/config), as
for Helm; nothing here knows whether the cluster is embedded or real.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import sys
import time
from typing import Any, Callable

import helm_python as helm
import yaml

from daskhub_lite.errors import UserError

from . import engine, locate, output, repos, values, values_tree, waiting
from .errors import ChartError, from_helm, one_line

Handler = Callable[[argparse.Namespace], int]


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _guard(action: str) -> Callable[[Handler], Handler]:
    """Errors become one UserError line (stderr, exit 1, by daskhub_lite.cli.main; a traceback
    only with --debug)."""

    def wrap(func: Handler) -> Handler:
        @functools.wraps(func)
        def run(args: argparse.Namespace) -> int:
            try:
                return func(args)
            except (ChartError, helm.HelmError, OSError, ValueError, yaml.YAMLError) as err:
                if getattr(args, "debug", False):
                    raise
                raise UserError(failure(err, action)) from err  # rendered by cli.main

        return run

    return wrap


def failure(err: Exception, action: str) -> str:
    """The one line a chart command's error is shown as (without `error: `)."""
    if isinstance(err, ChartError):
        return str(err)
    if isinstance(err, helm.HelmError):
        return str(from_helm(err, action))
    return f"{action}: {one_line(str(err))}"


def install(argv: list[str]) -> None:
    """`daskhub-lite install ARGV` called in this process, for the commands that install a
    chart of their own (the dask operator, DaskHub): its output is discarded and a failure
    raises ChartError with the line the command would have shown."""
    from daskhub_lite.charts import commands

    parser = argparse.ArgumentParser(prog="daskhub-lite")
    commands.add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["install", *argv])
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            cmd_install.__wrapped__(args)  # type: ignore[attr-defined]
        except (ChartError, helm.HelmError, OSError, ValueError, yaml.YAMLError) as err:
            raise ChartError(failure(err, "INSTALLATION FAILED")) from err


def _config(args: argparse.Namespace) -> helm.Config:
    return helm.Config(kubeconfig_path=args.kubeconfig, kube_context=args.kube_context,
                       namespace=args.namespace)


def _user_values(args: argparse.Namespace) -> dict[str, Any]:
    return values.load(args.values or [], args.set or [], args.set_string or [])


def _check_values(chart: helm.Chart, user: dict[str, Any], path: Any) -> None:
    """Schema errors name the key (Helm's message); keys that no chart of the release
    (the chart, its subcharts, `global`) reads are warned about."""
    try:
        chart.validate_schema(chart.merge_values(user))
    except helm.HelmValuesError as err:
        raise ChartError(f"values don't meet the chart's schema: {one_line(str(err))}") from err
    if not user:
        return
    for unread in values.unread_keys(values_tree.load(path), user):
        _err(f"warning: {unread.path} is not a value of chart {unread.chart}; ignored by its "
             "templates")


def _wait_mode(args: argparse.Namespace) -> str | None:
    return "watcher" if args.wait else None


def _run_with_progress(args: argparse.Namespace, chart: helm.Chart, name: str,
                       user: dict[str, Any], action: Callable[[], Any]) -> Any:
    if not args.wait:
        return action()
    namespace = args.namespace or "default"
    rendered = chart.render(user, name=name, namespace=namespace)
    manifest = "\n---\n".join(v for k, v in rendered.items() if not k.endswith("NOTES.txt"))
    items = waiting.workloads(manifest, namespace)
    _err(f"waiting up to {args.timeout}s for {len(items)} workload(s) of release {name}")
    progress = waiting.Progress(args.kubeconfig, args.kube_context, items, _err)
    return progress.run(action)


def _print_release(release: dict[str, Any]) -> None:
    print(output.summary(release))


# --- release actions -------------------------------------------------------------------


@_guard("INSTALLATION FAILED")
def cmd_install(args: argparse.Namespace) -> int:
    if args.generate_name:
        if args.chart is not None:
            raise ChartError("with --generate-name give only CHART, not NAME and CHART")
        ref, name = args.name, None
    else:
        if args.chart is None:
            raise ChartError("must either provide a name or specify --generate-name")
        ref, name = args.chart, args.name
    user = _user_values(args)
    with locate.resolve(ref, args.version) as path, helm.Chart.load(path) as chart:
        if name is None:
            name = f"{chart.name}-{int(time.time())}"
        helm.validate_release_name(name)
        _check_values(chart, user, path)
        with _config(args) as cfg:
            release = _run_with_progress(args, chart, name, user, lambda: engine.install(
                cfg, chart, name, user, sub_notes=_sub_notes(args),
                namespace=args.namespace, timeout=args.timeout,
                wait=_wait_mode(args), create_namespace=args.create_namespace,
                dry_run="client" if args.dry_run else None, description=args.description))
    _print_release(release)
    return 0


@_guard("UPGRADE FAILED")
def cmd_upgrade(args: argparse.Namespace) -> int:
    user = _user_values(args)
    with locate.resolve(args.chart, args.version) as path, helm.Chart.load(path) as chart:
        _check_values(chart, user, path)
        with _config(args) as cfg:
            exists = _release_exists(cfg, args.release)
            if not exists and not args.install:
                raise ChartError(f'"{args.release}" has no deployed releases')
            if not exists:
                print(f'Release "{args.release}" does not exist. Installing it now.')
                release = _run_with_progress(
                    args, chart, args.release, user, lambda: engine.install(
                        cfg, chart, args.release, user, sub_notes=_sub_notes(args),
                        namespace=args.namespace, timeout=args.timeout,
                        wait=_wait_mode(args), create_namespace=args.create_namespace))
            else:
                release = _run_with_progress(
                    args, chart, args.release, user, lambda: engine.upgrade(
                        cfg, chart, args.release, user, sub_notes=_sub_notes(args),
                        namespace=args.namespace, timeout=args.timeout,
                        wait=_wait_mode(args), reuse_values=args.reuse_values,
                        reset_values=args.reset_values, cleanup_on_fail=args.cleanup_on_fail,
                        rollback_on_failure=args.atomic))
                print(f'Release "{args.release}" has been upgraded. Happy Helming!')
    _print_release(release)
    return 0


def _sub_notes(args: argparse.Namespace) -> bool:
    """Helm's --render-subchart-notes (added to install/upgrade by commands_packaging)."""
    return bool(getattr(args, "render_subchart_notes", False))


def _release_exists(cfg: helm.Config, name: str) -> bool:
    try:
        cfg.history(name, max_revisions=1)
    except helm.HelmNotFoundError:
        return False
    return True


@_guard("rollback failed")
def cmd_rollback(args: argparse.Namespace) -> int:
    with _config(args) as cfg:
        cfg.rollback(args.release, version=args.revision or None, timeout=args.timeout,
                     wait=_wait_mode(args))
    print("Rollback was a success! Happy Helming!")
    return 0


@_guard("uninstall failed")
def cmd_uninstall(args: argparse.Namespace) -> int:
    with _config(args) as cfg:
        for name in args.releases:
            result = cfg.uninstall(name, keep_history=args.keep_history, timeout=args.timeout,
                                   wait="watcher" if args.wait else None,
                                   ignore_not_found=args.ignore_not_found)
            if result.get("info"):
                print(result["info"])
            print(f'release "{name}" uninstalled')
    return 0


@_guard("list failed")
def cmd_list(args: argparse.Namespace) -> int:
    with _config(args) as cfg:
        items = cfg.list(all_states=args.all, all_namespaces=args.all_namespaces,
                         name_filter=args.filter)
    if args.output == "json":
        print(_json([_strip(r) for r in items]))
    elif args.short:
        print("\n".join(r["name"] for r in items))
    else:
        print(output.releases_table(items))
    return 0


def _strip(release: dict[str, Any]) -> dict[str, Any]:
    return {"name": release["name"], "namespace": release.get("namespace"),
            "revision": str(release.get("revision")), "updated": release.get("deployed_at"),
            "status": release.get("status"), "chart": output.chart_label(release),
            "app_version": release.get("app_version")}


def _json(data: Any) -> str:
    import json

    return json.dumps(data)


@_guard("history failed")
def cmd_history(args: argparse.Namespace) -> int:
    with _config(args) as cfg:
        items = cfg.history(args.release, max_revisions=args.max)
        descriptions = {}
        for item in items:
            info = cfg.get_all(args.release, revision=int(item["revision"])).get("info") or {}
            descriptions[int(item["revision"])] = str(info.get("description", ""))
    if args.output == "json":
        print(_json([{**_strip(r), "description": descriptions.get(int(r["revision"]), "")}
                     for r in items]))
    else:
        print(output.history_table(items, descriptions))
    return 0


@_guard("status failed")
def cmd_status(args: argparse.Namespace) -> int:
    with _config(args) as cfg:
        release = cfg.status(args.release, revision=args.revision)
    _print_release(release)
    return 0


@_guard("template failed")
def cmd_template(args: argparse.Namespace) -> int:
    user = _user_values(args)
    name = args.name if args.chart is not None else "release-name"
    ref = args.chart if args.chart is not None else args.name
    with locate.resolve(ref, args.version) as path, helm.Chart.load(path) as chart:
        _check_values(chart, user, path)
        rendered = chart.render(user, name=name, namespace=args.namespace or "default",
                                is_install=True)
    for source in sorted(rendered):
        text = rendered[source].strip()
        if source.endswith("NOTES.txt") or not text or "/templates/tests/" in source:
            continue
        if args.show_only and not any(source.endswith(s) for s in args.show_only):
            continue
        print(f"---\n# Source: {source}\n{text}")
    return 0


@_guard("lint failed")
def cmd_lint(args: argparse.Namespace) -> int:
    user = _user_values(args)
    failed = 0
    for ref in args.charts:
        with locate.resolve(ref) as path:
            report = helm.lint(path, user or None, strict=args.strict,
                               kube_version=args.kube_version)
        print(f"==> Linting {ref}")
        for msg in report.get("messages", []):
            level = {1: "INFO", 2: "WARNING", 3: "ERROR"}.get(msg.get("severity"), "UNKNOWN")
            print(f"[{level}] {msg.get('path')}: {one_line(msg.get('error', ''))}")
        bad = report.get("errors") or [m for m in report.get("messages", [])
                                       if m.get("severity", 0) >= (2 if args.strict else 3)]
        failed += 1 if bad else 0
        print()
    print(f"{len(args.charts)} chart(s) linted, {failed} chart(s) failed")
    if failed:
        raise ChartError(f"{failed} chart(s) failed linting")
    return 0


# --- repositories ----------------------------------------------------------------------


@_guard("repo add failed")
def cmd_repo_add(args: argparse.Namespace) -> int:
    repo = repos.add(args.name, args.url, force_update=args.force_update)
    print(f'"{repo.name}" has been added to your repositories')
    return 0


@_guard("repo list failed")
def cmd_repo_list(args: argparse.Namespace) -> int:
    items = repos.repos()
    if not items:
        raise ChartError("no repositories to show")
    print(output.table(["NAME", "URL"], [[r.name, r.url] for r in items]))
    return 0


@_guard("repo update failed")
def cmd_repo_update(args: argparse.Namespace) -> int:
    print("Hang tight while we grab the latest from your chart repositories...")
    for repo in repos.update(args.names):
        print(f'...Successfully got an update from the "{repo.name}" chart repository')
    print("Update Complete. ⎈Happy Helming!⎈")
    return 0


@_guard("repo remove failed")
def cmd_repo_remove(args: argparse.Namespace) -> int:
    repos.remove(args.names)
    for name in args.names:
        print(f'"{name}" has been removed from your repositories')
    return 0


@_guard("search failed")
def cmd_search_repo(args: argparse.Namespace) -> int:
    rows = repos.search(args.keyword, all_versions=args.versions)
    if not rows:
        print("No results found")
        return 0
    print(output.table(["NAME", "CHART VERSION", "APP VERSION", "DESCRIPTION"],
                       [[r["name"], r["version"], r["app_version"], r["description"]]
                        for r in rows]))
    return 0
