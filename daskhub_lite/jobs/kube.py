"""Which Kubernetes API the jobs talk to, through the light REST client (`kubehttp`).

The choice is the Dask launcher's (`daskhub_lite.clusters.target.resolve`): an explicit
kubeconfig; the current kubeconfig context if it answers; the control plane of
`daskhub-lite up`; else (Python, not the CLI) the embedded control plane started in this
process, shared with any DaskCluster it runs. An explicit kubeconfig *context* is honoured
here too.

The jobs call the REST API through `Cluster.http` (a `kubehttp.Transport`), so that a job
command starts without importing the `kubernetes` client (a second). `Cluster.core`,
`.batch` and `.custom` still give that client's typed APIs, made on first use, for code that
wants them.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

from daskhub_lite import kubehttp


class NoCluster(RuntimeError):
    """No reachable cluster and none may be started here; the message says what to do."""


@dataclass
class Cluster:
    http: kubehttp.Transport
    kubeconfig: str | None  # None (with no context): the in-cluster service account
    namespace: str
    embedded: bool  # the daskhub-lite control plane (pods run on this machine)
    context: str | None = None

    @functools.cached_property
    def api(self) -> Any:
        """The `kubernetes` client's ApiClient for the same cluster and context."""
        from kubernetes import client, config

        if self.kubeconfig is None and self.context is None:
            cfg = client.Configuration()
            config.load_incluster_config(client_configuration=cfg)
            return client.ApiClient(cfg)
        return config.new_client_from_config(config_file=self.kubeconfig, context=self.context)

    @property
    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api)

    @property
    def batch(self) -> Any:
        from kubernetes import client

        return client.BatchV1Api(self.api)

    @property
    def custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.api)


def connect(kubeconfig: str | None = None, context: str | None = None,
            namespace: str | None = None, start_embedded: bool = True) -> Cluster:
    from daskhub_lite.clusters.target import is_embedded, resolve

    try:
        if kubeconfig is not None or context is not None:
            if kubeconfig is not None and not os.path.exists(kubeconfig):
                raise FileNotFoundError(f"kubeconfig {kubeconfig} does not exist")
            config = kubehttp.kubeconfig.load(kubeconfig)
            if context and context not in config.contexts:
                raise NoCluster(f"kubeconfig has no context {context!r}")
            http = kubehttp.connect(kubeconfig, context or config.current_context)
            return Cluster(http, kubeconfig, namespace or http.namespace, is_embedded(http),
                           http.context)
        target = resolve(kubeconfig, namespace, start=start_embedded)
        return Cluster(target.http(), target.kubeconfig, target.namespace, target.embedded,
                       target.context)
    except (ConnectionError, FileNotFoundError, kubehttp.KubeconfigError, OSError) as exc:
        hint = ("" if kubeconfig else ": start one with `daskhub-lite up`, or set KUBECONFIG")
        raise NoCluster(f"{exc}{hint}") from exc
