"""Which Kubernetes cluster a DaskCluster talks to, and making sure the operator is there.

Order: an explicit kubeconfig; else the current context of `$KUBECONFIG`/`~/.kube/config` if
it answers; else a control plane `daskhub-lite up` left running in the data dir; else the
embedded control plane, started on demand in this process (it stops with the process).
Never a second control plane on a data dir a live one holds (a paused or overloaded daemon
that does not answer in time): two on one store corrupt it, so that is an error instead.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daskhub_lite import kubehttp
from daskhub_lite.errors import ConnectionFailed
from daskhub_lite.clusters.kr8s_warnings import ignore_unsupported_version

if TYPE_CHECKING:
    from daskhub_lite.kubehttp import Transport

log = logging.getLogger(__name__)

EMBEDDED_NODE_LABEL = "daskhub-lite.io/runtime"
CRD_NAME = "daskclusters.kubernetes.dask.org"
OPERATOR_RELEASE = "dask-operator"
OPERATOR_NAMESPACE = "dask-operator"
REACHABLE_TIMEOUT = 3.0

_embedded_lock = threading.Lock()
SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def in_pod() -> bool:
    """Inside a Kubernetes pod: the service variables *and* a mounted token (Binder sets
    the variables without giving its pods any Kubernetes access)."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and os.path.exists(
        SERVICE_ACCOUNT_TOKEN)
_embedded: Any = None  # the ControlPlane this process started, shared by its clusters


@dataclass
class Target:
    kubeconfig: str | None  # None: in-cluster service account
    context: str | None
    namespace: str
    embedded: bool  # our control plane (cluster DNS on the host works)
    started_here: bool

    def describe(self) -> str:
        if self.started_here:
            return "embedded control plane (started by this process)"
        if self.embedded:
            return f"embedded control plane ({self.kubeconfig})"
        return f"Kubernetes context {self.context or 'in-cluster'}"

    def api(self) -> Any:
        return _kr8s().api(kubeconfig=self.kubeconfig, context=self.context,
                           namespace=self.namespace)

    async def async_api(self) -> Any:
        return await _kr8s().asyncio.api(kubeconfig=self.kubeconfig, context=self.context,
                                         namespace=self.namespace)

    def http(self) -> Transport:
        """The light REST client (`kubehttp`) for the same cluster and context."""
        if self.kubeconfig is None:
            return kubehttp.in_cluster()
        return kubehttp.connect(self.kubeconfig, self.context)


def _kr8s() -> Any:
    """kr8s, imported on first use (it takes a quarter of a second), with its warning about
    server versions newer than it knows filtered (see kr8s_warnings)."""
    import kr8s
    import kr8s.asyncio

    ignore_unsupported_version()
    return kr8s


def _current_context(path: str) -> tuple[str | None, str]:
    try:
        config = kubehttp.kubeconfig.load(path)
    except kubehttp.KubeconfigError:
        return None, "default"
    name = config.current_context
    return name, str((config.contexts.get(name or "") or {}).get("namespace") or "default")


def _reachable(kubeconfig: str, context: str | None) -> bool:
    """Whether the API answers within a few seconds (a short kubectl-like version call)."""
    try:
        kubehttp.connect(kubeconfig, context).get("/version", timeout=REACHABLE_TIMEOUT)
        return True
    except Exception as exc:  # any failure means "not this one"
        log.debug("kubeconfig %s (context %s) not reachable: %s", kubeconfig, context, exc)
        return False


def is_embedded(api: Transport) -> bool:
    """Whether `api` is our control plane (its nodes carry our runtime label)."""
    try:
        nodes = api.get(kubehttp.resource_path("v1", "nodes"),
                        labelSelector=EMBEDDED_NODE_LABEL, limit=1, timeout=5)
        return bool(nodes.get("items"))
    except Exception as exc:  # noqa: BLE001 - cannot tell: treat as a remote cluster
        log.debug("could not list nodes: %s", exc)
        return False


def _is_embedded(kubeconfig: str, context: str | None) -> bool:
    try:
        return is_embedded(kubehttp.connect(kubeconfig, context))
    except Exception as exc:  # noqa: BLE001 - an unreadable kubeconfig is not ours either
        log.debug("could not read kubeconfig %s: %s", kubeconfig, exc)
        return False


def resolve(kubeconfig: str | None = None, namespace: str | None = None,
            start: bool = True) -> Target:
    """The cluster to use (see module docstring). `start=False` never starts one."""
    candidates: list[str] = []
    if kubeconfig:
        if not os.path.exists(kubeconfig):
            raise FileNotFoundError(f"kubeconfig {kubeconfig} does not exist")
        candidates = [kubeconfig]
    else:
        env = os.environ.get("KUBECONFIG")
        if env:
            candidates += [p for p in env.split(os.pathsep) if p]
        home = os.path.expanduser("~/.kube/config")
        if not env and os.path.exists(home):
            candidates.append(home)
        if not candidates and in_pod():  # a token is mounted: not just a variable (Binder)
            return Target(None, None, namespace or _pod_namespace(), False, False)
        candidates.append(str(_data_dir() / "kubeconfig"))
    for path in candidates:
        if not os.path.exists(path):
            continue
        context, ns = _current_context(path)
        if _reachable(path, context):
            return Target(path, context, namespace or ns, _is_embedded(path, context), False)
        if kubeconfig:
            raise ConnectionFailed(f"the cluster of kubeconfig {kubeconfig} (context {context})"
                                  " does not answer")
    if not start:
        raise ConnectionFailed("no Kubernetes cluster answers and none may be started here")
    held_by = _holder(_data_dir())
    if held_by is not None:
        raise _in_use(_data_dir(), held_by)
    cp = start_embedded()
    return Target(cp.kubeconfig, None, namespace or "default", True, True)


def _data_dir() -> Path:
    from orchestrator.settings import default_data_dir

    return default_data_dir()


def _holder(data_dir: Path) -> int | None:
    from orchestrator.datadir import holder

    return holder(data_dir)


def _in_use(data_dir: Path, pid: int) -> ConnectionFailed:
    who = f"pid {pid}" if pid else "another process"
    return ConnectionFailed(
        f"the control plane of {who} holds the data dir {data_dir} but did not answer within "
        f"{REACHABLE_TIMEOUT:g}s (stopped or overloaded?); resume it, or stop it with "
        f"'daskhub-lite down --data-dir {data_dir}': no second control plane is started on "
        "the same data dir")


def _pod_namespace() -> str:
    path = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    return path.read_text().strip() if path.exists() else "default"


def start_embedded() -> Any:
    """This process's embedded control plane (one per process), with the operator."""
    global _embedded
    with _embedded_lock:
        if _embedded is None:
            from orchestrator import ControlPlane
            from orchestrator.datadir import DataDirInUse

            log.info("no cluster configured: starting the embedded control plane")
            try:
                _embedded = ControlPlane(data_dir=_data_dir()).start()
            except DataDirInUse as exc:  # taken between the check and the start
                raise _in_use(_data_dir(), exc.pid or 0) from None
            ensure_operator(_embedded.kubeconfig, with_reaper=True)
        return _embedded


def operator_installed(api: Any) -> bool:
    kr8s = _kr8s()
    try:
        return bool(list(api.get("customresourcedefinitions", CRD_NAME)))
    except kr8s.NotFoundError:
        return False


def ensure_operator(kubeconfig: str | None, timeout: int = 180,
                    with_reaper: bool = False) -> None:
    """Install the dask-operator chart if its CRDs are missing (the chart command does it,
    through Helm's engine, so `helm ls` shows the release). `with_reaper` loads our idle
    reaper and phase repair (`phase_kopf`) into the operator's kopf process: only where the
    operator runs in this Python environment (the embedded cluster); the public operator
    image lacks daskhub_lite."""
    if operator_installed(_kr8s().api(kubeconfig=kubeconfig)):
        return
    from daskhub_lite.charts import cli as charts_cli
    from daskhub_lite.charts.errors import ChartError

    argv = [OPERATOR_RELEASE, "dask-operator", "-n", OPERATOR_NAMESPACE, "--create-namespace",
            "--wait", "--timeout", str(timeout)]
    if kubeconfig:
        argv += ["--kubeconfig", kubeconfig]
    if with_reaper:
        argv += ["--set", "extraArgs={-m,daskhub_lite.clusters.reaper_kopf,"
                          "-m,daskhub_lite.clusters.phase_kopf}"]
    log.info("installing the dask operator: install %s", " ".join(argv))
    try:
        charts_cli.install(argv)
    except ChartError as err:
        raise RuntimeError(f"could not install the dask operator: {err}") from err


def max_gpus_per_node(api: Any) -> int:
    """The most whole GPUs any node offers (0 when none)."""
    best = 0
    for node in api.get("nodes"):
        alloc = (node.raw.get("status") or {}).get("allocatable") or {}
        try:
            best = max(best, int(alloc.get("nvidia.com/gpu", 0)))
        except ValueError:
            continue
    return best


def ingress_class(api: Any) -> str | None:
    """The IngressClass a dashboard Ingress should use: the default one, else the only one;
    None where there is none (or we may not list them)."""
    try:
        classes = [c.raw for c in api.get("ingressclasses.networking.k8s.io")]
    except Exception as exc:  # no rights to list a cluster-scoped kind: no Ingress
        log.debug("cannot list IngressClasses: %s", exc)
        return None
    default = [c for c in classes if ((c["metadata"].get("annotations") or {}).get(
        "ingressclass.kubernetes.io/is-default-class") == "true")]
    chosen = default or (classes if len(classes) == 1 else [])
    return chosen[0]["metadata"]["name"] if chosen else None
