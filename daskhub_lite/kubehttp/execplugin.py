"""Credentials from a kubeconfig `exec` plugin (client.authentication.k8s.io), as client-go
runs them: the plugin gets `KUBERNETES_EXEC_INFO`, our stderr and (when interactive) our
stdin, and prints an ExecCredential whose `status` holds a token or a client certificate.

Credentials are kept per process until they expire (plugins such as `aws eks get-token`
take a second a call); `refresh` forgets them after the server refused them."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass

from daskhub_lite.kubehttp.errors import KubeconfigError
from daskhub_lite.kubehttp.kubeconfig import ExecConfig


@dataclass(frozen=True)
class Credential:
    token: str | None
    cert_data: str | None  # PEM
    key_data: str | None  # PEM
    expires: dt.datetime | None


_cache: dict[str, Credential] = {}
_lock = threading.Lock()


def credential(config: ExecConfig, key: str) -> Credential:
    """The plugin's current credential (cached under `key` until it expires)."""
    with _lock:
        cached = _cache.get(key)
        now = dt.datetime.now(dt.timezone.utc)
        if cached is not None and (cached.expires is None or cached.expires > now):
            return cached
        fresh = _run(config)
        _cache[key] = fresh
        return fresh


def refresh(key: str) -> None:
    with _lock:
        _cache.pop(key, None)


def _interactive(config: ExecConfig) -> bool:
    tty = sys.stdin is not None and sys.stdin.isatty()
    if config.interactive_mode == "Always" and not tty:
        raise KubeconfigError(f"exec plugin {config.command} needs an interactive terminal "
                              "(interactiveMode: Always) and standard input is not one")
    return config.interactive_mode != "Never" and tty


def _run(config: ExecConfig) -> Credential:
    interactive = _interactive(config)
    spec: dict[str, object] = {"interactive": interactive}
    if config.cluster_info is not None:
        spec["cluster"] = dict(config.cluster_info)
    env = {**os.environ, **dict(config.env),
           "KUBERNETES_EXEC_INFO": json.dumps({"apiVersion": config.api_version,
                                               "kind": "ExecCredential", "spec": spec})}
    try:
        done = subprocess.run([config.command, *config.args], env=env, stdout=subprocess.PIPE,
                              stdin=None if interactive else subprocess.DEVNULL, check=False)
    except FileNotFoundError:
        hint = f": {config.install_hint.strip()}" if config.install_hint else ""
        raise KubeconfigError(f"exec plugin: executable {config.command} not found"
                              f"{hint}") from None
    if done.returncode != 0:
        raise KubeconfigError(f"exec plugin: executable {config.command} failed with exit "
                              f"code {done.returncode}")
    return parse(done.stdout, config)


def parse(output: bytes, config: ExecConfig) -> Credential:
    """The Credential in a plugin's standard output."""
    try:
        doc = json.loads(output)
    except ValueError:
        raise KubeconfigError(f"exec plugin {config.command}: its output is not JSON") from None
    if not isinstance(doc, dict) or doc.get("kind") != "ExecCredential":
        raise KubeconfigError(f"exec plugin {config.command}: its output is not an "
                              "ExecCredential")
    if doc.get("apiVersion") != config.api_version:
        raise KubeconfigError(f"exec plugin {config.command}: it answered apiVersion "
                              f"{doc.get('apiVersion')!r}, the kubeconfig asks for "
                              f"{config.api_version!r}")
    status = doc.get("status") or {}
    token = status.get("token") or None
    cert, key = status.get("clientCertificateData"), status.get("clientKeyData")
    if bool(cert) != bool(key):
        raise KubeconfigError(f"exec plugin {config.command}: it gave a client certificate "
                              "without its key, or a key without its certificate")
    if not token and not cert:
        raise KubeconfigError(f"exec plugin {config.command}: its ExecCredential has neither "
                              "a token nor a client certificate")
    expires = None
    if status.get("expirationTimestamp"):
        try:
            expires = dt.datetime.fromisoformat(
                str(status["expirationTimestamp"]).replace("Z", "+00:00"))
        except ValueError:
            raise KubeconfigError(f"exec plugin {config.command}: bad expirationTimestamp "
                                  f"{status['expirationTimestamp']!r}") from None
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=dt.timezone.utc)
    return Credential(token, cert or None, key or None, expires)
