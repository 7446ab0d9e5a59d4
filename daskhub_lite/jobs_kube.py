"""Which Kubernetes API the jobs talk to, through the public `kubernetes` client.

In order: an explicit kubeconfig; the current kubeconfig context (`$KUBECONFIG`, else
~/.kube/config) if it answers; the embedded control plane started by `daskhub-lite up` (its
kubeconfig in the data dir) if it answers; else, where the caller allows it (Python, not the
CLI), an embedded `ControlPlane` started in this process and kept until it exits.

Written for the jobs; the Dask launcher's own cluster selection may replace it once it exists.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config

log = logging.getLogger(__name__)
PROBE_TIMEOUT = 2.0

_lock = threading.Lock()
_embedded: Any = None  # the in-process ControlPlane, when we had to start one


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


def _data_dir() -> Path:
    if os.environ.get("DASKHUB_LITE_HOME"):
        return Path(os.environ["DASKHUB_LITE_HOME"])
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "daskhub-lite"


def _connect(kubeconfig: str | None, context: str | None) -> tuple[client.ApiClient, str,
                                                                     str]:
    """(api client, default namespace, server URL); raises if the config cannot be read."""
    api = config.new_client_from_config(config_file=kubeconfig, context=context)
    contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)
    chosen = next((c for c in contexts if c["name"] == context), current) if context else current
    namespace = ((chosen or {}).get("context") or {}).get("namespace") or "default"
    return api, namespace, str(api.configuration.host)


def _answers(api: client.ApiClient) -> bool:
    try:
        client.VersionApi(api).get_code(_request_timeout=PROBE_TIMEOUT)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not this one"
        return False


def _is_embedded(kubeconfig: str | None, context: str | None) -> bool:
    try:
        _, current = config.list_kube_config_contexts(config_file=kubeconfig)
    except Exception:  # noqa: BLE001
        return False
    name = context or (current or {}).get("name")
    return name == "daskhub-lite"


def connect(kubeconfig: str | None = None, context: str | None = None,
            namespace: str | None = None, start_embedded: bool = True) -> Cluster:
    if kubeconfig is not None or context is not None:
        api, ns, _ = _connect(kubeconfig, context)
        return Cluster(api, kubeconfig, namespace or ns, _is_embedded(kubeconfig, context))
    default = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    candidates = [p for p in default.split(os.pathsep) if p and os.path.exists(p)]
    if candidates:
        try:
            api, ns, _ = _connect(candidates[0], None)
            if _answers(api):
                return Cluster(api, candidates[0], namespace or ns,
                               _is_embedded(candidates[0], None))
        except Exception as exc:  # noqa: BLE001 - unreadable config: try the embedded one
            log.debug("kubeconfig %s unusable: %s", candidates[0], exc)
    embedded = _data_dir() / "kubeconfig"
    if embedded.exists():
        api, ns, _ = _connect(str(embedded), None)
        if _answers(api):
            return Cluster(api, str(embedded), namespace or ns, True)
    if not start_embedded:
        raise NoCluster("no Kubernetes cluster answers (current kubeconfig context, or the "
                        "embedded one): start one with `daskhub-lite up`, or set KUBECONFIG")
    path = _start_embedded()
    api, ns, _ = _connect(path, None)
    return Cluster(api, path, namespace or ns, True)


def _start_embedded() -> str:
    global _embedded
    with _lock:
        if _embedded is None:
            from orchestrator import ControlPlane

            log.info("no cluster configured: starting the embedded control plane")
            _embedded = ControlPlane(data_dir=_data_dir()).start()
            atexit.register(_embedded.stop)
        return str(_embedded.kubeconfig)
