"""Reading kubeconfig files as client-go does, without the `kubernetes` package.

Loading: an explicit file alone; else every file of `$KUBECONFIG` (missing ones skipped),
else `~/.kube/config`. Merging: the first file to name a cluster, user or context wins, and
the first `current-context` set wins. Relative file paths (CA, client certificate and key,
token file, an exec command with a slash) are relative to the file that names them.

What this reader leaves to the full client (it raises `Unsupported`): auth providers and
`proxy-url`.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from daskhub_lite.kubehttp.errors import KubeconfigError, Unsupported

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
EXEC_EXTENSION = "client.authentication.k8s.io/exec"
UNSUPPORTED_USER_KEYS = ("auth-provider",)


@dataclass(frozen=True)
class ExecConfig:
    """A user's `exec` credential plugin."""

    command: str
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    api_version: str
    interactive_mode: str
    install_hint: str
    cluster_info: Mapping[str, Any] | None  # set when provideClusterInfo is true


@dataclass(frozen=True)
class Endpoint:
    """One context resolved: where the API server is, how to trust it, who we are."""

    server: str
    namespace: str
    context: str | None  # None: the in-cluster service account
    ca_file: str | None = None
    ca_data: str | None = None  # PEM
    insecure: bool = False
    tls_server_name: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    cert_data: str | None = None  # PEM
    key_data: str | None = None  # PEM
    token: str | None = None
    token_file: str | None = None
    username: str | None = None
    password: str | None = None
    exec: ExecConfig | None = None
    # Impersonation (`as`, `as-uid`, `as-groups`, `as-user-extra`): Impersonate-* headers.
    impersonate: tuple[tuple[str, str], ...] = ()
    source: str = ""  # the file(s) it came from, for messages and credential caching


@dataclass
class Kubeconfig:
    """Merged kubeconfig files: named entries, each with the folder of the file that named
    it (relative paths resolve against it)."""

    current_context: str | None = None
    contexts: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    clusters: dict[str, tuple[Mapping[str, Any], Path]] = field(default_factory=dict)
    users: dict[str, tuple[Mapping[str, Any], Path]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def context_names(self) -> list[str]:
        return list(self.contexts)

    def endpoint(self, context: str | None = None) -> Endpoint:
        """The endpoint of `context` (default: the current context)."""
        name = context or self.current_context
        source = os.pathsep.join(self.files)
        if not self.files:
            raise KubeconfigError("no kubeconfig found ($KUBECONFIG, ~/.kube/config)")
        if not name:
            raise KubeconfigError(f"kubeconfig {source} has no current-context")
        if name not in self.contexts:
            raise KubeconfigError(f"kubeconfig has no context {name!r}")
        ctx = self.contexts[name]
        cluster_name = str(ctx.get("cluster") or "")
        if cluster_name not in self.clusters:
            raise KubeconfigError(f"context {name!r}: cluster {cluster_name!r} is not in the "
                                  "kubeconfig")
        cluster, cluster_dir = self.clusters[cluster_name]
        if not cluster.get("server"):
            raise KubeconfigError(f"cluster {cluster_name!r} of the kubeconfig has no server")
        if cluster.get("proxy-url"):
            raise Unsupported(f"cluster {cluster_name!r} uses proxy-url")
        user_name = str(ctx.get("user") or "")
        user: Mapping[str, Any] = {}
        user_dir = cluster_dir
        if user_name:
            if user_name not in self.users:
                raise KubeconfigError(f"context {name!r}: user {user_name!r} is not in the "
                                      "kubeconfig")
            user, user_dir = self.users[user_name]
        for key in UNSUPPORTED_USER_KEYS:
            if user.get(key):
                raise Unsupported(f"user {user_name!r} uses {key}")
        return Endpoint(
            server=str(cluster["server"]), namespace=str(ctx.get("namespace") or "default"),
            context=name, ca_file=_path(cluster.get("certificate-authority"), cluster_dir),
            ca_data=_pem(cluster.get("certificate-authority-data"), "certificate-authority"),
            insecure=bool(cluster.get("insecure-skip-tls-verify")),
            tls_server_name=cluster.get("tls-server-name") or None,
            cert_file=_path(user.get("client-certificate"), user_dir),
            key_file=_path(user.get("client-key"), user_dir),
            cert_data=_pem(user.get("client-certificate-data"), "client-certificate"),
            key_data=_pem(user.get("client-key-data"), "client-key"),
            token=user.get("token") or None, token_file=_path(user.get("tokenFile"), user_dir),
            username=user.get("username") or None, password=user.get("password") or None,
            exec=_exec(user.get("exec"), user_dir, cluster, user_name),
            impersonate=_impersonation(user), source=source)


def default_files() -> list[str]:
    """`$KUBECONFIG`'s files, else `~/.kube/config`."""
    env = os.environ.get("KUBECONFIG")
    if env:
        return [p for p in env.split(os.pathsep) if p]
    return [os.path.expanduser("~/.kube/config")]


def load(path: str | None = None) -> Kubeconfig:
    """`path` alone (it must exist), or the default files merged (missing ones skipped)."""
    if path is not None and not os.path.exists(path):
        raise KubeconfigError(f"kubeconfig {path} does not exist")
    merged = Kubeconfig()
    for file in [path] if path is not None else default_files():
        if os.path.exists(file):
            _merge(merged, file, _read(file))
    return merged


def in_cluster() -> Endpoint:
    """The pod's service account (`KUBERNETES_SERVICE_HOST/PORT` and the mounted token)."""
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get(
        "KUBERNETES_SERVICE_PORT")
    token = SERVICE_ACCOUNT / "token"
    if not host or not port or not token.exists():
        raise KubeconfigError("not in a pod: KUBERNETES_SERVICE_HOST/PORT or the service "
                              "account token is missing")
    if ":" in host:  # IPv6
        host = f"[{host}]"
    ns_file = SERVICE_ACCOUNT / "namespace"
    return Endpoint(server=f"https://{host}:{port}",
                    namespace=ns_file.read_text().strip() if ns_file.exists() else "default",
                    context=None, ca_file=str(SERVICE_ACCOUNT / "ca.crt"),
                    token_file=str(token), source="in-cluster")


def _read(file: str) -> Mapping[str, Any]:
    import yaml

    try:
        with open(file, encoding="utf-8") as fh:
            doc = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError) as exc:
        raise KubeconfigError(f"kubeconfig {file}: {str(exc).splitlines()[0]}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise KubeconfigError(f"kubeconfig {file}: not a mapping")
    return doc


def _merge(into: Kubeconfig, file: str, doc: Mapping[str, Any]) -> None:
    folder = Path(file).resolve().parent
    into.files.append(file)
    if not into.current_context and doc.get("current-context"):
        into.current_context = str(doc["current-context"])
    for key, target, inner in (("clusters", into.clusters, "cluster"),
                               ("users", into.users, "user")):
        for entry in doc.get(key) or []:
            name = str((entry or {}).get("name") or "")
            if name and name not in target:
                target[name] = (entry.get(inner) or {}, folder)
    for entry in doc.get("contexts") or []:
        name = str((entry or {}).get("name") or "")
        if name and name not in into.contexts:
            into.contexts[name] = entry.get("context") or {}


def _path(value: Any, folder: Path) -> str | None:
    if not value:
        return None
    path = os.path.expanduser(str(value))
    return path if os.path.isabs(path) else str(folder / path)


def _pem(value: Any, what: str) -> str | None:
    if not value:
        return None
    try:
        return base64.b64decode(str(value), validate=False).decode()
    except (ValueError, UnicodeDecodeError):
        raise KubeconfigError(f"kubeconfig: {what}-data is not base64 PEM") from None


def _impersonation(user: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    from urllib.parse import quote

    headers = []
    if user.get("as"):
        headers.append(("Impersonate-User", str(user["as"])))
    if user.get("as-uid"):
        headers.append(("Impersonate-Uid", str(user["as-uid"])))
    headers += [("Impersonate-Group", str(g)) for g in user.get("as-groups") or []]
    for key, values in (user.get("as-user-extra") or {}).items():
        headers += [(f"Impersonate-Extra-{quote(str(key), safe='')}", str(v))
                    for v in values or []]
    return tuple(headers)


def _exec(value: Any, folder: Path, cluster: Mapping[str, Any],
          user: str) -> ExecConfig | None:
    if not value:
        return None
    if not value.get("command") or not value.get("apiVersion"):
        raise KubeconfigError(f"user {user!r}: exec needs command and apiVersion")
    command = os.path.expanduser(str(value["command"]))
    if os.sep in command and not os.path.isabs(command):
        command = str(folder / command)  # a relative path, not a name looked up on PATH
    info = None
    if value.get("provideClusterInfo"):
        ca = cluster.get("certificate-authority-data")
        if not ca and cluster.get("certificate-authority"):
            ca_path = _path(cluster["certificate-authority"], folder)
            ca = base64.b64encode(Path(str(ca_path)).read_bytes()).decode()
        extension = next((e.get("extension") for e in cluster.get("extensions") or []
                          if e.get("name") == EXEC_EXTENSION), None)
        info = {k: v for k, v in {
            "server": cluster.get("server"), "tls-server-name": cluster.get("tls-server-name"),
            "insecure-skip-tls-verify": cluster.get("insecure-skip-tls-verify"),
            "certificate-authority-data": ca, "proxy-url": cluster.get("proxy-url"),
            "disable-compression": cluster.get("disable-compression"),
            "config": extension}.items() if v}
    return ExecConfig(
        command=command, args=tuple(str(a) for a in value.get("args") or []),
        env=tuple((str(e["name"]), str(e.get("value", ""))) for e in value.get("env") or []),
        api_version=str(value["apiVersion"]),
        interactive_mode=str(value.get("interactiveMode") or "IfAvailable"),
        install_hint=str(value.get("installHint") or ""), cluster_info=info)
