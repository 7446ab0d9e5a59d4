"""The `daskhub-lite` command: one entry point, subcommands per task.

Control-plane commands (`up`, `down`, `status`, `scheduler`) belong to the orchestrator and
are wired in from `orchestrator.cli`. This is the CLI's one error boundary: commands raise
`errors.UserError` (or the control plane's `CLIError`) and `main` renders it once, one line on
stderr and its exit code, a traceback only with `--debug`.
"""

from __future__ import annotations

import argparse
import sys

from daskhub_lite import argparsing, demo, errors, up
from daskhub_lite.jobs import cli as jobs_cli
from daskhub_lite.charts import commands as chart_commands
from daskhub_lite.clusters import cli as clusters_cli
from orchestrator import cli as control_plane_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparsing.ArgumentParser(  # usage errors are one line, as every CLI error
        prog="daskhub-lite", description="Dask on Kubernetes for data scientists."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)
    control_plane_cli.add_commands(sub)
    up.extend_up(sub)  # the user layer's part of `up`: the dask operator, `--hub`
    chart_commands.add_commands(sub)
    clusters_cli.add_commands(sub)
    jobs_cli.add_commands(sub)
    demo.add_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv[:1]
    rest = argv[1:] if debug else argv
    passthrough = control_plane_cli.PASSTHROUGH.get(rest[0]) if rest else None
    if passthrough is not None:
        try:
            return passthrough(rest[1:])
        except (errors.UserError, control_plane_cli.CLIError) as err:
            if debug:
                raise
            return errors.report(err)
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (errors.UserError, control_plane_cli.CLIError) as err:
        if args.debug:
            raise
        return errors.report(err)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
