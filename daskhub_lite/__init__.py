"""daskhub-lite: Dask on Kubernetes for data scientists.

The user layer talks to any Kubernetes API through public clients; where no cluster is
configured it starts the embedded one (`orchestrator.ControlPlane`).
"""

__version__ = "0.1.0"

__all__ = ["DaskCluster", "Launcher", "__version__"]


def __getattr__(name: str) -> object:
    # Lazy, so that the CLI starts without importing distributed or ipywidgets.
    if name == "DaskCluster":
        from daskhub_lite.clusters.cluster import DaskCluster

        return DaskCluster
    if name == "Launcher":
        from daskhub_lite.clusters.launcher import Launcher

        return Launcher
    raise AttributeError(f"module 'daskhub_lite' has no attribute {name!r}")
