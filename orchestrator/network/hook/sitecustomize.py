"""Pod start-up hook: the runtime puts this folder first on a pod process's PYTHONPATH.

When `DASKHUB_LITE_POD_IP` is set it patches sockets for the pod network (see
daskhub_netpatch.py); then it runs the next `sitecustomize` on the path, if any, so a
virtualenv's or distribution's own hook still runs. Nothing here may be slow: it runs
before every Python program a pod starts.
"""

import os
import sys


def _install() -> None:
    pod_ip = os.environ.get("DASKHUB_LITE_POD_IP")
    if not pod_ip:
        return
    # A top-level module here: this folder is on the pod's PYTHONPATH, not a package.
    from daskhub_netpatch import install  # type: ignore[import-not-found]

    install(kubeconfig=os.environ.get("KUBECONFIG"),
            namespace=os.environ.get("DASKHUB_LITE_POD_NAMESPACE"), pod_ip=pod_ip)
    # aiohttp resolves through aiodns (c-ares) when it is installed, which never calls the
    # patched getaddrinfo; hiding it keeps aiohttp on its threaded resolver in pods.
    sys.modules.setdefault("aiodns", None)  # type: ignore[arg-type]
    # uvloop resolves names and binds sockets in libuv, past the patched socket module;
    # programs that prefer it when installed (kopf's CLI does) get asyncio's loop in pods.
    sys.modules.setdefault("uvloop", None)  # type: ignore[arg-type]


def _chain() -> None:
    """Import the sitecustomize this one shadows, under its own name."""
    here = os.path.dirname(os.path.abspath(__file__))
    own = sys.modules.get("sitecustomize")
    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    try:
        del sys.modules["sitecustomize"]
        # The next one on the path, if any.
        import sitecustomize  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        pass
    finally:
        sys.path[:] = saved
        if own is not None:
            sys.modules["sitecustomize"] = own


try:
    _install()
except Exception as exc:  # a broken hook must not stop the pod's program
    sys.stderr.write(f"daskhub-lite pod network hook failed: {exc}\n")
_chain()
