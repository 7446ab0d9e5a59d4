"""Which Kubernetes API the jobs talk to, through the public `kubernetes` client.

The choice is the Dask launcher's (`daskhub_lite.clusters.target.resolve`): an explicit
kubeconfig; the current kubeconfig context if it answers; the control plane of
`daskhub-lite up`; else (Python, not the CLI) the embedded control plane started in this
process, shared with any DaskCluster it runs. An explicit kubeconfig *context* is honoured
here too.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass

from kubernetes import client, config

log = logging.getLogger(__name__)
EMBEDDED_NODE_LABEL = "daskhub-lite.io/runtime"  # set on the nodes of our control plane


class NoCluster(RuntimeError):
    """No reachable cluster and none may be started here; the message says what to do."""


@dataclass
class Cluster:
    api: client.ApiClient
    kubeconfig: str | None
    namespace: str
    embedded: bool  # the daskhub-lite control plane (pods run on this machine)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def batch(self) -> client.BatchV1Api:
        return client.BatchV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)


def _api(kubeconfig: str | None, context: str | None) -> client.ApiClient:
    if kubeconfig is None and context is None:
        cfg = client.Configuration()
        config.load_incluster_config(client_configuration=cfg)
        return client.ApiClient(cfg)
    return config.new_client_from_config(config_file=kubeconfig, context=context)


def _is_embedded(api: client.ApiClient) -> bool:
    try:
        nodes = client.CoreV1Api(api).list_node(label_selector=EMBEDDED_NODE_LABEL, limit=1,
                                                _request_timeout=5)
        return bool(nodes.items)
    except Exception as exc:  # noqa: BLE001 - cannot tell: treat as a remote cluster
        log.debug("could not list nodes: %s", exc)
        return False


def connect(kubeconfig: str | None = None, context: str | None = None,
            namespace: str | None = None, start_embedded: bool = True) -> Cluster:
    from daskhub_lite.clusters.target import resolve

    try:
        if kubeconfig is not None or context is not None:
            if kubeconfig is not None and not os.path.exists(kubeconfig):
                raise FileNotFoundError(f"kubeconfig {kubeconfig} does not exist")
            contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)
            chosen = next((c for c in contexts if c["name"] == context), None) \
                if context else current
            if chosen is None:
                raise NoCluster(f"kubeconfig has no context {context!r}")
            ns = (chosen.get("context") or {}).get("namespace") or "default"
            api = _api(kubeconfig, context or chosen["name"])
            return Cluster(api, kubeconfig, namespace or ns, _is_embedded(api))
        with warnings.catch_warnings():  # kr8s warns about versions newer than it knows
            warnings.simplefilter("ignore", UserWarning)
            target = resolve(kubeconfig, namespace, start=start_embedded)
        return Cluster(_api(target.kubeconfig, target.context), target.kubeconfig,
                       target.namespace, target.embedded)
    except (ConnectionError, FileNotFoundError, config.ConfigException, OSError) as exc:
        hint = ("" if kubeconfig else ": start one with `daskhub-lite up`, or set KUBECONFIG")
        raise NoCluster(f"{exc}{hint}") from exc
