"""Cluster networking inside one Python process: pod-IP binds and cluster DNS names.

Loaded by the pod start-up hook (`sitecustomize.py` beside this file) in processes the
runtime starts, and by `orchestrator.network.use_cluster_dns()` in a user's own process.
It imports nothing from `orchestrator` (and nothing slow at start-up): in a pod it is
imported before the user's program, so it must stay small.

What it changes, and why:
- `bind` on 0.0.0.0 / '' / '::' goes to the pod IP, so two pods can both listen on :8786;
- passive wildcard `getaddrinfo` (what asyncio/tornado ask before binding) answers the pod
  IP only (IPv4), so servers do not also bind the IPv6 wildcard;
- outgoing loopback connections leave from the pod IP (so a Service sees the pod as the
  client, as sessionAffinity ClientIP needs); a UDP socket "connected" outside (the
  get-my-IP trick Dask uses) reports the pod IP;
- cluster DNS names resolve through the Kubernetes API, with the search path a pod's
  resolv.conf would have (`<ns>.svc.cluster.local svc.cluster.local cluster.local`);
- connects to a Service IP on a privileged port (<1024) go to port + 40000, where the
  service proxy listens when it may not bind the port itself.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ssl

# The second octets of the service ranges of every plane a host may run
# (orchestrator.planeranges: 127.96/16 .. 127.106/16; a test checks it). Stdlib only: the
# hook runs in pods, without the orchestrator package.
SERVICE_OCTETS = range(96, 107)
PRIVILEGED_PORT_OFFSET = 40000
CLUSTER_DOMAIN = "cluster.local"
POSITIVE_TTL = 5.0   # CoreDNS's default TTL for the kubernetes plugin
NEGATIVE_TTL = 1.0
API_TIMEOUT = 2.0

_orig: dict[str, Any] = {}
_state: dict[str, Any] = {"pod_ip": None, "resolver": None}
_udp_outside: Any = None  # WeakSet of UDP sockets connected off-host


def is_ipv4(host: str) -> bool:
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)


def _is_ip(host: str) -> bool:
    return is_ipv4(host) or ":" in host


def is_service_ip(host: str) -> bool:
    """Whether `host` is a cluster IP of some plane's service range."""
    parts = host.split(".")
    return (is_ipv4(host) and parts[0] == "127" and int(parts[1]) in SERVICE_OCTETS)


def service_port(host: str, port: int) -> int:
    """Where the proxy really listens for a Service IP's port."""
    if is_service_ip(host) and 0 < port < 1024:
        return port + PRIVILEGED_PORT_OFFSET
    return port


class ClusterResolver:
    """Resolves cluster names through the Kubernetes API named by a kubeconfig."""

    def __init__(self, kubeconfig: str, namespace: str | None = None,
                 pod_hostname: str | None = None) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self._api: tuple[str, dict[str, str], ssl.SSLContext | None] | None = None
        self._cache: dict[str, tuple[float, list[str] | None]] = {}
        self._lock = threading.Lock()

    # -- API access ----------------------------------------------------------------------

    def _load(self) -> tuple[str, dict[str, str], ssl.SSLContext | None]:
        if self._api is not None:
            return self._api
        import json
        import ssl

        text = open(self.kubeconfig).read()
        try:
            config = json.loads(text)
        except ValueError:
            import yaml  # only when the kubeconfig is YAML, and only on a first cluster lookup

            config = yaml.safe_load(text)
        ctx_name = config.get("current-context")
        ctx: dict[str, Any] = next((c["context"] for c in config.get("contexts") or []
                                    if c.get("name") == ctx_name), {})
        cluster: dict[str, Any] = next((c["cluster"] for c in config.get("clusters") or []
                                        if c.get("name") == ctx.get("cluster")), {})
        user: dict[str, Any] = next((u["user"] for u in config.get("users") or []
                                     if u.get("name") == ctx.get("user")), {}) or {}
        if self.namespace is None:
            self.namespace = ctx.get("namespace") or "default"
        server = str(cluster.get("server", "")).rstrip("/")
        headers = {"Accept": "application/json"}
        token = user.get("token")
        if not token and user.get("tokenFile"):
            token = open(user["tokenFile"]).read().strip()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        sslctx = None
        if server.startswith("https"):
            import base64

            sslctx = ssl.create_default_context()
            if cluster.get("insecure-skip-tls-verify"):
                sslctx.check_hostname = False
                sslctx.verify_mode = ssl.CERT_NONE
            elif cluster.get("certificate-authority-data"):
                sslctx.load_verify_locations(
                    cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
            elif cluster.get("certificate-authority"):
                sslctx.load_verify_locations(cafile=cluster["certificate-authority"])
        self._api = (server, headers, sslctx)
        return self._api

    def _get(self, path: str) -> dict[str, Any] | None:
        """The object at `path`, None when absent; OSError when the API cannot answer."""
        import json
        import urllib.error
        import urllib.request

        server, headers, sslctx = self._load()
        req = urllib.request.Request(server + path, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=API_TIMEOUT, context=sslctx) as resp:
                result: dict[str, Any] = json.loads(resp.read())
                return result
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise OSError(f"cluster DNS: API answered {exc.code} for {path}") from exc

    # -- names ---------------------------------------------------------------------------

    def candidates(self, name: str) -> list[tuple[str, ...]]:
        """(service, namespace) or (hostname, service, namespace) to try, in search order."""
        suffix = "." + CLUSTER_DOMAIN
        if name.endswith(suffix):
            fqdns = [name]
        elif name.count(".") < 4:
            self._load()
            fqdns = [f"{name}.{self.namespace}.svc{suffix}", f"{name}.svc{suffix}",
                     f"{name}{suffix}"]
        else:
            return []
        out: list[tuple[str, ...]] = []
        for fqdn in fqdns:
            labels = fqdn[: -len(suffix)].split(".")
            if labels[-1] != "svc" or len(labels) not in (3, 4):
                continue
            out.append(tuple(labels[:-1]))
        return out

    def lookup(self, name: str) -> list[str] | None:
        """Addresses for a cluster name; None when it is not one (use the system resolver);
        [] when it is one without addresses (a headless Service with no ready pods)."""
        name = name.rstrip(".").lower()
        if not name or name == "localhost" or _is_ip(name):
            return None
        now = time.monotonic()
        hit = self._cache.get(name)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            result = self._resolve(name)
        except (OSError, ValueError, KeyError):
            result = None  # API unreachable: let the system resolver have a go
        ttl = POSITIVE_TTL if result else NEGATIVE_TTL
        with self._lock:
            self._cache[name] = (now + ttl, result)
        return result

    def _resolve(self, name: str) -> list[str] | None:
        for labels in self.candidates(name):
            if len(labels) == 2:
                found = self._service(labels[0], labels[1])
            else:
                found = self._hostname(labels[0], labels[1], labels[2])
            if found is not None:
                return found
        return None

    def _service(self, svc: str, ns: str) -> list[str] | None:
        obj = self._get(f"/api/v1/namespaces/{ns}/services/{svc}")
        if obj is None:
            return None
        spec = obj.get("spec") or {}
        if spec.get("type") == "ExternalName" and spec.get("externalName"):
            infos = _orig["getaddrinfo"](spec["externalName"], None, socket.AF_INET,
                                         socket.SOCK_STREAM)
            return [info[4][0] for info in infos]
        ip = spec.get("clusterIP")
        if ip and ip != "None":
            return [ip]
        return [a["ip"] for a in self._ready_addresses(svc, ns)]

    def _hostname(self, host: str, svc: str, ns: str) -> list[str] | None:
        ips = [a["ip"] for a in self._ready_addresses(svc, ns) if a.get("hostname") == host]
        return ips or None

    def _ready_addresses(self, svc: str, ns: str) -> list[dict[str, Any]]:
        ep = self._get(f"/api/v1/namespaces/{ns}/endpoints/{svc}") or {}
        out: list[dict[str, Any]] = []
        for subset in ep.get("subsets") or []:
            for addr in subset.get("addresses") or []:
                if addr.get("ip") and all(addr["ip"] != o["ip"] for o in out):
                    out.append(addr)
        return out


# -- socket patches ------------------------------------------------------------------------


def _gai_error(host: str) -> socket.gaierror:
    return socket.gaierror(socket.EAI_NONAME, f"Name or service not known: {host}")


def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0,
                flags: int = 0) -> list[Any]:
    gai = _orig["getaddrinfo"]
    pod_ip = _state["pod_ip"]
    if isinstance(host, bytes):
        host = host.decode("idna")
    if pod_ip and flags & socket.AI_PASSIVE and host in (None, "", "0.0.0.0", "::"):
        if family == socket.AF_INET6:
            return list(gai("::ffff:" + pod_ip, port, family, type, proto,
                            flags | socket.AI_NUMERICHOST))
        return list(gai(pod_ip, port, socket.AF_INET, type, proto,
                        flags | socket.AI_NUMERICHOST))
    resolver = _state["resolver"]
    if resolver is not None and isinstance(host, str):
        ips = resolver.lookup(host)
        if ips is not None:
            if not ips or family == socket.AF_INET6:
                raise _gai_error(host)
            out: list[Any] = []
            for ip in ips:
                out += gai(ip, port, socket.AF_INET, type, proto, flags | socket.AI_NUMERICHOST)
            return out
    return list(gai(host, port, family, type, proto, flags))


def gethostbyname(host: str) -> str:
    resolver: ClusterResolver | None = _state["resolver"]
    if resolver is not None:
        ips = resolver.lookup(host)
        if ips is not None:
            if not ips:
                raise _gai_error(host)
            return ips[0]
    result: str = _orig["gethostbyname"](host)
    return result


def gethostbyname_ex(host: str) -> tuple[str, list[str], list[str]]:
    resolver = _state["resolver"]
    if resolver is not None:
        ips = resolver.lookup(host)
        if ips is not None:
            if not ips:
                raise _gai_error(host)
            return host, [], list(ips)
    result: tuple[str, list[str], list[str]] = _orig["gethostbyname_ex"](host)
    return result


def _bind_address(sock: socket.socket, address: Any) -> Any:
    pod_ip = _state["pod_ip"]
    if pod_ip and isinstance(address, tuple) and address:
        host = address[0]
        if sock.family == socket.AF_INET and host in ("", "0.0.0.0"):
            return (pod_ip,) + address[1:]
        if sock.family == socket.AF_INET6 and host in ("", "::"):
            return ("::ffff:" + pod_ip,) + address[1:]
    return address


def _connect_address(sock: socket.socket, address: Any) -> Any:
    if sock.family != socket.AF_INET or not isinstance(address, tuple) or len(address) != 2:
        return address
    host, port = address
    if isinstance(host, str) and host and not is_ipv4(host):
        resolver = _state["resolver"]
        ips = resolver.lookup(host) if resolver is not None else None
        if ips:
            host = ips[0]
    if not isinstance(host, str) or not isinstance(port, int):
        return address
    pod_ip = _state["pod_ip"]
    if host.startswith("127."):
        port = service_port(host, port)
        if pod_ip and _orig["getsockname"](sock)[1] == 0:
            _orig["bind"](sock, (pod_ip, 0))
    elif pod_ip and sock.type == socket.SOCK_DGRAM and _udp_outside is not None:
        _udp_outside.add(sock)
    return (host, port)


def _bind(self: socket.socket, address: Any) -> None:
    _orig["bind"](self, _bind_address(self, address))


def _connect(self: socket.socket, address: Any) -> None:
    _orig["connect"](self, _connect_address(self, address))


def _connect_ex(self: socket.socket, address: Any) -> int:
    result: int = _orig["connect_ex"](self, _connect_address(self, address))
    return result


def _getsockname(self: socket.socket) -> Any:
    name = _orig["getsockname"](self)
    if _udp_outside is not None and self in _udp_outside and _state["pod_ip"]:
        return (_state["pod_ip"],) + tuple(name[1:])
    return name


def install(*, kubeconfig: str | None, namespace: str | None = None,
            pod_ip: str | None = None) -> ClusterResolver | None:
    """Patch this process's socket module; idempotent (a second call replaces settings)."""
    global _udp_outside
    if not _orig:
        _orig.update(getaddrinfo=socket.getaddrinfo, gethostbyname=socket.gethostbyname,
                     gethostbyname_ex=socket.gethostbyname_ex,
                     bind=socket.socket.bind, connect=socket.socket.connect,
                     connect_ex=socket.socket.connect_ex,
                     getsockname=socket.socket.getsockname)
        socket.getaddrinfo = getaddrinfo
        socket.gethostbyname = gethostbyname
        socket.gethostbyname_ex = gethostbyname_ex
        socket.socket.bind = _bind  # type: ignore[method-assign, assignment]
        socket.socket.connect = _connect  # type: ignore[method-assign, assignment]
        socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign, assignment]
    if pod_ip and _udp_outside is None:
        import weakref

        _udp_outside = weakref.WeakSet()
        socket.socket.getsockname = _getsockname  # type: ignore[method-assign, assignment]
    _state["pod_ip"] = pod_ip
    _state["resolver"] = ClusterResolver(kubeconfig, namespace) if kubeconfig else None
    return _state["resolver"]  # type: ignore[no-any-return]


def uninstall() -> None:
    """Undo `install` (tests, and users who want the host's view back)."""
    global _udp_outside
    if not _orig:
        return
    socket.getaddrinfo = _orig["getaddrinfo"]
    socket.gethostbyname = _orig["gethostbyname"]
    socket.gethostbyname_ex = _orig["gethostbyname_ex"]
    socket.socket.bind = _orig["bind"]  # type: ignore[method-assign]
    socket.socket.connect = _orig["connect"]  # type: ignore[method-assign]
    socket.socket.connect_ex = _orig["connect_ex"]  # type: ignore[method-assign]
    socket.socket.getsockname = _orig["getsockname"]  # type: ignore[method-assign]
    _orig.clear()
    _udp_outside = None
    _state.update(pod_ip=None, resolver=None)
