"""`daskhub-lite up`: the user layer's part of starting the embedded cluster.

The control plane knows nothing of charts (`orchestrator.cli up` starts it); the user layer wraps
that command so that a Dask cluster is one call away: the dask operator chart is installed by
default (`--no-operator` skips it), and `--hub` installs DaskHub too (see `hub.py`).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

from daskhub_lite import hub


def extend_up(sub: Any) -> None:
    """Add `--no-operator` and `--hub` to the control plane's `up` and wrap its action."""
    parser = sub.choices["up"]
    parser.add_argument("--no-operator", action="store_true",
                        help="do not install the dask operator chart")
    parser.add_argument("--hub", action="store_true",
                        help="install DaskHub (JupyterHub + Dask) and print how to log in")
    start_up: Callable[[Any], int] = parser.get_default("func")

    def up(args: Any) -> int:
        if args.hub and args.foreground:
            raise hub.HubError("--hub starts the control plane in the background; "
                               "drop --foreground")
        kubeconfig = str(_data_dir(args) / "kubeconfig")
        if args.foreground:
            # The plane runs in this process until stopped: install once it answers.
            if not args.no_operator:
                threading.Thread(target=_install_when_ready, args=(_data_dir(args),),
                                 daemon=True, name="dask-operator-install").start()
            return int(start_up(args))
        code = int(start_up(args))
        if code != 0:
            return code
        if not args.no_operator:
            install_operator(kubeconfig)
        return hub.install_hub(kubeconfig) if args.hub else 0

    parser.set_defaults(func=up)


def _data_dir(args: Any) -> Path:
    from orchestrator.settings import default_data_dir

    return Path(args.data_dir or default_data_dir())


def install_operator(kubeconfig: str) -> None:
    """The dask operator chart, with our idle reaper (the operator's pod runs in this Python
    environment on the embedded cluster); nothing when its CRDs are already there."""
    from daskhub_lite.clusters.target import OPERATOR_NAMESPACE, ensure_operator

    print(f"installing the dask operator (namespace {OPERATOR_NAMESPACE}) ...", flush=True)
    started = time.monotonic()
    try:
        ensure_operator(kubeconfig, with_reaper=True)
    except RuntimeError as err:
        raise hub.HubError(f"{err} (the control plane is running; `daskhub-lite up "
                           "--no-operator` skips this step)") from None
    print(f"dask operator ready ({time.monotonic() - started:.1f}s)", flush=True)


def _install_when_ready(data_dir: Path, timeout: float = 60) -> None:
    # `up --foreground` writes its pid file once the plane has started in this process.
    pid_file = data_dir / "controlplane.pid"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ready = int(pid_file.read_text().strip()) == os.getpid()
        except (OSError, ValueError):
            ready = False
        if ready:
            try:
                install_operator(str(data_dir / "kubeconfig"))
            except hub.HubError as err:
                print(f"error: {err}", flush=True)
            return
        time.sleep(0.2)
