"""`daskhub-lite job submit|logs|wait|list|status|outputs|delete`: training Jobs from a shell.

Errors are one line on stderr and exit code 1; `job wait` (and `submit --wait/--follow`) exit 0
when the Job succeeds, 1 with the reason when it fails, 130 when interrupted (the job keeps
running).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import TYPE_CHECKING, Any, Callable

from daskhub_lite.errors import UserError

if TYPE_CHECKING:  # the jobs API loads only when a job command runs
    from daskhub_lite import jobs
    from daskhub_lite.jobs.state import JobState


def _errors() -> tuple[type[BaseException], ...]:
    from daskhub_lite import jobs
    from daskhub_lite.jobs.code import CodeError
    from daskhub_lite.jobs.kube import NoCluster
    from daskhub_lite.jobs.outputs import OutputsError
    from daskhub_lite.jobs.spec import JobSpecError

    return (jobs.JobError, JobSpecError, CodeError, NoCluster, OutputsError, TimeoutError)


def _handled(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except _errors() as err:
            if getattr(args, "debug", False):
                raise
            raise UserError(str(err)) from err  # rendered by daskhub_lite.cli.main
    return run


def _cluster(args: argparse.Namespace) -> Any:
    from daskhub_lite.jobs.kube import connect

    return connect(args.kubeconfig, args.context, args.namespace, start_embedded=False)


def _env(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            from daskhub_lite.jobs.spec import JobSpecError

            raise JobSpecError(f"-e expects KEY=VALUE, not {pair!r}")
        out[key] = value
    return out


@_handled
def cmd_submit(args: argparse.Namespace) -> int:
    from daskhub_lite import jobs
    from daskhub_lite.jobs.spec import JobSpecError

    command = list(args.cmd)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise JobSpecError("nothing to run: daskhub-lite job submit [options] -- python train.py")
    cluster = _cluster(args)
    job = jobs.submit(
        command, name=args.name, image=args.image, code=None if args.no_code else args.code,
        gpus=args.gpus, gpu_share=args.gpu_share, gpu_model=args.gpu_model, cpus=args.cpus,
        memory=args.memory, env=_env(args.env), retries=args.retries, deadline=args.deadline,
        ttl=args.ttl, completions=args.completions, parallelism=args.parallelism,
        priority=args.priority, dask_workers=args.dask_workers,
        outputs=not args.no_outputs, namespace=args.namespace, cluster=cluster)
    print(f"job.batch/{job.name} submitted", flush=True)
    if args.follow:
        job.logs(follow=True)
    if args.follow or args.wait:
        return _wait(job, None)
    return 0


def _wait(job: "jobs.TrainingJob", timeout: float | None) -> int:
    from daskhub_lite import jobs

    try:
        state = job.wait(timeout=timeout)
    except (jobs.JobFailed, jobs.JobUnschedulable, jobs.JobRefused) as err:
        raise UserError(str(err)) from err
    print(f"job.batch/{job.name} succeeded ({state.succeeded}/{state.completions})")
    return 0


@_handled
def cmd_wait(args: argparse.Namespace) -> int:
    from daskhub_lite import jobs

    return _wait(jobs.get(args.name, cluster=_cluster(args)), args.timeout)


@_handled
def cmd_logs(args: argparse.Namespace) -> int:
    from daskhub_lite import jobs

    job = jobs.get(args.name, cluster=_cluster(args))
    text = job.logs(follow=args.follow)
    if text:
        sys.stdout.write(text)
    return 0


def _age(timestamp: str) -> str:
    if not timestamp:
        return "<none>"
    then = dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    seconds = int((dt.datetime.now(dt.timezone.utc) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def _row(state: "JobState") -> list[str]:
    return [state.name, state.phase + (f" ({state.reason})" if state.reason else ""),
            f"{state.succeeded}/{state.completions}", str(state.active), str(state.failed),
            _age(state.started)]


@_handled
def cmd_list(args: argparse.Namespace) -> int:
    from daskhub_lite import jobs

    rows = [["NAME", "STATUS", "COMPLETIONS", "ACTIVE", "FAILED", "AGE"]]
    rows += [_row(s) for s in jobs.list(cluster=_cluster(args))]
    if len(rows) == 1:
        print(f"No jobs found in {args.namespace or 'the current'} namespace.",
              file=sys.stderr)
        return 0
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("   ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return 0


@_handled
def cmd_status(args: argparse.Namespace) -> int:
    from daskhub_lite import jobs

    state = jobs.get(args.name, cluster=_cluster(args)).status()
    print(f"Name:         {state.name}")
    print(f"Status:       {state.phase}" + (f" ({state.reason})" if state.reason else ""))
    if state.message:
        print(f"Message:      {state.message}")
    if state.unschedulable:
        print(f"Unschedulable: {state.unschedulable}")
    print(f"Completions:  {state.succeeded}/{state.completions}")
    print(f"Pods:         {state.active} active, {state.failed} failed")
    print(f"Started:      {state.started or '<not yet>'}")
    if state.finished:
        print(f"Finished:     {state.finished}")
    for pod, phase in sorted(state.pods.items()):
        print(f"  {pod}  {phase}")
    return 0


@_handled
def cmd_outputs(args: argparse.Namespace) -> int:
    from daskhub_lite import jobs

    files = jobs.get(args.name, cluster=_cluster(args)).outputs(args.dest)
    for name in files:
        print(name)
    print(f"{len(files)} file(s) copied to {args.dest}", file=sys.stderr)
    return 0


@_handled
def cmd_delete(args: argparse.Namespace) -> int:
    from daskhub_lite import jobs

    cluster = _cluster(args)
    for name in args.names:
        jobs.get(name, cluster=cluster).delete()
        print(f'job.batch "{name}" deleted')
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, "
                   "else the embedded control plane of `daskhub-lite up`)")
    p.add_argument("--context", default=None, help="kubeconfig context")
    p.add_argument("-n", "--namespace", default=None, help="namespace (default: the context's)")


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    job = sub.add_parser("job", help="training Jobs: submit, logs, wait, list, outputs, delete")
    verbs = job.add_subparsers(dest="job_command", required=True)

    p = verbs.add_parser("submit", help="run a command as a Job",
                         usage="daskhub-lite job submit [options] -- python train.py ARGS")
    _common(p)
    p.add_argument("--name", default=None)
    p.add_argument("--image", default=None, help="container image (real clusters)")
    p.add_argument("--code", default=".", help="folder or script shipped as the working "
                   "directory (default: .)")
    p.add_argument("--no-code", action="store_true", help="ship no code (it is in the image)")
    p.add_argument("--gpus", type=int, default=0)
    p.add_argument("--gpu-share", type=float, default=None, help="a fraction of one GPU")
    p.add_argument("--gpu-model", default=None, help="e.g. A100 or 'A100|H100'")
    p.add_argument("--cpus", default=None)
    p.add_argument("--memory", default=None)
    p.add_argument("--retries", type=int, default=3)
    p.add_argument("--deadline", type=float, default=None, help="seconds")
    p.add_argument("--ttl", type=int, default=None, help="delete this long after it ends")
    p.add_argument("--completions", type=int, default=None)
    p.add_argument("--parallelism", type=int, default=None)
    p.add_argument("--priority", default=None, help="PriorityClass name")
    p.add_argument("--dask-workers", type=int, default=0)
    p.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--no-outputs", action="store_true")
    p.add_argument("--follow", "-f", action="store_true", help="stream logs, then wait")
    p.add_argument("--wait", action="store_true", help="wait for the job to end")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_submit)

    for verb, func, text in (("logs", cmd_logs, "print a job's log"),
                             ("wait", cmd_wait, "wait for a job; exit code mirrors it"),
                             ("status", cmd_status, "describe a job"),
                             ("outputs", cmd_outputs, "copy a job's outputs to a folder")):
        p = verbs.add_parser(verb, help=text)
        _common(p)
        p.add_argument("name")
        if verb == "logs":
            p.add_argument("-f", "--follow", action="store_true")
        if verb == "wait":
            p.add_argument("--timeout", type=float, default=None)
        if verb == "outputs":
            p.add_argument("dest")
        p.set_defaults(func=func)
    p = verbs.add_parser("list", help="list jobs")
    _common(p)
    p.set_defaults(func=cmd_list)
    p = verbs.add_parser("delete", help="delete jobs with their code and outputs")
    _common(p)
    p.add_argument("names", nargs="+")
    p.set_defaults(func=cmd_delete)
