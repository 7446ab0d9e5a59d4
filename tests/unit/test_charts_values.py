"""Values handling: -f/--set merging, unknown-key detection, repositories config."""

from __future__ import annotations

from pathlib import Path

import pytest

from daskhub_lite.charts import repos, values
from daskhub_lite.charts.errors import ChartError, one_line


def test_merge_files_then_sets(tmp_path: Path) -> None:
    f = tmp_path / "v.yaml"
    f.write_text("worker:\n  replicas: 2\n  nthreads: 4\n")
    merged = values.load([str(f)], ["worker.replicas=5"], ["image.tag=1.0"])
    assert merged == {"worker": {"replicas": 5, "nthreads": 4}, "image": {"tag": "1.0"}}


def test_values_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ChartError, match="does not exist"):
        values.load([str(tmp_path / "nope.yaml")], [], [])
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ChartError, match="mapping"):
        values.load([str(bad)], [], [])


def test_unread_keys_follow_subcharts_aliases_and_globals() -> None:
    operator = values.ValuesTree("dask-operator", {"image": {"tag": ""}, "replicas": 1,
                                                   "global": {"imageRegistry": ""}})
    gateway = values.ValuesTree("dask-gateway", {"gateway": {"auth": {"type": "simple"}}})
    hub = values.ValuesTree("jupyterhub", {"proxy": {"service": {"type": "ClusterIP"}}},
                            {"gateway": gateway})
    tree = values.ValuesTree("daskhub", {"rbac": {"create": True},
                                         "dask-operator": {"enabled": True}},
                             {"dask-operator": operator, "jupyterhub": hub})
    user = {
        "jupyterhub": {"proxy": {"service": {"type": "NodePort"}, "secretToken": "x"},
                       "gateway": {"gateway": {"auth": {"type": "jupyterhub"}}, "typo": 1}},
        "dask-operator": {"enabled": False, "image": {"tag": "1", "tga": "2"}},
        "global": {"imageRegistry": "r.example", "nosuch": 1},
        "rbac": {"create": False},
        "stray": 1,
    }
    found = [(u.path, u.chart) for u in values.unread_keys(tree, user)]
    assert found == [
        ("jupyterhub.proxy.secretToken", "jupyterhub"),
        ("jupyterhub.gateway.typo", "dask-gateway"),
        ("dask-operator.image.tga", "dask-operator"),
        ("global.nosuch", "daskhub"),
        ("stray", "daskhub"),
    ]


def test_unread_keys_without_subcharts_match_unknown_keys() -> None:
    defaults = {"worker": {"replicas": 1}, "proxy": {"port": 80}}
    user = {"worker": {"replica": 2}, "jupyterhub": {"proxy": {"service": {}}}}
    tree = values.ValuesTree("dask", defaults)
    assert [u.path for u in values.unread_keys(tree, user)] == \
        values.unknown_keys(defaults, user) == ["worker.replica", "jupyterhub"]


def test_unknown_keys() -> None:
    defaults = {"worker": {"replicas": 1, "resources": {}}, "nodeSelector": {}}
    user = {"worker": {"replicas": 2, "replica": 3, "resources": {"limits": {"cpu": 1}}},
            "nodeSelector": {"a": "b"}, "typo": 1}
    assert values.unknown_keys(defaults, user) == ["worker.replica", "typo"]


def test_one_line() -> None:
    assert one_line("a:\n- at '/x': bad\n") == "a:; - at '/x': bad"


def test_repo_config_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELM_REPOSITORY_CONFIG", str(tmp_path / "repositories.yaml"))
    monkeypatch.setenv("HELM_REPOSITORY_CACHE", str(tmp_path / "cache"))
    repo_dir = tmp_path / "repo"
    repo_dir.mkdir()
    (repo_dir / "index.yaml").write_text(
        "apiVersion: v1\nentries:\n  demo:\n  - name: demo\n    version: 1.0.0\n"
        "    description: a demo chart\n    urls: [demo-1.0.0.tgz]\n")
    repos.add("local", str(repo_dir))
    assert [r.name for r in repos.repos()] == ["local"]
    assert repos.search("demo")[0]["name"] == "local/demo"
    assert repos.search("nothing-like-this") == []
    with pytest.raises(ChartError, match="already exists"):
        repos.add("local", str(tmp_path))
    repos.remove(["local"])
    assert repos.repos() == []
    with pytest.raises(ChartError, match="no repo named"):
        repos.remove(["local"])
