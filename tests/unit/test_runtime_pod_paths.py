"""The runtime's own guard on the paths a pod's spec names (volume names, keys, item paths,
sub-paths, claim names), for objects the API never checked: a bad path is refused before
anything is created, written or mounted outside the pod's folder, also through a symbolic
link a container planted in its own volume."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from orchestrator.runtime import podfiles
from orchestrator.runtime.pod_paths import PathEscape, inside, relative_parts, single_name
from orchestrator.runtime.volumes import VolumeBuilder, VolumeError, plan_mounts


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../x", "x\0"])
def test_single_name_refuses_anything_but_one_element(name: str) -> None:
    with pytest.raises(PathEscape, match="is not a single file name"):
        single_name(name, "volume name")


def test_single_name_keeps_ordinary_names() -> None:
    assert single_name("..data-not", "key") == "..data-not"
    assert single_name("a.b-c_d", "key") == "a.b-c_d"


@pytest.mark.parametrize("path,parts", [("a/b", ["a", "b"]), ("./a//b/", ["a", "b"]),
                                        (".", []), ("a..b", ["a..b"])])
def test_relative_parts(path: str, parts: list[str]) -> None:
    assert relative_parts(path, "subPath") == parts


@pytest.mark.parametrize("path,message", [("/etc", "must be a relative path"),
                                          ("a/../../b", "must not contain '..'"),
                                          ("..", "must not contain '..'")])
def test_relative_parts_refuses_absolute_and_climbing_paths(path: str, message: str) -> None:
    with pytest.raises(PathEscape, match=message):
        relative_parts(path, "subPath")


def test_inside_follows_links_and_refuses_those_that_leave(tmp_path: Path) -> None:
    base, outside = tmp_path / "volume", tmp_path / "outside"
    (base / "real").mkdir(parents=True)
    outside.mkdir()
    (base / "out").symlink_to(outside)
    (base / "in").symlink_to(base / "real")
    assert inside(base, "in", "file") == base / "in" / "file"
    assert inside(base, "missing", "deeper") == base / "missing" / "deeper"
    with pytest.raises(PathEscape, match="through a symbolic link"):
        inside(base, "out", "file")
    with pytest.raises(PathEscape, match="leaves"):
        inside(base, "..", "outside")
    with pytest.raises(PathEscape, match="leaves"):
        inside(base, "/etc")


# --- the volume builder on specs the API would have refused -----------------------------
def build(pod_spec: dict[str, Any], tmp_path: Path,
          objects: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Path]:
    pod = {"metadata": {"name": "p", "namespace": "daskhub-alice", "uid": "u1"},
           "spec": pod_spec}
    data_dir = tmp_path / "data"
    (data_dir / "sa").mkdir(parents=True, exist_ok=True)
    (data_dir / "sa" / "token").write_text("pod token")

    async def lookup(kind: str, name: str) -> dict[str, Any] | None:
        return objects.get((kind, name))

    builder = VolumeBuilder(pod, podfiles.pod_dir(data_dir, "u1"), data_dir, lookup, {},
                            data_dir / "sa")
    return asyncio.run(builder.build())


EVIL = {("ConfigMap", "evil"): {"data": {"token": "owned"}}}


def test_a_volume_named_to_climb_out_never_reaches_the_admin_token(tmp_path: Path) -> None:
    token = tmp_path / "data" / "token"
    token.parent.mkdir(parents=True)
    token.write_text("admin")
    with pytest.raises(VolumeError) as caught:
        build({"volumes": [{"name": "../../../..", "configMap": {"name": "evil"}}]}, tmp_path,
              EVIL)
    assert str(caught.value) == ('MountVolume.SetUp failed for volume "../../../.." : volume '
                                 "name '../../../..' is not a single file name")
    assert token.read_text() == "admin"


def test_a_claim_name_cannot_reach_another_namespaces_claim(tmp_path: Path) -> None:
    with pytest.raises(VolumeError, match="claim name '../daskhub-bob/bobdata'"):
        build({"volumes": [{"name": "loot", "persistentVolumeClaim": {
            "claimName": "../daskhub-bob/bobdata"}}]}, tmp_path, {})
    assert not (tmp_path / "data" / "volumes" / "pvc" / "daskhub-bob").exists()


@pytest.mark.parametrize("path", ["../../../../token", "/tmp/evil", "a/../../b", "."])
def test_item_paths_that_leave_the_volume_are_refused(tmp_path: Path, path: str) -> None:
    volume = {"name": "conf", "configMap": {"name": "evil",
                                            "items": [{"key": "token", "path": path}]}}
    with pytest.raises(VolumeError, match='volume "conf" : item path'):
        build({"volumes": [volume]}, tmp_path, EVIL)
    assert not (tmp_path / "data" / "token").exists()
    assert not Path("/tmp/evil").exists()


def test_a_link_planted_in_the_volume_is_not_followed_out(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x").write_text("keep")
    folder = tmp_path / "data" / "pods" / "u1" / "volumes" / "configmap" / "conf"
    folder.mkdir(parents=True)
    (folder / "sub").symlink_to(outside)  # as a container would, between two starts
    (folder / "token.tmp").symlink_to(outside / "x")  # where the old writer staged its file
    volume = {"name": "conf", "configMap": {"name": "evil",
                                            "items": [{"key": "token", "path": "sub/x"}]}}
    with pytest.raises(VolumeError, match="through a symbolic link"):
        build({"volumes": [volume]}, tmp_path, EVIL)
    paths = build({"volumes": [{"name": "conf", "configMap": {"name": "evil"}}]}, tmp_path,
                  EVIL)
    assert (paths["conf"] / "token").read_text() == "owned"
    assert (outside / "x").read_text() == "keep"


def test_well_formed_volumes_are_built_in_the_pods_folder(tmp_path: Path) -> None:
    paths = build({"volumes": [
        {"name": "conf", "configMap": {"name": "evil",
                                       "items": [{"key": "token", "path": "deep/er/t"}]}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-0"}},
        {"name": "tok", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}},
    ]}, tmp_path, EVIL)
    assert (paths["conf"] / "deep" / "er" / "t").read_text() == "owned"
    assert paths["data"] == tmp_path / "data" / "volumes" / "pvc" / "daskhub-alice" / "data-0"
    assert (paths["tok"] / "t").read_text() == "pod token"
    assert not [p for p in paths["conf"].rglob(".*")]  # no temporary files left behind


# --- sub-paths and the pod's own files --------------------------------------------------
def container(sub_path: str) -> dict[str, Any]:
    return {"name": "main", "volumeMounts": [{"name": "scratch", "mountPath": "/s",
                                              "subPath": sub_path}]}


def test_sub_paths_stay_inside_their_volume(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "evil").symlink_to("/")
    volumes = {"scratch": scratch}
    plan = plan_mounts(container("nested/dir"), volumes, False, None)
    assert plan.mounts[0].source == str(scratch / "nested" / "dir")
    assert (scratch / "nested" / "dir").is_dir()
    for bad, message in [("../../../../tmp", "must not contain '..'"),
                         ("/etc", "must be a relative path"),
                         ("evil/etc", "through a symbolic link")]:
        with pytest.raises(VolumeError) as caught:
            plan_mounts(container(bad), volumes, False, None)
        assert str(caught.value).startswith(
            'failed to prepare subPath for volumeMount "scratch" of container "main": ')
        assert message in str(caught.value)
    assert not (tmp_path / "tmp").exists()


def test_pod_and_log_folders_are_single_names(tmp_path: Path) -> None:
    assert podfiles.pod_dir(tmp_path, "u-1") == tmp_path / "pods" / "u-1"
    with pytest.raises(PathEscape):
        podfiles.pod_dir(tmp_path, "../../etc")
    with pytest.raises(PathEscape):
        podfiles.log_path(tmp_path, "../../x", 0)
    assert podfiles.log_path(tmp_path, "main", 2) == tmp_path / "logs" / "main" / "2.log"
    assert os.path.basename(podfiles.log_path(tmp_path, "main", 0)) == "0.log"
