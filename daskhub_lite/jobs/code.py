"""Packing the user's code (a folder or one script) into a tar.gz that fits a ConfigMap.

Left out: what the folder's `.gitignore` files ignore, version-control folders, caches and
virtual environments. The archive is deterministic (sorted, zeroed times) so that submitting
the same code twice packs the same bytes.

Symbolic links are packed as links, never as the files they point to, and only when they point
inside the folder (stored relative, so they resolve the same way where the job unpacks the
archive with `tar -xzf`). A link out of the folder is refused: following it would ship a file
the user never put there (a key, a credentials file) into a ConfigMap that others in the
namespace can read, and keeping it would point, in the job, at whatever that path holds on the
node.
"""

from __future__ import annotations

import fnmatch
import io
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

# A ConfigMap holds at most 1 MiB in all; leave room for the object's own metadata.
CODE_LIMIT = 1024 * 1024 - 16 * 1024
ARCHIVE_KEY = "code.tar.gz"
ALWAYS_SKIPPED = ("__pycache__/", ".git/", ".hg/", ".svn/", ".ipynb_checkpoints/",
                  ".mypy_cache/", ".pytest_cache/", ".ruff_cache/", ".tox/", ".venv/",
                  "venv/", "node_modules/", "*.pyc", "*.pyo", ".DS_Store")


class CodeError(ValueError):
    """The code cannot be shipped as given; the message says what to do instead."""


@dataclass(frozen=True)
class Rule:
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool


def _translate(glob: str, anchored: bool) -> re.Pattern[str]:
    """A gitignore glob → a regex over '/'-separated paths relative to the rule's folder."""
    out = ""
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif glob.startswith("/**", i) and i + 3 == len(glob):
            out += "/.*"
            i += 3
        elif glob[i] == "*":
            out += "[^/]*"
            i += 1
        elif glob[i] == "?":
            out += "[^/]"
            i += 1
        elif glob[i] == "[":
            end = glob.find("]", i + 1)
            if end < 0:
                out += re.escape(glob[i])
                i += 1
            else:
                out += fnmatch.translate(glob[i:end + 1])[4:-3]  # the bracket class alone
                i = end + 1
        else:
            out += re.escape(glob[i])
            i += 1
    prefix = "" if anchored else "(?:.*/)?"
    return re.compile(f"^{prefix}{out}$")


def parse_gitignore(text: str) -> list[Rule]:
    rules = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        if negate:
            line = line[1:]
        if line.startswith("\\"):
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        rules.append(Rule(_translate(line.lstrip("/"), anchored), negate, dir_only))
    return rules


def ignored(rules: list[Rule], relpath: str, is_dir: bool) -> bool | None:
    """The last matching rule's verdict for `relpath` (None when no rule matches)."""
    verdict = None
    for rule in rules:
        if rule.dir_only and not is_dir:
            continue
        if rule.regex.match(relpath):
            verdict = not rule.negate
    return verdict


DEFAULT_RULES = parse_gitignore("\n".join(ALWAYS_SKIPPED))


def collect(root: Path) -> list[tuple[Path, str]]:
    """(file, archive name) pairs under `root`, honouring nested .gitignore files."""
    found: list[tuple[Path, str]] = []

    def walk(folder: Path, rel: str, inherited: list[tuple[str, list[Rule]]]) -> None:
        scopes = list(inherited)
        gitignore = folder / ".gitignore"
        if gitignore.is_file():
            scopes.append((rel, parse_gitignore(gitignore.read_text(errors="replace"))))
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            path = rel + entry.name
            if entry.is_symlink():  # a link is never followed: packed as a link (see pack)
                if not _skipped(scopes, path, False):  # git matches links as files
                    found.append((Path(entry.path), path))
                continue
            is_dir = entry.is_dir(follow_symlinks=False)
            if _skipped(scopes, path, is_dir):
                continue
            if is_dir:
                walk(Path(entry.path), path + "/", scopes)
            elif entry.is_file():
                found.append((Path(entry.path), path))

    walk(root, "", [("", DEFAULT_RULES)])
    return found


def _skipped(scopes: list[tuple[str, list[Rule]]], path: str, is_dir: bool) -> bool:
    verdict = False
    for base, rules in scopes:  # deeper .gitignore files override shallower ones
        here = ignored(rules, path[len(base):], is_dir)
        if here is not None:
            verdict = here
    return verdict


def pack(code: str | os.PathLike[str], limit: int = CODE_LIMIT) -> tuple[bytes, list[str]]:
    """(tar.gz bytes, names packed). A folder is packed as the working directory's contents;
    a single file is packed alone under its own name."""
    path = Path(code).expanduser()
    if not path.exists():
        raise CodeError(f"code {str(code)!r} does not exist: pass a folder or a script")
    folder = os.path.realpath(path) if path.is_dir() else None
    if folder is not None:
        files = collect(path)
    else:
        files = [(path, path.name)]  # a script named on its own: its content, link or not
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        for file, name in files:
            info = tarfile.TarInfo(name)
            if folder is not None and file.is_symlink():
                info.type, info.mode, info.mtime = tarfile.SYMTYPE, 0o777, 0
                info.linkname = link_target(folder, file, name, code)
                tar.addfile(info)
                continue
            stat = file.stat()
            info.size = stat.st_size
            info.mode = stat.st_mode & 0o755 | 0o644
            info.mtime = 0
            with open(file, "rb") as fh:
                tar.addfile(info, fh)
    data = buffer.getvalue()
    if len(data) > limit:
        biggest = sorted(files, key=lambda f: f[0].lstat().st_size, reverse=True)[:3]
        names = ", ".join(f"{n} ({f.lstat().st_size / 1e6:.1f} MB)" for f, n in biggest)
        raise CodeError(
            f"code {str(code)!r} packs to {len(data) / 1e6:.1f} MB, over the "
            f"{limit / 1e6:.1f} MB a ConfigMap can carry (largest files: {names}). Leave data "
            "and models out of the code folder (list them in .gitignore), put them in an image "
            "(image=...) or a volume, or download them inside the job")
    return data, [name for _, name in files]


def link_target(folder: str, link: Path, name: str, code: str | os.PathLike[str]) -> str:
    """Where the link `name` points, relative to its own folder, when that is inside the code
    folder (`folder`, resolved); CodeError otherwise."""
    resolved = os.path.realpath(link)  # through chains of links, as the job would follow them
    if os.path.commonpath([folder, resolved]) != folder:
        raise CodeError(
            f"{name} in code {str(code)!r} is a symbolic link to {os.readlink(link)!r}, outside "
            "the code folder: links are shipped as links, never the files they point to. Copy "
            "the file into the folder if the job needs it, or list the link in .gitignore")
    return os.path.relpath(resolved, os.path.realpath(link.parent))
