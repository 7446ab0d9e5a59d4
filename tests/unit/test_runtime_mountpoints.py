"""The order and nesting rules of a container's mounts (the mounting itself runs in the
runtime e2e tests, in real mount namespaces)."""

from __future__ import annotations

from orchestrator.runtime.mountpoints import in_mount_order, is_inside


def test_shallowest_target_first_else_as_given() -> None:
    mounts = [{"target": "/etc/jupyterhub/secret"}, {"target": "/scratch"},
              {"target": "/etc/jupyterhub/"}, {"target": "/var/run/secrets/tokens"},
              {"target": "/data"}]
    assert [m["target"] for m in in_mount_order(mounts)] == [
        "/scratch", "/data", "/etc/jupyterhub/", "/etc/jupyterhub/secret",
        "/var/run/secrets/tokens"]


def test_inside_means_the_folder_or_below_it() -> None:
    assert is_inside("/etc/jupyterhub/secret", "/etc/jupyterhub")
    assert is_inside("/etc/jupyterhub", "/etc/jupyterhub/")
    assert is_inside("/proc", "/proc")
    assert not is_inside("/etc/jupyterhub-extra", "/etc/jupyterhub")
    assert not is_inside("/procfs", "/proc")
    assert is_inside("/anything", "/")
