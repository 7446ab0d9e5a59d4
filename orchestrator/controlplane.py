"""The embedded control plane: store + API server wired into one start/stop unit.

`ControlPlane` runs the server's event loop in a background thread so that synchronous
code (tests, notebooks, the CLI) can use it as a context manager:

    with ControlPlane(data_dir=tmp) as cp:
        subprocess.run(["kubectl", "--kubeconfig", cp.kubeconfig, "get", "pods"])
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import threading
from pathlib import Path
from typing import Any, Protocol

import yaml
from aiohttp import web

from orchestrator import controllers, network, runtime, scheduler
from orchestrator.api.csr_signing import Authority
from orchestrator.api.kinds import Registry
from orchestrator.datadir import DataDirLock, prepare, private_file
from orchestrator.eventloop import new_event_loop
from orchestrator.planeranges import PlaneRanges, RangeLease, recorded_ranges
from orchestrator.settings import ALL_COMPONENTS, CONTEXT_NAME, default_data_dir
from orchestrator.client import Client, Credentials
from orchestrator.server.admission import ORDERED_PLUGINS, Chain, PluginContext
from orchestrator.server.admission import config as admission
from orchestrator.server.admission.audit import AuditLog
from orchestrator.server.app import APIServer
from orchestrator.server.limits import ServerLimits, TLSSite
from orchestrator.server.auth import Auth, load_signing_key
from orchestrator.server.bootstrap import bootstrap
from orchestrator.server.objects import ObjectService
from orchestrator.server.extension_auth import publish as publish_extension_auth
from orchestrator.server.tls import ensure_certificates, ensure_front_proxy, server_context
from orchestrator.store import DEFAULT_HISTORY_BYTES, Store

log = logging.getLogger(__name__)



class ControlPlane:
    """A Kubernetes-API-compatible control plane in this process."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        nodes: Any = None,
        watch_history: int = 20_000,
        watch_history_bytes: int | None = None,
        limits: ServerLimits | None = None,
        components: tuple[str, ...] = ALL_COMPONENTS,
        ingress_port: int | None = 0,
        admission_config: str | os.PathLike[str] | dict[str, Any] | None = None,
        disable_admission_plugins: tuple[str, ...] = (),
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        self.host = host
        self.port = port
        self.nodes = nodes
        self.watch_history = watch_history
        # None: DASKHUB_LITE_WATCH_HISTORY_BYTES, else 64 MiB (see store/sqlite.py).
        self.watch_history_bytes = watch_history_bytes or _env_int(
            "DASKHUB_LITE_WATCH_HISTORY_BYTES", DEFAULT_HISTORY_BYTES)
        # None: kube-apiserver's numbers, each overridable from the environment.
        self.limits = limits or ServerLimits.from_env()
        self.components = components
        # 0: any free port (tests run many control planes); `daskhub-lite up` asks for 8080.
        self.ingress_port = ingress_port
        # kube-apiserver's AdmissionConfiguration (e.g. PodSecurity exemptions), checked now
        # so that a bad one fails here, in one line.
        self.admission = admission.load(admission_config)
        # kube-apiserver's --disable-admission-plugins: the rest keep their order.
        unknown = [n for n in disable_admission_plugins
                   if n not in {name for name, _ in ORDERED_PLUGINS}]
        if unknown:
            raise ValueError(f"disable-admission-plugins plugin {unknown[0]!r} is unknown; "
                             f"known: {', '.join(name for name, _ in ORDERED_PLUGINS)}")
        self.admission_plugins = [(name, make) for name, make in ORDERED_PLUGINS
                                  if name not in disable_admission_plugins]
        self.token = ""
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._store: Store | None = None
        self._ready = threading.Event()
        self._stopped = threading.Event()
        self._error: BaseException | None = None
        self._lock = DataDirLock(self.data_dir)
        self._range_lease = RangeLease(self.data_dir)
        # This plane's loopback pod and service ranges, known once start() has taken them.
        self.ranges: PlaneRanges | None = None
        # Whether other planes ran on this host when it started (the CLI says so).
        self.shared_host = False
        self._stop_event = asyncio.Event()  # bound to no loop until awaited (3.10+)

    # -- public --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def ca_file(self) -> str:
        return str(self.data_dir / "pki" / "ca.crt")

    @property
    def kubeconfig(self) -> str:
        return str(self.data_dir / "kubeconfig")

    def start(self, timeout: float = 30.0) -> "ControlPlane":
        # First of all: a second plane on this data dir refuses before touching anything
        # (DataDirInUse names the pid holding it).
        self._lock.acquire()
        try:
            if "network" in self.components:
                # The pod and service ranges, held in the host's registry for the plane's
                # life: another plane on this host never binds the same addresses.
                self.ranges = self._range_lease.acquire()
                self.shared_host = self._range_lease.shared_host
            else:  # nothing binds range addresses: no slot taken
                self.ranges = recorded_ranges(self.data_dir)
            self.token = self._load_token()
            self._thread = threading.Thread(target=self._run, name="controlplane",
                                            daemon=True)
            self._thread.start()
            if not self._ready.wait(timeout):
                raise TimeoutError("control plane did not become ready")
            if self._error is not None:
                raise RuntimeError(f"control plane failed to start: {self._error}"
                                   ) from self._error
            self._write_kubeconfig()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and not self._stopped.is_set():
            try:
                loop.call_soon_threadsafe(self._stop_event.set)
            except RuntimeError:
                # The loop closed in between: the plane failed at start-up (its thread sets
                # `_ready` before closing the loop) or is stopping already; its error, not
                # "Event loop is closed", is what the caller must see.
                pass
        if self._thread is not None:
            self._thread.join(timeout=30)
            if self._thread.is_alive():
                return  # still shutting down: it keeps the data dir until it is gone
        self._thread = None
        self._range_lease.release()
        self._lock.release()

    def wait(self) -> None:
        """Block until the control plane stops (for `up --foreground`)."""
        self._stopped.wait()

    def __enter__(self) -> "ControlPlane":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals -----------------------------------------------------------------------

    def _load_token(self) -> str:
        path = self.data_dir / "token"
        if path.exists():
            return path.read_text().strip()
        token = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(token)
        return token

    def _write_kubeconfig(self) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": CONTEXT_NAME, "cluster": {
                "server": self.url,
                # By path (as minikube writes it), not inline: kr8s and the `kubernetes`
                # client copy inline CA data to a temporary file per connection and leave it.
                "certificate-authority": str(Path(self.ca_file).resolve()),
            }}],
            "users": [{"name": CONTEXT_NAME, "user": {"token": self.token}}],
            "contexts": [{"name": CONTEXT_NAME, "context": {
                "cluster": CONTEXT_NAME, "user": CONTEXT_NAME, "namespace": "default"}}],
            "current-context": CONTEXT_NAME,
            "preferences": {},
        }
        path = Path(self.kubeconfig)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            yaml.safe_dump(config, fh, sort_keys=False)
        os.replace(tmp, path)

    def _run(self) -> None:
        loop = new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start() through _error
            self._error = exc
            self._ready.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._stopped.set()

    async def _serve(self) -> None:
        private_file(self.data_dir / "state.db")
        store = Store(self.data_dir / "state.db", history=self.watch_history,
                      history_bytes=self.watch_history_bytes)
        store.start_writer(asyncio.get_running_loop())
        self._store = store
        components: list[Component] = []
        tasks: list[asyncio.Task[None]] = []
        try:
            chain = Chain.build(PluginContext(store, self.admission), self.admission_plugins,
                                audit=AuditLog(self.data_dir / "audit.log"))
            ranges = self.ranges or recorded_ranges(self.data_dir)
            service = ObjectService(store, Registry(), admission=chain, ranges=ranges)
            bootstrap(service)
            ca, crt, key = ensure_certificates(self.data_dir / "pki",
                                               (ranges.kubernetes_ip,))
            # The front-proxy CA and client certificate aggregated API servers trust.
            front_ca, front_crt, front_key = ensure_front_proxy(self.data_dir / "pki")
            prepare(self.data_dir / "pki")  # 0700, as the data dir
            publish_extension_auth(service, ca, front_ca)
            auth = Auth(store, self.token, load_signing_key(self.data_dir / "pki"))
            server = APIServer(service, self.token, auth, self.limits,
                               proxy_client=(front_crt, front_key))
            runner = web.AppRunner(server.app, access_log=None, handler_cancellation=True,
                                   shutdown_timeout=1.0)
            await runner.setup()
            # Client certificates are checked against the cluster CA, the one the CSR
            # signer issues from (kubeadm's layout: --client-ca-file is ca.crt).
            site = TLSSite(runner, self.host, self.port, server_context(crt, key, ca),
                           self.limits)
            await site.start()
            sockets = getattr(site._server, "sockets", None) or []
            if sockets:
                self.port = sockets[0].getsockname()[1]
            self._runner = runner
            client = Client(Credentials(server=self.url, token=self.token,
                                        ca_data=(self.data_dir / "pki" / "ca.crt").read_bytes()),
                            user_agent="daskhub-lite-controlplane")
            components = self._components(client)
            tasks = [asyncio.create_task(c.run(), name=type(c).__name__) for c in components]
            for c in components:
                ready = getattr(c, "wait_ready", None)
                if ready is not None:
                    await ready()
            self._ready.set()
            await self._stop_event.wait()
            # Nodes stop their pods' processes first (graceful termination), then the rest.
            for c in components:
                stop = getattr(c, "shutdown", None)
                if stop is not None:
                    await stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await client.close()
            await runner.cleanup()
        finally:
            store.close()

    def _components(self, client: Client) -> list[Component]:
        """The cluster's moving parts, each an API client: nodes, scheduler, controllers."""
        out: list[Component] = []
        pod_network = None
        if "network" in self.components:
            net = network.build(client, ingress_port=self.ingress_port, ranges=self.ranges
                                or recorded_ranges(self.data_dir))
            pod_network = network.pod_network(net)
            out += net
        if "nodes" in self.components:
            out += runtime.build(client, self.nodes, self.data_dir, pod_network)
        if "scheduler" in self.components:
            out += scheduler.build(client)
        if "controllers" in self.components:
            pki = self.data_dir / "pki"
            # kube-controller-manager's --cluster-signing-{cert,key}-file: the cluster CA.
            signing_ca = Authority.from_pem((pki / "ca.crt").read_bytes(),
                                            (pki / "ca.key").read_bytes())
            out += controllers.build(client, signing_ca)
        return out


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name) or default)
    except ValueError:
        return default


class Component(Protocol):
    """What the control plane runs beside the API server. Optional methods:
    `async wait_ready()` (awaited before the control plane reports ready) and
    `async shutdown()` (awaited on stop, before tasks are cancelled)."""

    async def run(self) -> None: ...
