"""Which hosts a DaskHub user server's jupyter-server-proxy may reach (pure function)."""

from __future__ import annotations

import pytest

from daskhub_lite.serverext import service_host_allowlist

ALLOWED = ["localhost", "127.0.0.1", "dask-1-scheduler.daskhub-alice",
           "dask-1-scheduler.daskhub-alice.svc",
           "DASK-1-SCHEDULER.daskhub-alice.svc.cluster.local"]
REFUSED = ["dask-1-scheduler.daskhub-bob", "hub.daskhub", "hub.daskhub.svc.cluster.local",
           "daskhub-alice", ".daskhub-alice", "a.b.daskhub-alice", "x.daskhub-alice.evil.org",
           "dask-1-scheduler", "10.96.0.1", "169.254.169.254", "example.com", ""]


@pytest.mark.parametrize("host", ALLOWED)
def test_own_services_and_localhost_are_allowed(host: str) -> None:
    assert service_host_allowlist("daskhub-alice")(None, host)


@pytest.mark.parametrize("host", REFUSED)
def test_other_namespaces_addresses_and_bare_names_are_refused(host: str) -> None:
    assert not service_host_allowlist("daskhub-alice")(None, host)


def test_without_a_namespace_only_localhost() -> None:
    allowed = service_host_allowlist(None)
    assert allowed(None, "localhost") and not allowed(None, "dask-1-scheduler.default")
