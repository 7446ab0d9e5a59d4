"""`make demo` / `daskhub-lite demo`: the non-interactive end-to-end demo.

Starts the embedded control plane (`daskhub-lite up`), installs DaskHub, logs in and spawns a
user server through the hub's API, runs a Dask computation inside that server (through a
kernel, as a notebook would), submits a training Job from there, prints the URLs and a summary
with timings, and tears everything down (`--keep` leaves it running).

Each step is timed. A step that fails is reported with its reason and the steps that need it
are skipped, saying so; the exit code is non-zero if anything failed.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

RELEASE = "daskhub"
NAMESPACE = "daskhub"
USER = "admin"

DASK_CODE = """
import warnings
warnings.filterwarnings("ignore", message="Kubernetes version")  # kr8s: not on its list yet
from daskhub_lite import DaskCluster
import dask.array as da
cluster = DaskCluster(n_workers=2)
client = cluster.get_client()
client.wait_for_workers(2, timeout=180)
x = da.random.default_rng(0).random((4000, 4000), chunks=(1000, 1000))
print(f"{len(client.scheduler_info()['workers'])} workers; mean={float(x.mean().compute()):.4f}")
print(f"namespace={cluster.namespace} cluster={cluster.name}")
client.close()
cluster.close()
"""

JOB_CODE = """
from pathlib import Path
from daskhub_lite import jobs
code = Path("demo-training")
code.mkdir(exist_ok=True)
(code / "train.py").write_text('''
import os, pickle
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
X, y = load_digits(return_X_y=True)
Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y, random_state=0)
model = LogisticRegression(max_iter=1000).fit(Xtr, ytr)
print(f"test accuracy {model.score(Xte, yte):.3f}")
with open(os.path.join(os.environ["OUTPUT_DIR"], "model.pkl"), "wb") as fh:
    pickle.dump(model, fh)
''')
job = jobs.submit("python train.py", code=code)
job.wait(timeout=240)
print(f"job {job.name}: " + job.logs().strip().splitlines()[-1])
job.delete()
"""


@dataclass
class Step:
    name: str
    status: str = "skipped"  # ok | failed | skipped
    seconds: float = 0.0
    detail: str = ""


@dataclass
class Demo:
    data_dir: Path
    keep: bool
    ingress_port: int
    # The temporary folder of everything the demo starts (the daemon, its pods, the CLI):
    # empty again at tear-down, or the demo names what was left in it.
    tmp_dir: Path
    steps: list[Step] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def kubeconfig(self) -> str:
        return str(self.data_dir / "kubeconfig")

    def step(self, name: str, action: Callable[[], str], needs: tuple[str, ...] = ()) -> bool:
        step = Step(name)
        self.steps.append(step)
        missing = [n for n in needs if not self.ok(n)]
        if missing:
            step.detail = f"needs: {', '.join(missing)}"
            print(f"\n== {name}: skipped ({step.detail})", flush=True)
            return False
        print(f"\n== {name}", flush=True)
        started = time.perf_counter()
        try:
            step.detail = action() or ""
            step.status = "ok"
        except Exception as exc:  # reported in the summary; the demo goes on where it can
            step.status = "failed"
            step.detail = f"{type(exc).__name__}: {exc}".strip()
        step.seconds = time.perf_counter() - started
        print(f"   {step.status} in {step.seconds:.1f}s" + (f": {step.detail}" if step.detail
                                                            else ""), flush=True)
        return step.status == "ok"

    def ok(self, name: str) -> bool:
        return any(s.name == name and s.status == "ok" for s in self.steps)

    # -- the steps -----------------------------------------------------------------------

    def cli(self, *args: str, timeout: float = 600, quiet: bool = False) -> str:
        env = {**os.environ, "KUBECONFIG": self.kubeconfig, "TMPDIR": str(self.tmp_dir)}
        # From the data dir: pods without a workingDir start in the daemon's folder, and the
        # user server's files (the training code it writes) belong there, not in the checkout.
        proc = subprocess.run([sys.executable, "-m", "daskhub_lite.cli", *args], env=env,
                              capture_output=quiet, text=True, timeout=timeout,
                              cwd=self.data_dir)
        if proc.returncode != 0:
            tail = (proc.stderr or "").strip().splitlines() if quiet else []
            raise RuntimeError(f"daskhub-lite {' '.join(args[:2])} exited {proc.returncode}"
                               + (f": {tail[-1]}" if tail else ""))
        return proc.stdout or ""

    def up(self) -> str:
        self.cli("up", "--data-dir", str(self.data_dir), "--ingress-port",
                 str(self.ingress_port))
        return f"API {_server_url(self.kubeconfig)}"

    def install_hub(self) -> str:
        self.cli("install", RELEASE, "daskhub", "-n", NAMESPACE, "--create-namespace",
                 "--wait", "--timeout", "420s", timeout=480)
        self.facts["hub_url"] = _ingress_url(self.kubeconfig)
        return f"hub at {self.facts['hub_url']}"

    def login(self) -> str:
        from daskhub_lite.demo_hub import HubUser

        secret = _core(self.kubeconfig).read_namespaced_secret(f"{RELEASE}-hub", NAMESPACE)
        password = base64.b64decode(secret.data["admin-password"]).decode()
        user = HubUser(self.facts["hub_url"], USER)
        deadline = time.monotonic() + 60
        while True:  # the proxy may need a moment to route /hub after the install
            try:
                user.login(password)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        self.facts["user"] = user
        return f"logged in as {USER} (password from Secret {NAMESPACE}/{RELEASE}-hub)"

    def spawn(self) -> str:
        server = self.facts["user"].spawn()
        self.facts["server_url"] = self.facts["hub_url"].rstrip("/") + server["url"]
        return f"server at {self.facts['server_url']}"

    def dask_in_server(self) -> str:
        out = self.facts["user"].run(DASK_CODE, timeout=300)
        print(_indent(out))
        return next((line for line in out.splitlines() if "workers;" in line), "")

    def job_in_server(self) -> str:
        out = self.facts["user"].run(JOB_CODE, timeout=300)
        print(_indent(out))
        return out.strip().splitlines()[-1] if out.strip() else ""

    def stop_server(self) -> str:
        self.facts["user"].stop()
        return "server stopped"

    def down(self) -> str:
        self.cli("down", "--data-dir", str(self.data_dir))
        deadline = time.monotonic() + 15
        while (left := _processes_of(self.data_dir)) and time.monotonic() < deadline:
            time.sleep(0.5)
        if left:
            raise RuntimeError(f"{len(left)} process(es) of the cluster still running: {left}")
        litter = sorted(p.name for p in self.tmp_dir.iterdir())
        if litter:
            raise RuntimeError(f"{len(litter)} temporary file(s) left: {', '.join(litter[:5])}")
        return "control plane stopped; no process or temporary file of it left"

    # -- the report ----------------------------------------------------------------------

    def summary(self, total: float) -> None:
        print("\n" + "=" * 72)
        print("daskhub-lite demo summary")
        print("-" * 72)
        width = max(len(s.name) for s in self.steps)
        for s in self.steps:
            took = f"{s.seconds:6.1f}s" if s.status != "skipped" else "      -"
            print(f"{s.name:<{width}}  {s.status:<7} {took}  {s.detail}"[:200])
        print("-" * 72)
        print(f"total {total:.1f}s")
        if self.keep and self.ok("start the control plane"):
            print("\nleft running (--keep):")
            print(f"  export KUBECONFIG={self.kubeconfig}")
            if "hub_url" in self.facts:
                print(f"  hub:   {self.facts['hub_url']}  (user {USER}; password: kubectl get "
                      f"secret -n {NAMESPACE} {RELEASE}-hub -o "
                      "jsonpath='{.data.admin-password}' | base64 -d)")
            print(f"  stop:  daskhub-lite down --data-dir {self.data_dir}")
        failed = [s.name for s in self.steps if s.status == "failed"]
        skipped = [s.name for s in self.steps if s.status == "skipped"]
        if failed:
            print(f"\nFAILED: {', '.join(failed)}")
        if skipped:
            print(f"SKIPPED (a step they need failed): {', '.join(skipped)}")
        if not failed and not skipped:
            print("\nall steps passed")


def _core(kubeconfig: str) -> Any:
    from kubernetes import client, config

    return client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))


def _server_url(kubeconfig: str) -> str:
    import yaml

    doc = yaml.safe_load(Path(kubeconfig).read_text())
    return str(doc["clusters"][0]["cluster"]["server"])


def _ingress_url(kubeconfig: str) -> str:
    from kubernetes import client, config

    api = client.NetworkingV1Api(config.new_client_from_config(config_file=kubeconfig))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for ingress in api.list_namespaced_ingress(NAMESPACE).items:
            status = ingress.status.load_balancer if ingress.status else None
            lb = (status.ingress if status else None) or []
            if lb:
                port = lb[0].ports[0].port if lb[0].ports else 80
                host = lb[0].ip or lb[0].hostname or "127.0.0.1"
                return f"http://{host}/" if port == 80 else f"http://{host}:{port}/"
        time.sleep(0.5)
    raise RuntimeError(f"no Ingress in namespace {NAMESPACE} got an address")


def _processes_of(data_dir: Path) -> list[int]:
    """Processes whose environment names the data dir (the daemon, pods' processes)."""
    marker = str(data_dir).encode()
    found: list[int] = []
    if not Path("/proc").is_dir():  # not Linux: `down` itself is the check
        return found
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _indent(text: str) -> str:
    return "\n".join("   | " + line for line in text.rstrip().splitlines())


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep", action="store_true",
                        help="leave the control plane and the hub running")
    parser.add_argument("--data-dir", help="control plane data dir (default: a temporary one)")
    parser.add_argument("--ingress-port", type=int, default=8080,
                        help="host port for the hub (default 8080, else any free port)")


def add_command(sub: Any) -> None:
    """`daskhub-lite demo` (for the CLI's subparsers)."""
    parser = sub.add_parser("demo", help="the non-interactive end-to-end demo")
    _arguments(parser)
    parser.set_defaults(func=run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="daskhub-lite demo", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    _arguments(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    scratch = Path(tempfile.mkdtemp(prefix="daskhub-lite-demo-")).resolve()
    data_dir = Path(args.data_dir).resolve() if args.data_dir else scratch / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    (scratch / "tmp").mkdir()
    port = args.ingress_port if _port_free(args.ingress_port) else _free_port()
    demo = Demo(data_dir=data_dir, keep=args.keep, ingress_port=port, tmp_dir=scratch / "tmp")
    started = time.perf_counter()
    try:
        demo.step("start the control plane", demo.up)
        demo.step("install daskhub", demo.install_hub, needs=("start the control plane",))
        demo.step("log in through the hub", demo.login, needs=("install daskhub",))
        demo.step("spawn a user server", demo.spawn, needs=("log in through the hub",))
        demo.step("Dask computation in the server", demo.dask_in_server,
                  needs=("spawn a user server",))
        demo.step("training Job from the server", demo.job_in_server,
                  needs=("spawn a user server",))
        if "hub_url" in demo.facts:
            print(f"\nhub: {demo.facts['hub_url']}"
                  + (f"\nuser server: {demo.facts['server_url']}"
                     if "server_url" in demo.facts else ""))
        if not args.keep:
            demo.step("stop the user server", demo.stop_server, needs=("spawn a user server",))
    finally:
        if not args.keep and demo.ok("start the control plane"):
            demo.step("tear down", demo.down)
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    demo.summary(time.perf_counter() - started)
    return 1 if any(s.status != "ok" for s in demo.steps) else 0


if __name__ == "__main__":
    sys.exit(main())
