"""Pure parts of `dependency update|build`: Helm's (Masterminds) version constraints, and the
Chart.lock digest (the e2e tests check it against the digest Helm's engine writes)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from daskhub_lite.charts import lockfile, semver


@pytest.mark.parametrize("version, constraint, expected", [
    ("1.2.3", "1.2.3", True), ("1.2.4", "1.2.3", False), ("v1.2.3", "=1.2.3", True),
    ("1.2.0", "1.2", True),
    ("1.2.9", "~1.2.3", True), ("1.3.0", "~1.2.3", False), ("0.1.9", "~0.1", True),
    ("0.2.0", "~0.1", False), ("1.9.0", "~1", True), ("2.0.0", "~1", False),
    ("1.9.0", "^1.2", True), ("2.0.0", "^1.2", False), ("0.2.5", "^0.2.3", True),
    ("0.3.0", "^0.2.3", False), ("0.0.3", "^0.0.3", True), ("0.0.4", "^0.0.3", False),
    ("1.2.7", "1.2.x", True), ("1.3.0", "1.2.x", False), ("9.0.0", "*", True),
    ("1.5.0", ">=1.2, <3.0.0 || >=4.2.3", True), ("3.5.0", ">=1.2, <3.0.0 || >=4.2.3", False),
    ("4.5.0", ">=1.2 <3.0.0 || >=4.2.3", True),
    ("1.4.5", "1.2 - 1.4.5", True), ("1.4.6", "1.2 - 1.4.5", False),
    ("2.0.0", ">1", True), ("1.9.0", ">1", False), ("1.3.0", ">1.2", True),
    ("1.2.9", ">1.2", False), ("1.9.9", "<=1.x", True), ("2.0.0", "<=1.x", False),
    ("1.2.0", "!=1.2.x", False), ("1.3.0", "!=1.2.x", True),
    # Prereleases only where the constraint asks for them.
    ("1.0.0-rc.1", "*", False), ("1.0.0-rc.1", ">=1.0.0-0", True),
    ("1.0.0-rc.1", "^1.0.0", False),
    ("not-a-version", "*", False),
])
def test_constraints(version: str, constraint: str, expected: bool) -> None:
    assert semver.satisfies(version, constraint) is expected


@pytest.mark.parametrize("text", ["", "abc", ">=1.0 ||", "1.2.3 && 1"])
def test_improper_constraints(text: str) -> None:
    with pytest.raises(semver.SemverError, match="improper constraint"):
        semver.Constraint.parse(text)


def test_version_order() -> None:
    texts = ["1.0.0", "1.0.0-rc.10", "1.0.0-rc.2", "0.9.0", "1.0.0-alpha", "1.0.0-1"]
    ordered = [v.original for v in sorted(semver.Version.parse(t) for t in texts)]
    assert ordered == ["0.9.0", "1.0.0-1", "1.0.0-alpha", "1.0.0-rc.2", "1.0.0-rc.10", "1.0.0"]


def test_digest_is_go_json_of_requested_and_locked() -> None:
    requested = [{"name": "child", "version": ">=0.1.0", "repository": "file://../child",
                  "condition": "child.enabled", "alias": "", "tags": []}]
    locked = [{"name": "child", "repository": "file://../child", "version": "0.1.0"}]
    # Struct field order, empty optional fields left out, `>` escaped as Go does.
    body = ('[[{"name":"child","version":"\\u003e=0.1.0","repository":"file://../child",'
            '"condition":"child.enabled"}],'
            '[{"name":"child","version":"0.1.0","repository":"file://../child"}]]')
    assert lockfile.digest(requested, locked) == \
        "sha256:" + hashlib.sha256(body.encode()).hexdigest()


def test_lock_round_trip(tmp_path: Path) -> None:
    lock = lockfile.Lock([{"name": "a", "repository": "https://x.example", "version": "1.0.0"}],
                         "sha256:abc")
    lockfile.write(tmp_path, lock)
    text = (tmp_path / "Chart.lock").read_text()
    assert text.startswith("dependencies:\n- name: a\n  repository: https://x.example\n")
    assert '\ngenerated: "' in text
    again = lockfile.read(tmp_path)
    assert again is not None
    assert (again.dependencies, again.digest) == (lock.dependencies, lock.digest)
    assert lockfile.read(tmp_path / "none") is None
