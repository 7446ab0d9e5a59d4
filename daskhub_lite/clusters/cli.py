"""`daskhub-lite cluster create|list|scale|delete`: Dask clusters from the shell.

The CLI never starts an embedded control plane (it would die with the command): it uses the
kubeconfig's cluster or the one `daskhub-lite up` runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from typing import Any, Callable

# Light imports only: `--help` and `cluster list` must not load kr8s or distributed.
from daskhub_lite.errors import UserError
from daskhub_lite.clusters.names import (API_VERSION, DASKCLUSTERS, PROFILE_ANNOTATION,
                                         WORKERGROUPS)


def add_commands(sub: Any) -> None:
    p = sub.add_parser("cluster", help="Dask clusters: create, list, scale, delete")
    csub = p.add_subparsers(dest="cluster_command", required=True)

    c = csub.add_parser("create", help="create a Dask cluster and wait for its scheduler")
    c.add_argument("name")
    c.add_argument("--workers", "-w", type=int, default=2)
    c.add_argument("--profile", "-p", default=None, help="worker profile (default cpu-small)")
    c.add_argument("--cores", type=float, default=None)
    c.add_argument("--memory", default=None, help="memory per worker, e.g. 4Gi")
    c.add_argument("--gpus", type=int, default=None, help="GPUs per worker")
    c.add_argument("--image", default=None)
    c.add_argument("--idle-timeout", type=int, default=0,
                   help="seconds without a client heartbeat before the cluster is reaped "
                        "(default 0: never; the CLI sends none)")
    c.add_argument("--timeout", type=float, default=300)
    _common(c)
    c.set_defaults(func=_guard(cmd_create))

    c = csub.add_parser("list", aliases=["ls"], help="list Dask clusters")
    c.add_argument("-A", "--all-namespaces", action="store_true")
    _common(c)
    c.set_defaults(func=_guard(cmd_list))

    c = csub.add_parser("scale", help="scale a worker group (graceful scale-down)")
    c.add_argument("name")
    c.add_argument("workers", type=int)
    c.add_argument("--worker-group", "-g", default="default")
    _common(c)
    c.set_defaults(func=_guard(cmd_scale))

    c = csub.add_parser("delete", help="delete Dask clusters and everything they made")
    c.add_argument("names", nargs="+", metavar="NAME")
    c.add_argument("--wait", action="store_true", help="wait until their pods are gone")
    _common(c)
    c.set_defaults(func=_guard(cmd_delete))


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG)")
    p.add_argument("-n", "--namespace", default=None, help="namespace (default: the context's)")


def _guard(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except UserError:
            raise
        except Exception as exc:
            if getattr(args, "debug", False):
                raise
            # one line, rendered by daskhub_lite.cli.main
            raise UserError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc
    return run


def _target(args: argparse.Namespace) -> Any:
    from daskhub_lite.clusters.target import resolve

    return resolve(args.kubeconfig, args.namespace, start=False)


def cmd_create(args: argparse.Namespace) -> int:
    from daskhub_lite.clusters.cluster import DaskCluster

    target = _target(args)
    cluster = DaskCluster(args.name, n_workers=args.workers, profile=args.profile,
                          cores=args.cores, memory=args.memory, gpus=args.gpus,
                          image=args.image, namespace=target.namespace,
                          kubeconfig=target.kubeconfig, idle_timeout=args.idle_timeout,
                          shutdown_on_close=False, timeout=args.timeout, quiet=True,
                          progress=lambda m: print(f"  {m}", file=sys.stderr))
    try:
        print(f"daskcluster.kubernetes.dask.org/{args.name} created")
        print(f"scheduler: tcp://{args.name}-scheduler.{target.namespace}:8786")
        if cluster.dashboard_link:
            print(f"dashboard: {cluster.dashboard_link}")
    finally:
        cluster.close()
    return 0


def age(stamp: str | None, now: float | None = None) -> str:
    if not stamp:
        return "<unknown>"
    then = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    secs = int((now if now is not None else time.time()) - then.timestamp())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{max(secs, 0)}s"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    return "\n".join("   ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
                     for r in [headers, *rows])


def cluster_rows(clusters: list[dict[str, Any]], groups: list[dict[str, Any]],
                 with_namespace: bool, now: float | None = None) -> list[list[str]]:
    """kubectl-like rows: NAME, WORKERS (ready groups' requested total), GROUPS, ..."""
    by_cluster: dict[tuple[str, str], list[str]] = {}
    totals: dict[tuple[str, str], int] = {}
    for g in groups:
        key = (g["metadata"].get("namespace", ""), g["spec"]["cluster"])
        n = int(g["spec"]["worker"].get("replicas", 0))
        by_cluster.setdefault(key, []).append(
            f"{g['metadata']['name'][len(key[1]) + 1:]}={n}")
        totals[key] = totals.get(key, 0) + n
    rows = []
    for c in sorted(clusters, key=lambda c: (c["metadata"].get("namespace", ""),
                                             c["metadata"]["name"])):
        md = c["metadata"]
        key = (md.get("namespace", ""), md["name"])
        workers = totals.get(key, int(c["spec"]["worker"].get("replicas", 0)))
        row = [md["name"], str(workers), ",".join(sorted(by_cluster.get(key, []))) or "-",
               (md.get("annotations") or {}).get(PROFILE_ANNOTATION, "-"),
               (c.get("status") or {}).get("phase", "Pending"),
               age(md.get("creationTimestamp"), now)]
        rows.append(([md.get("namespace", "")] if with_namespace else []) + row)
    return rows


def _list_raw(api: Any, plural: str, namespace: str | None) -> list[dict[str, Any]]:
    """Raw objects of one operator kind, through the light REST client (`kubehttp`)."""
    from daskhub_lite.kubehttp import APIStatusError, resource_path

    try:
        return list(api.get(resource_path(API_VERSION, plural, namespace))["items"])
    except APIStatusError as exc:
        if exc.status == 404:  # the operator's CRDs are not installed (kr8s's words)
            raise LookupError(f"Kind {plural} not found.") from None
        raise


def cmd_list(args: argparse.Namespace) -> int:
    target = _target(args)
    ns = None if args.all_namespaces else target.namespace
    api = target.http()
    clusters, groups = _list_raw(api, DASKCLUSTERS, ns), _list_raw(api, WORKERGROUPS, ns)
    if not clusters:
        print(f"No Dask clusters found{'' if ns is None else f' in {ns} namespace'}.",
              file=sys.stderr)
        return 0
    headers = ["NAME", "WORKERS", "GROUPS", "PROFILE", "STATUS", "AGE"]
    if ns is None:
        headers = ["NAMESPACE", *headers]
    print(table(headers, cluster_rows(clusters, groups, ns is None)))
    return 0


def cmd_scale(args: argparse.Namespace) -> int:
    import warnings

    from daskhub_lite.clusters.cluster import DaskCluster
    from daskhub_lite.clusters.kube import WorkersRefused

    if args.workers < 0:
        raise ValueError(f"cannot scale to {args.workers} workers: must be >= 0")
    target = _target(args)
    cluster = DaskCluster.from_name(args.name, namespace=target.namespace,
                                    kubeconfig=target.kubeconfig, quiet=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", WorkersRefused)
        try:
            cluster.scale(args.workers, worker_group=args.worker_group)
        finally:
            cluster.close()
    print(f"daskcluster.kubernetes.dask.org/{args.name} scaled "
          f"({args.worker_group}={args.workers})")
    for warning in caught:
        if isinstance(warning.message, WorkersRefused):
            # As kubectl prints the API's warnings: the scale stands, the workers wait.
            print(f"Warning: workers refused: {warning.message}", file=sys.stderr)
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    import asyncio

    from daskhub_lite.clusters import kube

    target = _target(args)

    async def delete(name: str) -> bool:
        api = await target.async_api()
        found = await kube.delete(api, kube.DASKCLUSTERS, name, target.namespace)
        await kube.delete_labelled(api, target.namespace, {"dask.org/cluster-name": name})
        if found and args.wait:
            while await kube.pods_left(api, name, target.namespace):
                await asyncio.sleep(0.25)
        return found

    missing = 0
    for name in args.names:
        if asyncio.run(delete(name)):
            print(f'daskcluster.kubernetes.dask.org "{name}" deleted')
        else:
            print(f'Error from server (NotFound): daskclusters.kubernetes.dask.org "{name}" '
                  "not found", file=sys.stderr)
            missing += 1
    return 1 if missing else 0
