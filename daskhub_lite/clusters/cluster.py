"""`DaskCluster`: a `distributed.deploy.Cluster` over the dask-kubernetes operator's resources.

    from daskhub_lite import DaskCluster
    cluster = DaskCluster(n_workers=2)                 # profile cpu-small
    cluster.add_worker_group("gpu", n_workers=1, profile="gpu")
    client = cluster.get_client()
    cluster.scale(4); cluster.adapt(minimum=1, maximum=8, worker_group="gpu")
    cluster.close()                                    # removes every object

The operator creates the scheduler and worker Deployments; scaling down is ours (see
`scaling.py`): workers are retired through the scheduler before their Deployments go.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
import warnings
from typing import Any, Callable

from distributed.core import Status, rpc
from distributed.deploy.cluster import Cluster

from daskhub_lite.clusters import connect, kube, profiles, scaling, spec
from daskhub_lite.clusters.adaptive import GroupAdaptive
from daskhub_lite.clusters.reaper import heartbeat_interval
from daskhub_lite.clusters.target import (Target, ensure_operator, ingress_class,
                                          max_gpus_per_node, operator_installed, resolve)

log = logging.getLogger(__name__)
DEFAULT_GROUP = "default"
# How long scale() and add_worker_group() wait to see new workers' pods made or refused.
SETTLE_SECONDS = 15.0


class DaskCluster(Cluster):
    """A Dask cluster on Kubernetes (a real cluster, or the embedded control plane).

    `profile`: a name from `daskhub_lite.clusters.profiles` (or dask config
    `daskhub-lite.profiles`); `cores`/`memory`/`gpus` override it per worker.
    `idle_timeout`: seconds after this process stops heartbeating (a dead kernel) before the
    cluster is reaped; 0 keeps it forever.
    `ingress`: serve the dashboard through an Ingress (path `/dask/<namespace>/<name>`);
    None (the default) does so where the cluster has an IngressClass (the embedded control
    plane always has one), unless dask config `distributed.dashboard.link` is set: then the
    link is that template with the scheduler Service's name and dashboard port (DaskHub's
    user servers point it at their own jupyter-server-proxy).
    """

    def __init__(self, name: str | None = None, *, n_workers: int = 0,
                 profile: str | None = None, cores: float | None = None,
                 memory: str | None = None, gpus: int | None = None,
                 image: str | None = None, env: dict[str, str] | None = None,
                 namespace: str | None = None, kubeconfig: str | None = None,
                 idle_timeout: int = 600, shutdown_on_close: bool | None = None,
                 ingress: bool | None = None,
                 timeout: float = 300, asynchronous: bool = False, loop: Any = None,
                 quiet: bool = False, progress: Callable[[str], None] | None = None,
                 _create: bool = True) -> None:
        name = name or f"dask-{uuid.uuid4().hex[:8]}"
        spec.check_name(name)
        if n_workers < 0:
            raise ValueError(f"n_workers must be >= 0, got {n_workers}")
        self.profile = profiles.get(profile).with_overrides(cores=cores, memory=memory,
                                                           gpus=gpus) if _create else None
        self.image = spec.resolve_image(image or (self.profile.image if self.profile else None))
        self.env = dict(env or {})
        self.n_workers = n_workers
        self.namespace = namespace
        self.kubeconfig = kubeconfig
        self.idle_timeout = idle_timeout
        self.ingress = ingress
        self.dashboard_prefix = ""  # the scheduler's --dashboard-prefix, set with an Ingress
        self._ingress_url: str | None = None
        self.shutdown_on_close = _create if shutdown_on_close is None else shutdown_on_close
        self.timeout = timeout
        self.progress = progress
        self._create = _create
        self.target: Target | None = None
        self.route: connect.Route | None = None
        self._api: Any = None
        self._groups: dict[str, int] = {}  # group -> requested replicas
        self._deployments: dict[str, list[str]] = {}  # group -> worker Deployments, oldest first
        self._adaptives: dict[str, GroupAdaptive] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._scale_lock: asyncio.Lock | None = None
        super().__init__(asynchronous=asynchronous, loop=loop, quiet=quiet, name=name)
        if not self.asynchronous:
            self._loop_runner.start()
            self.sync(self._start)

    # -- life cycle ----------------------------------------------------------------------

    def __await__(self) -> Any:
        """`await DaskCluster(..., asynchronous=True)` starts it (as SpecCluster does; the
        base Cluster's own await does not), which is how dask-labextension makes clusters."""
        async def start() -> "DaskCluster":
            await self._start()
            return self
        return start().__await__()

    @classmethod
    def from_name(cls, name: str, *, namespace: str | None = None,
                  kubeconfig: str | None = None, shutdown_on_close: bool = False,
                  **kwargs: Any) -> "DaskCluster":
        """Reconnect to a running cluster (another process may have made it)."""
        return cls(name, namespace=namespace, kubeconfig=kubeconfig,
                   shutdown_on_close=shutdown_on_close, _create=False, **kwargs)

    def _say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)

    async def _start(self) -> None:
        if self.status != Status.created:
            return
        self.status = Status.starting
        self._scale_lock = asyncio.Lock()
        self._say("finding a cluster")
        self.target = await asyncio.to_thread(resolve, self.kubeconfig, self.namespace)
        self.namespace = self.target.namespace
        self._api = await self.target.async_api()
        if self._create:
            await self._create_resources()
        else:
            await self._adopt()
        self._say("waiting for the scheduler")
        service = await kube.wait_for_scheduler(self._api, self.name, self.namespace,
                                                self.timeout, self._say)
        self.route = await connect.route(self.target, service, self.name,
                                         self.dashboard_prefix)
        self._say(f"connecting to {self.route.address} ({self.route.how})")
        self.scheduler_comm = rpc(self.route.address)
        await self._wait_scheduler_answers()
        await self._refresh()
        await self._find_ingress_url(wait=5.0)
        if self._create and self.n_workers:
            self._warn_refused(await self._worker_refusals(DEFAULT_GROUP, self.n_workers))
        self._tasks.append(asyncio.ensure_future(self._refresh_loop()))
        if self.idle_timeout:
            self._tasks.append(asyncio.ensure_future(self._heartbeat_loop()))
        name = self.name
        await super()._start()
        self.name = name  # the scheduler's metadata may carry another manager's name
        self._say("running")

    async def _create_resources(self) -> None:
        assert self.profile is not None and self.namespace is not None
        await self._check_gpus(self.profile.gpus)
        if not await asyncio.to_thread(operator_installed, self.target.api()):  # type: ignore
            if not self.target.embedded:  # type: ignore[union-attr]
                # Someone else's cluster: installing cluster-wide CRDs is its admin's call.
                raise RuntimeError("the dask operator is not installed on this cluster: run "
                                   "`daskhub-lite install dask-operator dask-operator "
                                   "-n dask-operator --create-namespace --wait`")
            self._say("installing the dask operator")
            await asyncio.to_thread(ensure_operator, self.target.kubeconfig,  # type: ignore
                                    with_reaper=True)
        klass = None
        # A configured dashboard link (a hub server's proxy) needs no Ingress unless asked.
        wanted = self.ingress if self.ingress is not None else (
            spec.configured_dashboard_link(self.name, self.namespace) is None)
        if wanted:
            klass = await asyncio.to_thread(ingress_class, self.target.api())  # type: ignore
            if klass is None and self.ingress:
                raise ValueError("ingress=True but this cluster has no IngressClass")
        if klass:
            self.dashboard_prefix = spec.dashboard_prefix(self.name, self.namespace)
        body = spec.cluster_body(self.name, self.namespace, self.profile,
                                 n_workers=self.n_workers, image=self.image, env=self.env,
                                 idle_timeout=self.idle_timeout,
                                 heartbeat=str(time.time()) if self.idle_timeout else None,
                                 dashboard_prefix=self.dashboard_prefix or None)
        self._say(f"creating DaskCluster {self.namespace}/{self.name}")
        created = await kube.create(self._api, body)
        self._groups[DEFAULT_GROUP] = self.n_workers
        if klass:
            await self._create_ingress(klass, created.raw["metadata"].get("uid"))

    async def _create_ingress(self, klass: str, owner_uid: str | None) -> None:
        assert self.namespace is not None
        body = spec.dashboard_ingress_body(self.name, self.namespace, klass, owner_uid)
        try:
            await kube.create(self._api, body)
        except Exception as exc:  # e.g. no rights to create Ingresses: the link falls back
            log.warning("DaskCluster %s/%s: no dashboard Ingress (%s); the dashboard link "
                        "goes to the scheduler Service", self.namespace, self.name, exc)

    async def _find_ingress_url(self, wait: float = 0.0) -> None:
        """The dashboard URL from the Ingress's status, once the controller has set it."""
        if not self.dashboard_prefix or self._ingress_url:
            return
        assert self.namespace is not None
        deadline = time.monotonic() + wait
        while True:
            obj = await kube.get_one(self._api, kube.INGRESSES,
                                     spec.dashboard_ingress_name(self.name), self.namespace)
            self._ingress_url = spec.ingress_url(obj.raw) if obj is not None else None
            if self._ingress_url or obj is None or time.monotonic() > deadline:
                return
            await asyncio.sleep(0.2)

    async def _adopt(self) -> None:
        assert self.namespace is not None
        obj = await kube.get_one(self._api, kube.DASKCLUSTERS, self.name, self.namespace)
        if obj is None:
            raise ValueError(f"no DaskCluster {self.name!r} in namespace {self.namespace!r}")
        annotations = obj.raw["metadata"].get("annotations") or {}
        self.profile = profiles.get(annotations.get(spec.PROFILE_ANNOTATION) or None)
        if spec.IDLE_TIMEOUT_ANNOTATION not in annotations:
            self.idle_timeout = 0
        self.dashboard_prefix = annotations.get(spec.DASHBOARD_PREFIX_ANNOTATION, "")
        groups = await kube.list_raw(self._api, kube.WORKERGROUPS, self.namespace,
                                     {"dask.org/cluster-name": self.name})
        for g in groups:
            group = g["metadata"]["name"][len(self.name) + 1:]
            self._groups[group] = int(g["spec"]["worker"].get("replicas", 0))

    async def _check_gpus(self, gpus: int) -> None:
        if gpus <= 0:
            return
        try:
            best = await asyncio.to_thread(max_gpus_per_node, self.target.api())  # type: ignore
        except Exception as exc:
            if not kube.forbidden(exc):
                raise
            # A hub user may not list nodes: the scheduler says so if none has the GPUs.
            log.debug("DaskCluster %s: cannot check node GPUs (%s)", self.name, exc)
            return
        if gpus > best:
            raise ValueError(f"{gpus} GPU(s) per worker requested but the most any node has "
                             f"is {best}")

    async def _wait_scheduler_answers(self) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                await asyncio.wait_for(self.scheduler_comm.identity(), 5)
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise kube.ClusterStartError(
                        f"scheduler at {self.route.address} does not answer: {exc}") from exc
                await asyncio.sleep(0.2)

    async def _close(self) -> None:
        for adaptive in self._adaptives.values():
            adaptive.stop()
        self._adaptives.clear()
        self._adaptive = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.shutdown_on_close and self._api is not None:
            await self._delete_everything()
        await super()._close()
        if self.route is not None:
            await self.route.close()

    async def _delete_everything(self, timeout: float = 60) -> None:
        assert self.namespace is not None
        await kube.delete(self._api, kube.DASKCLUSTERS, self.name, self.namespace)
        # Owner references would take the rest away, but we do not wait for a garbage
        # collector: everything the operator made carries the cluster label.
        await kube.delete_labelled(self._api, self.namespace,
                                   {"dask.org/cluster-name": self.name})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not await kube.pods_left(self._api, self.name, self.namespace):
                return
            await asyncio.sleep(0.25)
        log.warning("DaskCluster %s/%s: pods still terminating after %ss", self.namespace,
                    self.name, timeout)

    # -- observing -----------------------------------------------------------------------

    async def _refresh(self) -> None:
        raw = await kube.list_raw(self._api, "deployments", self.namespace,
                                  {"dask.org/cluster-name": self.name,
                                   "dask.org/component": "worker"})
        raw.sort(key=lambda d: (d["metadata"].get("creationTimestamp", ""),
                                d["metadata"]["name"]))
        groups: dict[str, list[str]] = {g: [] for g in self._groups}
        prefix = f"{self.name}-"
        for d in raw:
            wg = d["metadata"].get("labels", {}).get("dask.org/workergroup-name", "")
            groups.setdefault(wg[len(prefix):] if wg.startswith(prefix) else wg, []).append(
                d["metadata"]["name"])
        self._deployments = groups

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                await self._refresh()
                await self._find_ingress_url()
            except Exception as exc:
                log.debug("refresh of %s failed: %s", self.name, exc)

    async def _heartbeat_loop(self) -> None:
        every = heartbeat_interval(self.idle_timeout)
        while True:
            try:
                await kube.patch(self._api, kube.DASKCLUSTERS, self.name, self.namespace,  # type: ignore[arg-type]
                                 {"metadata": {"annotations": {
                                     spec.HEARTBEAT_ANNOTATION: str(time.time())}}})
            except Exception as exc:
                log.warning("heartbeat for DaskCluster %s failed: %s", self.name, exc)
            await asyncio.sleep(every)

    def connected_names(self) -> dict[str, str]:
        """Worker name -> address, for workers the scheduler knows."""
        return {w.get("name"): addr for addr, w in self.scheduler_info["workers"].items()}

    def refusals(self) -> list[str]:
        """Why worker pods could not be created, in the API's words (`pods "..." is
        forbidden: exceeded quota: ...`); empty while every worker asked for could be."""
        return self.sync(self._worker_refusals)  # type: ignore[no-any-return]

    async def _worker_refusals(self, group: str | None = None, want: int | None = None,
                               wait: float = SETTLE_SECONDS) -> list[str]:
        """The refusals for `group`'s (or every group's) worker pods. With `want`, first
        wait (up to `wait` seconds) until that many pods exist or one is refused."""
        assert self.namespace is not None
        labels = {"dask.org/cluster-name": self.name, "dask.org/component": "worker"}
        if group is not None:
            labels["dask.org/workergroup-name"] = spec.worker_group_name(self.name, group)
        deadline = time.monotonic() + (wait if want else 0.0)
        while True:
            refused = await kube.refusals(self._api, self.namespace, labels)
            if refused or want is None or time.monotonic() >= deadline:
                return refused
            pods = await kube.list_raw(self._api, "pods", self.namespace, labels)
            if sum(1 for p in pods if not p["metadata"].get("deletionTimestamp")) >= want:
                return []
            await asyncio.sleep(0.25)

    def _warn_refused(self, refused: list[str]) -> None:
        if refused:
            log.warning("DaskCluster %s/%s: workers refused: %s", self.namespace, self.name,
                        "; ".join(refused))
            warnings.warn(kube.WorkersRefused(refused), stacklevel=3)

    @property
    def worker_groups(self) -> dict[str, int]:
        """Requested workers per group."""
        return dict(self._groups)

    @property
    def plan(self) -> set[str]:
        return {d for ds in self._deployments.values() for d in ds}

    @property
    def requested(self) -> set[str]:
        return self.plan

    @property
    def observed(self) -> set[str]:
        return set(self.connected_names())

    @property
    def dashboard_link(self) -> str:
        if self._ingress_url:
            return self._ingress_url
        if self.namespace is not None and not self.dashboard_prefix:
            configured = spec.configured_dashboard_link(self.name, self.namespace)
            if configured:  # e.g. a hub server's own proxy
                return configured
        if self.route is not None and self.route.dashboard:
            return self.route.dashboard
        return super().dashboard_link

    # -- worker groups and scaling -------------------------------------------------------

    def add_worker_group(self, name: str, n_workers: int = 0, *, profile: str | None = None,
                         cores: float | None = None, memory: str | None = None,
                         gpus: int | None = None, image: str | None = None,
                         env: dict[str, str] | None = None) -> Any:
        """A worker group with its own resources (e.g. `gpus=1` for GPU workers, which also
        get the Dask resource `GPU=1`)."""
        return self.sync(self._add_worker_group, name, n_workers, profile, cores, memory,
                         gpus, image, env)

    async def _add_worker_group(self, name: str, n_workers: int, profile: str | None,
                                cores: float | None, memory: str | None, gpus: int | None,
                                image: str | None, env: dict[str, str] | None) -> None:
        if name in self._groups:
            raise ValueError(f"worker group {name!r} already exists")
        if n_workers < 0:
            raise ValueError(f"n_workers must be >= 0, got {n_workers}")
        base = profiles.get(profile) if profile else self.profile
        assert base is not None
        prof = base.with_overrides(cores=cores, memory=memory, gpus=gpus)
        await self._check_gpus(prof.gpus)
        body = spec.worker_group_body(self.name, name, self.namespace, prof,  # type: ignore[arg-type]
                                      n_workers=n_workers,
                                      image=spec.resolve_image(image or prof.image or self.image),
                                      env={**self.env, **(env or {})})
        await kube.create(self._api, body)
        self._groups[name] = n_workers
        if n_workers:
            self._warn_refused(await self._worker_refusals(name, n_workers))

    def scale(self, n: int, worker_group: str = DEFAULT_GROUP) -> Any:  # type: ignore[override]
        """Scale one worker group (default: `default`) to `n` workers. Workers the API
        refuses (the namespace's ResourceQuota is used up, say) are reported with a
        `WorkersRefused` warning naming the quota; they come once there is room."""
        if n < 0:
            raise ValueError(f"cannot scale to {n} workers: must be >= 0")
        return self.sync(self._scale_and_report, n, worker_group)

    async def _scale_and_report(self, n: int, worker_group: str) -> None:
        before = self._groups.get(worker_group, 0)
        await self._scale(n, worker_group)
        if n > before:
            self._warn_refused(await self._worker_refusals(worker_group, n))

    async def _scale(self, n: int, worker_group: str = DEFAULT_GROUP) -> None:
        if worker_group not in self._groups:
            raise ValueError(f"no worker group {worker_group!r}; groups: "
                             f"{', '.join(sorted(self._groups))}")
        assert self._scale_lock is not None
        async with self._scale_lock:
            await self._refresh()
            current = self._deployments.get(worker_group, [])
            if n < len(current):
                await self._shrink(worker_group, current, n)
            await self._set_replicas(worker_group, n)
            await self._refresh()

    async def _shrink(self, group: str, deployments: list[str], n: int,
                      chosen: list[str] | None = None) -> None:
        connected = self.connected_names()
        if chosen is None:
            chosen = self._least_loaded([d for d in deployments if d in connected])
        plan = scaling.plan_scale_down(deployments, set(connected), n, chosen)
        if plan.retire:
            # Graceful: the scheduler moves their data elsewhere before they stop.
            await self.scheduler_comm.retire_workers(names=plan.retire, remove=True,
                                                     close_workers=True)
        for name in plan.delete_now + plan.retire:
            await kube.delete(self._api, "deployments", name, self.namespace)  # type: ignore[arg-type]

    def _least_loaded(self, names: list[str]) -> list[str]:
        metrics = {w.get("name"): (w.get("metrics") or {}).get("managed_bytes", 0)
                   for w in self.scheduler_info["workers"].values()}
        return sorted(names, key=lambda n: metrics.get(n, 0))

    async def _set_replicas(self, group: str, n: int) -> None:
        # The default group follows the DaskCluster's own field (the operator copies it).
        if group == DEFAULT_GROUP:
            await kube.patch(self._api, kube.DASKCLUSTERS, self.name, self.namespace,  # type: ignore[arg-type]
                             {"spec": {"worker": {"replicas": n}}})
        await kube.patch(self._api, kube.WORKERGROUPS, spec.worker_group_name(self.name, group),
                         self.namespace, {"spec": {"worker": {"replicas": n}}})  # type: ignore[arg-type]
        self._groups[group] = n

    async def _remove_workers(self, group: str, workers: list[str]) -> None:
        """Adaptive's scale-down: these already retired; delete them and lower replicas."""
        assert self._scale_lock is not None
        async with self._scale_lock:
            await self._refresh()
            current = self._deployments.get(group, [])
            gone = [w for w in workers if w in current]
            for name in gone:
                await kube.delete(self._api, "deployments", name, self.namespace)  # type: ignore[arg-type]
            await self._set_replicas(group, max(0, len(current) - len(gone)))
            await self._refresh()

    def adapt(self, minimum: int = 0, maximum: int | float = math.inf,  # type: ignore[override]
              worker_group: str = DEFAULT_GROUP, **kwargs: Any) -> GroupAdaptive:
        """Adapt one worker group between `minimum` and `maximum` workers."""
        scaling.validate_bounds(minimum, maximum)
        if worker_group not in self._groups:
            raise ValueError(f"no worker group {worker_group!r}")
        old = self._adaptives.pop(worker_group, None)
        if old is not None:
            old.stop()
        adaptive = GroupAdaptive(self, worker_group, minimum=minimum, maximum=maximum,
                                 **kwargs)
        self._adaptives[worker_group] = adaptive
        if worker_group == DEFAULT_GROUP:
            self._adaptive = adaptive
        return adaptive

    # -- display -------------------------------------------------------------------------

    def __repr__(self) -> str:
        where = self.target.describe() if self.target else "not connected"
        workers = len(self.scheduler_info["workers"])
        groups = ", ".join(f"{g}={n}" for g, n in sorted(self._groups.items()))
        return (f"DaskCluster({self.name!r}, {self.scheduler_address!r}, workers={workers}, "
                f"groups: {groups or 'none'}, dashboard {self.dashboard_link}, on {where})")

    def _repr_html_(self, cluster_status: Any = None) -> str:
        where = self.target.describe() if self.target else "not connected"
        extra = f"<p><strong>Kubernetes:</strong> {where}, namespace {self.namespace}</p>"
        return super()._repr_html_(cluster_status=extra + (cluster_status or ""))
