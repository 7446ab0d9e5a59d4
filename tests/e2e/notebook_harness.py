"""Executing the tutorial notebooks headlessly, as a user with no cluster configured would run
them (a fresh laptop, Binder): one kernel per notebook, in a copy of `notebooks/`, with no
KUBECONFIG and a temporary data dir, so each notebook starts its own embedded control plane.

Each notebook runs in a child process (`python -m tests.e2e.notebook_harness`) so that a
per-notebook time limit can stop it, kernel and all. The executed copy is kept under
`tests/artifacts/notebooks/` (git-ignored) for reading after a failure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ARTIFACTS = ROOT / "tests" / "artifacts"
DEFAULT_TIMEOUT = 300.0
# Seconds per notebook, whole notebook (kernel start to last cell), on 2 cores.
TIMEOUTS = {"01-quickstart": 300.0, "02-gpu-placement": 120.0, "03-training-jobs": 300.0,
            "04-kubernetes-daskhub": 300.0}


@dataclass
class Result:
    name: str
    seconds: float
    returncode: int
    log: str
    executed: Path


def kernel_spec(dest: Path, python: str, wrapper: list[str] | None = None) -> str:
    """A kernelspec running `python`'s ipykernel (optionally through `wrapper`, e.g. Binder's
    `binder/start`); returns its name. Put `dest` on JUPYTER_PATH to use it."""
    name = "nb-" + str(abs(hash((python, tuple(wrapper or ())))) % 10**8)
    folder = dest / "kernels" / name
    folder.mkdir(parents=True, exist_ok=True)
    argv = [*(wrapper or []), python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (folder / "kernel.json").write_text(json.dumps(
        {"argv": argv, "display_name": name, "language": "python"}))
    return name


def user_env(home: Path, python: str) -> dict[str, str]:
    """The environment of a user with no cluster: nothing points at one; PATH has `python`'s
    scripts first (as an activated environment would)."""
    # OPENB_DIR would point the GPU notebook at a full trace: tests use the shipped slice.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KUBERNETES_", "PYTEST_", "JPY_"))
           and k not in ("KUBECONFIG", "OPENB_DIR")}
    (home / "data").mkdir(parents=True, exist_ok=True)
    env.update({
        "DASKHUB_LITE_HOME": str(home / "data"),
        # A path that does not exist: DaskCluster/jobs must not find ~/.kube/config either.
        "KUBECONFIG": str(home / "no-kubeconfig"),
        "PATH": str(Path(python).parent) + os.pathsep + env.get("PATH", ""),
        "MPLBACKEND": "agg",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def run(notebook: Path, workdir: Path, *, python: str = sys.executable,
        wrapper: list[str] | None = None, extra_env: dict[str, str] | None = None,
        timeout: float | None = None, artifact_tag: str = "") -> Result:
    """Execute `notebook` in a copy of its folder under `workdir`, its kernel run by `python`."""
    name = notebook.stem
    timeout = timeout or TIMEOUTS.get(name, DEFAULT_TIMEOUT)
    copy = workdir / "notebooks"
    if not copy.exists():
        shutil.copytree(notebook.parent, copy,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    jupyter_path = workdir / "jupyter"
    kernel = kernel_spec(jupyter_path, python, wrapper)
    env = user_env(workdir / "home", python)
    env.update(extra_env or {})
    env["JUPYTER_PATH"] = str(jupyter_path)
    ARTIFACTS.joinpath("notebooks").mkdir(parents=True, exist_ok=True)
    executed = ARTIFACTS / "notebooks" / f"{name}{artifact_tag}.ipynb"
    # The runner itself uses this (the test) Python's nbclient; only the kernel is `python`.
    cmd = [sys.executable, "-m", "tests.e2e.notebook_harness", str(copy / notebook.name),
           "--kernel", kernel, "--out", str(executed), "--timeout", str(timeout)]
    # The runner finds this module through PYTHONPATH and drops it before the kernel starts,
    # so the kernel imports daskhub_lite from its own environment.
    runner_env = {**env, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=copy, env=runner_env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        log, _ = proc.communicate()
        log += f"\n(notebook {name} stopped: over its {timeout:.0f}s limit)"
    finally:
        reap(workdir)
    return Result(name, time.monotonic() - started, proc.returncode, log, executed)


def reap(workdir: Path) -> None:
    """Kill what a notebook's control plane left running: processes whose environment names
    `workdir` (pods get per-pod kubeconfigs under the data dir). Normally there are none."""
    marker = str(workdir).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue


def _execute(path: Path, kernel: str, out: Path, timeout: float) -> int:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel,
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
        return 0
    except CellExecutionError as err:
        print(str(err)[-6000:], flush=True)
        return 1
    finally:
        nbformat.write(nb, out)
        for cell in nb.cells:  # what the notebook printed, for the test log
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream":
                    print(output.get("text", ""), end="")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--kernel", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    args = parser.parse_args()
    os.environ.pop("PYTHONPATH", None)
    return _execute(args.notebook, args.kernel, args.out, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
