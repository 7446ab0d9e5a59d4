"""Code packing: .gitignore rules, caches left out, the size limit."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from daskhub_lite.jobs.code import CodeError, collect, ignored, pack, parse_gitignore


def names(root: Path) -> list[str]:
    return [name for _, name in collect(root)]


def write(root: Path, *paths: str) -> None:
    for p in paths:
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).write_text(p)


@pytest.mark.parametrize("pattern,path,is_dir,expected", [
    ("*.csv", "data/big.csv", False, True),
    ("/data", "data", True, True),
    ("/data", "src/data", True, None),
    ("data/", "data", False, None),
    ("data/", "src/data", True, True),
    ("**/logs", "a/b/logs", True, True),
    ("a/**/z.txt", "a/b/c/z.txt", False, True),
    ("model-?.bin", "model-1.bin", False, True),
    ("model-[0-9].bin", "model-x.bin", False, None),
])
def test_gitignore_patterns(pattern: str, path: str, is_dir: bool,
                            expected: bool | None) -> None:
    assert ignored(parse_gitignore(pattern), path, is_dir) is expected


def test_negation_and_comments() -> None:
    rules = parse_gitignore("# comment\n*.bin\n!keep.bin\n")
    assert ignored(rules, "w.bin", False) is True
    assert ignored(rules, "keep.bin", False) is False


def test_collect_honours_gitignore_and_skips_caches(tmp_path: Path) -> None:
    write(tmp_path, "train.py", "lib/util.py", "lib/__pycache__/util.cpython-311.pyc",
          "data/big.csv", "notes.pyc", ".git/HEAD", ".venv/bin/python", "sub/keep.txt",
          "sub/drop.txt")
    (tmp_path / ".gitignore").write_text("data/\n")
    (tmp_path / "sub" / ".gitignore").write_text("drop.txt\n")
    assert names(tmp_path) == [".gitignore", "lib/util.py", "sub/.gitignore", "sub/keep.txt",
                               "train.py"]


def test_pack_folder_round_trips_and_is_deterministic(tmp_path: Path) -> None:
    write(tmp_path, "train.py", "pkg/mod.py")
    os.chmod(tmp_path / "train.py", 0o755)
    data, packed = pack(tmp_path)
    assert packed == ["pkg/mod.py", "train.py"]
    assert pack(tmp_path)[0] == data
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.extractfile("pkg/mod.py").read() == b"pkg/mod.py"  # type: ignore[union-attr]
        assert tar.getmember("train.py").mode & 0o100


def test_pack_single_script(tmp_path: Path) -> None:
    write(tmp_path, "dir/run.py")
    assert pack(tmp_path / "dir" / "run.py")[1] == ["run.py"]


def test_code_over_the_limit_names_the_culprit_and_the_way_out(tmp_path: Path) -> None:
    write(tmp_path, "train.py")
    (tmp_path / "weights.bin").write_bytes(os.urandom(200_000))
    with pytest.raises(CodeError) as err:
        pack(tmp_path, limit=100_000)
    text = str(err.value)
    assert "weights.bin" in text and "image" in text and "volume" in text


def test_missing_code_folder(tmp_path: Path) -> None:
    with pytest.raises(CodeError, match="does not exist"):
        pack(tmp_path / "nope")


def test_links_inside_the_folder_are_packed_as_links_never_their_targets(tmp_path: Path) -> None:
    write(tmp_path, "train.py", "configs/dev.yaml", "lib/util.py")
    (tmp_path / "config.yaml").symlink_to("configs/dev.yaml")
    (tmp_path / "lib" / "up").symlink_to(tmp_path / "configs")  # absolute, but inside
    (tmp_path / "shortcut").symlink_to("lib")  # a folder link is not descended
    data, packed = pack(tmp_path)
    assert packed == ["config.yaml", "configs/dev.yaml", "lib/up", "lib/util.py", "shortcut",
                      "train.py"]
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        links = {m.name: m.linkname for m in tar.getmembers() if m.issym()}
        assert links == {"config.yaml": "configs/dev.yaml", "lib/up": "../configs",
                         "shortcut": "lib"}
        assert all(m.isfile() for m in tar.getmembers() if m.name not in links)
        # unpacked as the job's `tar -xzf` does, the links resolve inside the work folder
        out = tmp_path.parent / "unpacked"
        tar.extractall(out, filter="data")
    assert (out / "config.yaml").read_text() == "configs/dev.yaml"
    assert (out / "lib" / "up" / "dev.yaml").read_text() == "configs/dev.yaml"


@pytest.mark.parametrize("target", ["outside/id_rsa", "../outside/id_rsa"])
def test_a_link_out_of_the_folder_is_refused_and_its_target_never_read(tmp_path: Path,
                                                                       target: str) -> None:
    secret = tmp_path / "outside" / "id_rsa"
    secret.parent.mkdir()
    secret.write_text("PRIVATE KEY")
    code = tmp_path / "code"
    write(code, "train.py")
    (code / "key.pem").symlink_to(secret if target.startswith("outside") else target)
    with pytest.raises(CodeError) as err:
        pack(code)
    text = str(err.value)
    assert "key.pem" in text and "outside the code folder" in text and ".gitignore" in text
    assert "PRIVATE KEY" not in text


def test_a_link_chain_that_ends_outside_is_refused(tmp_path: Path) -> None:
    code = tmp_path / "code"
    write(code, "train.py")
    (code / "b").symlink_to("/etc/hostname")
    (code / "a").symlink_to("b")
    with pytest.raises(CodeError, match="^a in code"):
        pack(code)


def test_an_ignored_link_out_of_the_folder_is_left_out(tmp_path: Path) -> None:
    write(tmp_path, "train.py")
    (tmp_path / "data").symlink_to("/srv/datasets")
    (tmp_path / ".gitignore").write_text("data\n")
    assert pack(tmp_path)[1] == [".gitignore", "train.py"]


def test_a_script_named_on_its_own_is_packed_by_content(tmp_path: Path) -> None:
    write(tmp_path, "real/run.py")
    (tmp_path / "run.py").symlink_to(tmp_path / "real" / "run.py")
    data, packed = pack(tmp_path / "run.py")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getmember("run.py").isfile()
        assert tar.extractfile("run.py").read() == b"real/run.py"  # type: ignore[union-attr]
