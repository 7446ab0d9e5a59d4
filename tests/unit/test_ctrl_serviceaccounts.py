"""The serviceaccounts controller's plan."""

from orchestrator.controllers.serviceaccounts import needs_default


def test_needs_default() -> None:
    ns = {"metadata": {"name": "team"}, "status": {"phase": "Active"}}
    assert needs_default(ns, [])
    assert not needs_default(ns, [{"metadata": {"name": "default"}}])
    assert not needs_default(None, [])
    assert not needs_default({"metadata": {"name": "t", "deletionTimestamp": "x"}}, [])
