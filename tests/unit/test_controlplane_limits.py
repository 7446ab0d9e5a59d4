"""Pure parts of the control plane's hardening: the data dir lock, limit settings from the
environment, and which requests count against the in-flight caps."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from aiohttp.test_utils import make_mocked_request

from orchestrator.datadir import DataDirInUse, DataDirLock, holder
from orchestrator.server.limits import ServerLimits, long_running, mutating


def test_one_lock_per_data_dir(tmp_path: Path) -> None:
    first = DataDirLock(tmp_path / "d")
    first.acquire()
    assert holder(tmp_path / "d") == os.getpid()
    assert oct((tmp_path / "d").stat().st_mode & 0o777) == oct(0o700)
    with pytest.raises(DataDirInUse, match=rf"pid {os.getpid()} \(this process\)"):
        DataDirLock(tmp_path / "d").acquire()
    first.release()
    assert holder(tmp_path / "d") is None
    again = DataDirLock(tmp_path / "d")
    again.acquire()  # a released (or dead holder's) lock is free at once
    again.release()


def test_limits_default_to_kube_apiservers_and_read_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    limits = ServerLimits.from_env()
    assert (limits.max_requests_inflight, limits.max_mutating_requests_inflight) == (400, 200)
    assert limits.header_timeout == 32 and limits.idle_timeout == 90
    monkeypatch.setenv("DASKHUB_LITE_MAX_REQUESTS_INFLIGHT", "7")
    monkeypatch.setenv("DASKHUB_LITE_HEADER_TIMEOUT_SECONDS", "1.5")
    monkeypatch.setenv("DASKHUB_LITE_BODY_TIMEOUT_SECONDS", "soon")  # malformed: default
    limits = ServerLimits.from_env()
    assert limits.max_requests_inflight == 7 and limits.header_timeout == 1.5
    assert limits.body_timeout == 60


@pytest.mark.parametrize("method,path,expected", [
    ("GET", "/api/v1/namespaces/a/pods?watch=true", True),
    ("GET", "/api/v1/watch/namespaces/a/pods", True),
    ("GET", "/api/v1/namespaces/a/pods/p/log?follow=true", True),
    ("GET", "/api/v1/namespaces/a/pods/p/log", True),  # as kube: every log request
    ("POST", "/api/v1/namespaces/a/pods/p/exec?command=ls", True),
    ("GET", "/api/v1/namespaces/a/pods/p/portforward", True),
    ("GET", "/api/v1/namespaces/a/services/s/proxy/x", True),
    ("GET", "/api/v1/namespaces/a/pods", False),
    ("POST", "/api/v1/namespaces/a/configmaps", False),
    ("GET", "/version", False),
])
def test_long_running_requests(method: str, path: str, expected: bool) -> None:
    assert long_running(make_mocked_request(method, path)) is expected


def test_mutating_requests() -> None:
    assert mutating(make_mocked_request("POST", "/api/v1/namespaces/a/configmaps"))
    assert mutating(make_mocked_request("DELETE", "/api/v1/namespaces/a/configmaps/c"))
    assert not mutating(make_mocked_request("GET", "/api/v1/namespaces/a/configmaps"))
    assert not mutating(make_mocked_request("GET", "/apis"))
