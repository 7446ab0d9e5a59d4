"""A pod's folder: `<data>/pods/<uid>/` with its service-account files, kubeconfig, volumes,
logs (`logs/<container>/<restartCount>.log`) and `state.json` (what a restarted control plane
needs to adopt the pod's live processes)."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from orchestrator.api import errors
from orchestrator.client import Client, Credentials
from orchestrator.runtime.pod_paths import single_name

TOKEN_SECONDS = 48 * 3600  # the API server's longest; refreshed at 80% of its life


def pod_dir(data_dir: Path, uid: str) -> Path:
    return data_dir / "pods" / single_name(uid, "pod uid")


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def write_credentials(folder: Path, credentials: Credentials, namespace: str) -> tuple[Path, Path]:
    """The standard service-account files and a kubeconfig using them; returns both paths."""
    sa = folder / "serviceaccount"
    sa.mkdir(parents=True, exist_ok=True)
    _write_private(sa / "token", (credentials.token or "").encode())
    _write_private(sa / "ca.crt", credentials.ca_data or b"")
    _write_private(sa / "namespace", namespace.encode())
    cluster: dict[str, Any] = {"server": credentials.server}
    if credentials.ca_data:
        # By path, not inline: clients (kr8s, the `kubernetes` client) copy inline CA data to
        # a temporary file per connection and never remove it.
        cluster["certificate-authority"] = str(sa / "ca.crt")
    config = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "daskhub-lite", "cluster": cluster}],
        "users": [{"name": "pod", "user": {"token": credentials.token or ""}}],
        "contexts": [{"name": "pod", "context": {"cluster": "daskhub-lite", "user": "pod",
                                                 "namespace": namespace}}],
        "current-context": "pod",
    }
    kubeconfig = folder / "kubeconfig"
    _write_private(kubeconfig, yaml.safe_dump(config, sort_keys=False).encode())
    return sa, kubeconfig


async def pod_credentials(client: Client, pod: dict[str, Any]) -> tuple[Credentials, float]:
    """Credentials for the pod's own service account (a TokenRequest bound to the pod) and
    when to refresh them. NotFound while the ServiceAccounts controller has not yet made the
    account; the caller retries."""
    md = pod["metadata"]
    namespace = md.get("namespace", "default")
    account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"audiences": [], "expirationSeconds": TOKEN_SECONDS,
                     "boundObjectRef": {"apiVersion": "v1", "kind": "Pod",
                                        "name": md["name"], "uid": md["uid"]}}}
    answer = await client.request(
        "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token", body=body)
    token = str(((answer or {}).get("status") or {}).get("token") or "")
    if not token:
        raise errors.APIError("TokenRequest answered without a token")
    seconds = int(((answer or {}).get("spec") or {}).get("expirationSeconds") or TOKEN_SECONDS)
    return replace(client.credentials, token=token), time.time() + 0.8 * seconds


def api_host_port(credentials: Credentials) -> tuple[str, str]:
    url = urlparse(credentials.server)
    return url.hostname or "127.0.0.1", str(url.port or (443 if url.scheme == "https" else 80))


def log_path(folder: Path, container: str, restart: int) -> Path:
    # The container's name is a folder name here: never a path out of the pod's folder.
    return folder / "logs" / single_name(container, "container name") / f"{restart}.log"


def prune_logs(folder: Path, container: str, keep_from: int) -> None:
    """Keep the current and previous instance's logs only (what `--previous` can ask for)."""
    directory = folder / "logs" / container
    for path in directory.glob("*.log*"):  # rotated ones too: `<n>.log.<timestamp>`
        number = path.name.split(".", 1)[0]
        if number.isdigit() and int(number) < keep_from:
            path.unlink(missing_ok=True)


def read_state(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / "state.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_state(folder: Path, state: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    _write_private(folder / "state.json", json.dumps(state).encode())


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
