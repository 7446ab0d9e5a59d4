"""`daskhub-lite up | down | status`: run the embedded control plane as a daemon or in the
foreground. Wiring only: the work is done by `ControlPlane`."""

from __future__ import annotations

import argparse
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

from orchestrator import datadir
from orchestrator.settings import ALL_COMPONENTS, default_data_dir


class CLIError(Exception):
    """A one-line error for the user; the CLI prints it and exits non-zero."""


def _paths(data_dir: Path) -> tuple[Path, Path]:
    return data_dir / "controlplane.pid", data_dir / "controlplane.log"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    # An exited process its parent has not reaped yet (a notebook or a test that ran
    # `up --foreground` as a child) still answers signal 0: it is a zombie, not alive.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): signal 0 is all there is
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _running_pid(data_dir: Path) -> int | None:
    pid_file, _ = _paths(data_dir)
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _alive(pid) else None


def _server_url(data_dir: Path) -> str | None:
    try:
        config = yaml.safe_load((data_dir / "kubeconfig").read_text())
        return str(config["clusters"][0]["cluster"]["server"])
    except (FileNotFoundError, KeyError, IndexError, TypeError, yaml.YAMLError):
        return None


def _healthy(url: str, data_dir: Path) -> bool:
    """/readyz answers, over TLS checked against the data dir's own CA."""
    context = ssl.create_default_context(cafile=str(data_dir / "pki" / "ca.crt")) \
        if url.startswith("https") else None
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=2, context=context) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1].removeprefix("error: ") if lines else ""


def _ranges_line(described: str) -> str:
    return f"another control plane runs on this host: this one took the ranges {described}"


def _shared_host_note(data_dir: Path) -> str | None:
    """The ranges line when planes other than the one of `data_dir` hold slots now."""
    from orchestrator import planeranges

    if not (data_dir / planeranges.RECORD_NAME).exists():
        return None  # started without the network: no ranges taken
    own = planeranges.recorded_ranges(data_dir)
    if not any(slot != own.slot for slot in planeranges.held_slots()):
        return None
    return _ranges_line(own.describe())


def up(data_dir: Path, port: int, foreground: bool, nodes: str | None,
       ingress_port: int = 8080, components: str = ",".join(ALL_COMPONENTS),
       disable_admission_plugins: str = "") -> int:
    datadir.prepare(data_dir)
    holder = datadir.holder(data_dir)
    if holder is not None:  # a live plane (daemon, notebook, paused or not) holds it
        raise CLIError(str(datadir.DataDirInUse(data_dir, holder)))
    if _running_pid(data_dir) is not None:
        raise CLIError(f"a control plane is already running for {data_dir}; "
                       "run 'daskhub-lite down' first")
    if foreground:
        wanted = tuple(c for c in components.split(",") if c and c != "none")
        unknown = set(wanted) - set(ALL_COMPONENTS)
        if unknown:
            raise CLIError(f"unknown component(s) {', '.join(sorted(unknown))}; choose from "
                           f"{', '.join(ALL_COMPONENTS)} or none")
        from orchestrator.controlplane import ControlPlane

        # This process is the control plane: all it writes (db, logs, keys) is private.
        # Containers get the usual 022 back in the shim.
        os.umask(0o077)
        try:
            cp = ControlPlane(data_dir=data_dir, port=port, nodes=nodes,
                              ingress_port=ingress_port, components=wanted,
                              disable_admission_plugins=tuple(
                                  n for n in disable_admission_plugins.split(",") if n))
        except ValueError as exc:
            raise CLIError(str(exc)) from None
        try:
            cp.start()
        except (RuntimeError, TimeoutError) as exc:
            raise CLIError(str(exc)) from None
        pid_file, _ = _paths(data_dir)
        pid_file.write_text(str(os.getpid()))
        print(f"control plane ready at {cp.url}")
        if cp.shared_host and cp.ranges is not None:
            print(_ranges_line(cp.ranges.describe()))
        print(f"export KUBECONFIG={cp.kubeconfig}", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: cp.stop())
        try:
            cp.wait()
        except KeyboardInterrupt:
            cp.stop()
        finally:
            pid_file.unlink(missing_ok=True)
        return 0
    pid_file, log_file = _paths(data_dir)
    kubeconfig = data_dir / "kubeconfig"
    before = kubeconfig.stat().st_mtime_ns if kubeconfig.exists() else 0
    cmd = [sys.executable, "-m", "orchestrator.cli", "up", "--foreground",
           "--data-dir", str(data_dir), "--port", str(port), "--ingress-port", str(ingress_port),
           "--components", components]
    if nodes:
        cmd += ["--nodes", nodes]
    if disable_admission_plugins:
        cmd += ["--disable-admission-plugins", disable_admission_plugins]
    with open(os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as log:
        os.fchmod(log.fileno(), 0o600)
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            why = _last_line(log_file)
            raise CLIError(f"the control plane exited at start-up: {why or 'no reason given'}"
                           f" (see {log_file})")
        if kubeconfig.exists() and kubeconfig.stat().st_mtime_ns != before:
            url = _server_url(data_dir)
            if url and _healthy(url, data_dir):
                print(f"control plane ready at {url} (pid {proc.pid}, log {log_file})")
                note = _shared_host_note(data_dir)
                if note:
                    print(note)
                print(f"export KUBECONFIG={kubeconfig}")
                return 0
        time.sleep(0.05)
    proc.terminate()
    raise CLIError(f"the control plane did not become ready in 30s; see {log_file}")


def down(data_dir: Path) -> int:
    pid = _running_pid(data_dir)
    if pid is None:
        print("no control plane is running")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    _paths(data_dir)[0].unlink(missing_ok=True)
    print("control plane stopped")
    return 0


def status(data_dir: Path) -> int:
    pid = _running_pid(data_dir)
    url = _server_url(data_dir)
    if pid is None:
        print(f"stopped (data dir {data_dir})")
        return 1
    health = "healthy" if url and _healthy(url, data_dir) else "not answering"
    print(f"running, pid {pid}, {url}, {health}")
    print(f"export KUBECONFIG={data_dir / 'kubeconfig'}")
    return 0 if health == "healthy" else 1


def scheduler_command(rest: list[str]) -> int:
    """`scheduler replay ...` replays a trace; otherwise run the standalone scheduler."""
    if rest[:1] == ["replay"]:
        from orchestrator.scheduler.replay import main as replay_main

        return replay_main(rest[1:])
    parser = argparse.ArgumentParser(
        prog="daskhub-lite scheduler",
        description="Run the GPU-aware scheduler against any Kubernetes API, for pods whose "
                    "spec.schedulerName matches. Subcommand: replay (trace replay).")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--scheduler-name", default="daskhub-lite-scheduler")
    parser.add_argument("--policy", default=None, help="scoring policy (default: ours)")
    parser.add_argument("--lease-namespace", default="kube-system")
    parser.add_argument("--no-leader-elect", action="store_true")
    args = parser.parse_args(rest)
    if not Path(args.kubeconfig).exists():
        raise CLIError(f"kubeconfig {args.kubeconfig} does not exist")
    from orchestrator import eventloop  # asyncio and uvloop: not for `status` or `--help`

    return eventloop.run(_run_scheduler(args))


async def _run_scheduler(args: argparse.Namespace) -> int:
    import socket

    from orchestrator.client import Client
    from orchestrator.client.leaderelection import LeaderElector
    from orchestrator.scheduler.live import LiveScheduler

    client = Client.from_kubeconfig(args.kubeconfig, user_agent=args.scheduler_name)
    kwargs = {"policy": args.policy} if args.policy else {}
    try:
        async def lead() -> None:
            await LiveScheduler(client, args.scheduler_name, **kwargs).run()

        if args.no_leader_elect:
            await lead()
        else:
            identity = f"{socket.gethostname()}_{os.getpid()}"
            elector = LeaderElector(client, args.scheduler_name, args.lease_namespace, identity)
            await elector.run(lead)
    finally:
        await client.close()
    return 0


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("up", help="start the embedded control plane")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--nodes", default=None, help="nodes file (YAML)")
    p.add_argument("--foreground", action="store_true")
    p.add_argument("--ingress-port", type=int, default=8080,
                   help="host port of the Ingress controller (default 8080)")
    p.add_argument("--components", default=",".join(ALL_COMPONENTS),
                   help="what runs beside the API server: comma-separated from "
                        f"{','.join(ALL_COMPONENTS)}, or none")
    p.add_argument("--disable-admission-plugins", default="", metavar="NAMES",
                   help="admission plugins to turn off, comma-separated (kube-apiserver's "
                        "flag; for measuring what admission costs, not for shared use)")
    p.set_defaults(func=lambda a: up(a.data_dir or default_data_dir(), a.port, a.foreground,
                                     a.nodes, a.ingress_port, a.components,
                                     a.disable_admission_plugins))
    p = sub.add_parser("down", help="stop the embedded control plane")
    p.add_argument("--data-dir", type=Path, default=None)
    p.set_defaults(func=lambda a: down(a.data_dir or default_data_dir()))
    # `scheduler` takes its own arguments (see PASSTHROUGH); listed here for --help.
    sub.add_parser("scheduler", help="standalone GPU scheduler, or `scheduler replay`")
    p = sub.add_parser("status", help="is the embedded control plane running?")
    p.add_argument("--data-dir", type=Path, default=None)
    p.set_defaults(func=lambda a: status(a.data_dir or default_data_dir()))


# Subcommands that parse their own argument lists.
PASSTHROUGH = {"scheduler": scheduler_command}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in PASSTHROUGH:
        try:
            return PASSTHROUGH[argv[0]](argv[1:])
        except CLIError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    parser = argparse.ArgumentParser(prog="daskhub-lite")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except CLIError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
