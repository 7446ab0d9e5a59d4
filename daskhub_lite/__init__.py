"""daskhub-lite: Dask on Kubernetes for data scientists.

The user layer talks to any Kubernetes API through public clients; where no cluster is
configured it starts the embedded one (`orchestrator.ControlPlane`).
"""

__version__ = "0.1.0"
