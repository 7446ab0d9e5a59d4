"""`Launcher()`: an ipywidgets form that launches, shows and shuts down Dask clusters.

A profile dropdown, workers, cores/memory/GPUs per worker and a Launch button. The request is
checked first (`launcher_form.problems`) and refused with a message before anything is
created. While pods come up the status line shows progress; then the cluster's own
status/scaling widget, its dashboard link and a Shutdown button. Below, the clusters already
running in the namespace, each with Connect and Shutdown.

Launching runs in a background thread so the notebook stays responsive; `wait()` joins it
(tests and scripts).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import ipywidgets as w

from daskhub_lite.clusters import launcher_form, profiles

log = logging.getLogger(__name__)
REFUSED_PREFIX = "Workers refused: "


class Launcher:
    def __init__(self, *, namespace: str | None = None, kubeconfig: str | None = None,
                 idle_timeout: int = 600, timeout: float = 300) -> None:
        self.namespace = namespace
        self.kubeconfig = kubeconfig
        self.idle_timeout = idle_timeout
        self.timeout = timeout
        self.cluster: Any = None
        self._thread: threading.Thread | None = None
        self._target: Any = None
        self._max_gpus: int | None = None
        self._watch_stop = threading.Event()
        self._refusal_shown = False

        names = sorted(profiles.available())
        first = launcher_form.defaults_for(profiles.DEFAULT_PROFILE)
        self.profile = w.Dropdown(options=names, value=first.profile, description="Profile")
        self.workers = w.IntText(value=first.workers, description="Workers")
        self.cores = w.FloatText(value=first.cores, description="Cores")
        self.memory = w.Text(value=first.memory, description="Memory")
        self.gpus = w.IntText(value=first.gpus, description="GPUs")
        self.launch_button = w.Button(description="Launch", button_style="primary")
        self.shutdown_button = w.Button(description="Shutdown", button_style="danger",
                                        disabled=True)
        self.refresh_button = w.Button(description="Refresh list")
        self.message = w.HTML("")
        self.status = w.HTML("")
        self.dashboard = w.HTML("")
        self.cluster_box = w.VBox([])
        self.running = w.VBox([])
        self.profile.observe(self._on_profile, names="value")
        self.launch_button.on_click(lambda _: self.launch())
        self.shutdown_button.on_click(lambda _: self.shutdown())
        self.refresh_button.on_click(lambda _: self.refresh())
        form = w.VBox([self.profile, self.workers, self.cores, self.memory, self.gpus,
                       w.HBox([self.launch_button, self.shutdown_button])])
        self.widget = w.VBox([w.HTML("<b>Dask cluster</b>"), form, self.message, self.status,
                              self.dashboard, self.cluster_box,
                              w.HBox([w.HTML("<b>Running clusters</b>"),
                                      self.refresh_button]),
                              self.running])

    # -- display -------------------------------------------------------------------------

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # -- actions -------------------------------------------------------------------------

    def _on_profile(self, change: dict[str, Any]) -> None:
        try:
            d = launcher_form.defaults_for(change["new"])
        except profiles.ProfileError as exc:
            self.message.value = _error(str(exc))
            return
        self.cores.value, self.memory.value, self.gpus.value = d.cores, d.memory, d.gpus

    def request(self) -> launcher_form.Request:
        return launcher_form.Request(profile=self.profile.value, workers=self.workers.value,
                                     cores=self.cores.value, memory=self.memory.value,
                                     gpus=self.gpus.value)

    def _target_api(self) -> Any:
        if self._target is None:
            from daskhub_lite.clusters.target import resolve

            self._target = resolve(self.kubeconfig, self.namespace)
            self.namespace = self._target.namespace
        return self._target

    def _gpu_limit(self, req: launcher_form.Request) -> int | None:
        if req.gpus <= 0:
            return None
        if self._max_gpus is None:
            from daskhub_lite.clusters import kube
            from daskhub_lite.clusters.target import max_gpus_per_node

            try:
                self._max_gpus = max_gpus_per_node(self._target_api().api())
            except Exception as exc:
                if not kube.forbidden(exc):
                    raise
                return None  # a hub user may not list nodes: the cluster itself will say
        return self._max_gpus

    def launch(self) -> bool:
        """Check the form; when it passes, start the cluster in the background."""
        if self._thread is not None and self._thread.is_alive():
            return False
        req = self.request()
        found = launcher_form.problems(req, None)
        if not found and req.gpus > 0:
            try:
                found = launcher_form.problems(req, self._gpu_limit(req))
            except Exception as exc:
                found = [f"Could not reach the cluster: {exc}"]
        if found:
            self.message.value = _error(" ".join(found))
            return False
        self.message.value = ""
        self.launch_button.disabled = True
        self.status.value = "Launching..."
        self._thread = threading.Thread(target=self._launch, args=(req,), daemon=True,
                                        name="daskhub-lite-launch")
        self._thread.start()
        return True

    def _launch(self, req: launcher_form.Request) -> None:
        from daskhub_lite.clusters.cluster import DaskCluster

        try:
            target = self._target_api()
            base = profiles.get(req.profile)
            self.cluster = DaskCluster(
                n_workers=req.workers, profile=req.profile,
                cores=None if req.cores == base.cores else req.cores,
                memory=None if req.memory == base.memory else req.memory,
                gpus=None if req.gpus == base.gpus else req.gpus,
                namespace=target.namespace, kubeconfig=target.kubeconfig,
                idle_timeout=self.idle_timeout, timeout=self.timeout,
                progress=lambda m: setattr(self.status, "value", f"Launching: {m}"))
        except Exception as exc:
            self.status.value = ""
            self.message.value = _error(f"Launch failed: {exc}")
            self.launch_button.disabled = False
            return
        cluster = self.cluster
        link = cluster.dashboard_link
        self.dashboard.value = f'Dashboard: <a href="{link}" target="_blank">{link}</a>'
        shown = cluster._widget()
        self.cluster_box.children = [shown] if shown is not None else []
        self.shutdown_button.disabled = False
        self._watch_stop.clear()
        threading.Thread(target=self._watch, args=(cluster,), daemon=True).start()
        self._safe_refresh()

    def _watch(self, cluster: Any) -> None:
        """Keep the status line current: 'Cluster NAME: Workers: N', and say why workers
        asked for cannot be made (the namespace's quota is used up, say) for as long as
        that lasts."""
        ticks = 0
        while not self._watch_stop.is_set() and cluster is self.cluster:
            try:
                n = len(cluster.scheduler_info["workers"])
                self.status.value = f"Cluster {cluster.name}: Workers: {n}"
                if ticks % 4 == 0:
                    self._show_refusals(cluster.refusals())
            except Exception as exc:  # closing
                log.debug("launcher status: %s", exc)
            ticks += 1
            self._watch_stop.wait(0.5)

    def _show_refusals(self, refused: list[str]) -> None:
        if refused:
            self.message.value = _error(REFUSED_PREFIX + "; ".join(refused))
        elif self._refusal_shown:
            self.message.value = ""  # there is room now: the workers came
        self._refusal_shown = bool(refused)

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def shutdown(self) -> None:
        cluster, self.cluster = self.cluster, None
        self._watch_stop.set()
        if cluster is not None:
            self.status.value = f"Shutting down {cluster.name}..."
            cluster.close()
            self.status.value = f"Cluster {cluster.name} shut down."
        self.cluster_box.children = []
        self.dashboard.value = ""
        self.shutdown_button.disabled = True
        self.launch_button.disabled = False
        self._safe_refresh()

    # -- running clusters ----------------------------------------------------------------

    def _safe_refresh(self) -> None:
        try:
            self.refresh()
        except Exception as exc:
            self.message.value = _error(f"Could not list clusters: {exc}")

    def refresh(self) -> list[str]:
        """List the namespace's DaskClusters, each with Connect and Shutdown buttons."""
        import asyncio

        from daskhub_lite.clusters import kube

        target = self._target_api()

        async def fetch() -> list[str]:
            api = await target.async_api()
            return [c["metadata"]["name"]
                    for c in await kube.list_raw(api, kube.DASKCLUSTERS, target.namespace)]

        names = sorted(asyncio.run(fetch()))
        rows = []
        for name in names:
            connect = w.Button(description="Connect")
            stop = w.Button(description="Shutdown", button_style="danger")
            connect.on_click(lambda _, n=name: self.connect(n))
            stop.on_click(lambda _, n=name: self.shutdown_named(n))
            rows.append(w.HBox([w.Label(name), connect, stop]))
        self.running.children = rows or [w.Label("none")]
        return names

    def connect(self, name: str) -> None:
        from daskhub_lite.clusters.cluster import DaskCluster

        target = self._target_api()
        self.cluster = DaskCluster.from_name(name, namespace=target.namespace,
                                             kubeconfig=target.kubeconfig,
                                             shutdown_on_close=True)
        link = self.cluster.dashboard_link
        self.dashboard.value = f'Dashboard: <a href="{link}" target="_blank">{link}</a>'
        shown = self.cluster._widget()
        self.cluster_box.children = [shown] if shown is not None else []
        self.shutdown_button.disabled = False
        self.launch_button.disabled = True
        self._watch_stop.clear()
        threading.Thread(target=self._watch, args=(self.cluster,), daemon=True).start()

    def shutdown_named(self, name: str) -> None:
        if self.cluster is not None and self.cluster.name == name:
            self.shutdown()
            return
        import asyncio

        from daskhub_lite.clusters import kube

        target = self._target_api()

        async def delete() -> None:
            api = await target.async_api()
            await kube.delete(api, kube.DASKCLUSTERS, name, target.namespace)
            await kube.delete_labelled(api, target.namespace, {"dask.org/cluster-name": name})

        asyncio.run(delete())
        self._safe_refresh()


def _error(text: str) -> str:
    import html

    return f'<span style="color: #b00020">{html.escape(text)}</span>'
