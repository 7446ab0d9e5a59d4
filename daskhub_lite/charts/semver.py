"""Semantic versions and version constraints as Helm reads them in Chart.yaml dependencies
(Masterminds/semver v3 rules, so a range resolves here to the version Helm would pick).

- Versions: `1.2.3`, `v1.2`, `1.2.3-rc.1+build`; missing minor/patch are 0; build metadata
  is ignored in comparisons; a prerelease sorts before its release.
- Constraints: comparisons (`=`, `!=`, `>`, `<`, `>=`, `<=`, also `=>`/`=<`), tilde (`~1.2`:
  same minor), caret (`^1.2`: same major, or same minor/patch below 1.0), wildcards (`1.2.x`,
  `*`), hyphen ranges (`1.2 - 1.4.5`), AND by `,` or space, OR by `||`. Prereleases match
  only an OR group that itself names a prerelease.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

_NUM = r"0|[1-9]\d*"
_PRE_PART = r"(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
_VERSION_RE = re.compile(
    rf"^v?({_NUM})(?:\.({_NUM}))?(?:\.({_NUM}))?"
    rf"(?:-({_PRE_PART}(?:\.{_PRE_PART})*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")

# A version inside a constraint: any segment may be a wildcard.
_CV = (r"v?([0-9xX*]+)(\.[0-9xX*]+)?(\.[0-9xX*]+)?"
       r"(-([0-9A-Za-z\-]+(?:\.[0-9A-Za-z\-]+)*))?"
       r"(\+([0-9A-Za-z\-]+(?:\.[0-9A-Za-z\-]+)*))?")
_OPS_ORDERED = r"!=|>=|=>|<=|=<|~>|=|>|<|~|\^|"  # longest first, for the regex engine
_ONE_RE = re.compile(rf"^\s*({_OPS_ORDERED})\s*({_CV})\s*$")
_FIND_RE = re.compile(rf"({_OPS_ORDERED})\s*({_CV})")
_VALID_RE = re.compile(rf"^(\s*({_OPS_ORDERED})\s*({_CV})\s*)"
                       rf"((?:\s+|,\s*)({_OPS_ORDERED})\s*({_CV})\s*)*$")
_RANGE_RE = re.compile(rf"\s*({_CV})\s+-\s+({_CV})\s*")
_WILDCARDS = {"x", "X", "*"}


class SemverError(ValueError):
    """Not a version, or not a constraint."""


def _compare_pre_part(a: str, b: str) -> int:
    if a == b:
        return 0
    if not a:
        return -1
    if not b:
        return 1
    a_num, b_num = a.isdigit(), b.isdigit()
    if a_num and b_num:
        return (int(a) > int(b)) - (int(a) < int(b))
    if a_num:
        return -1  # numbers sort before words
    if b_num:
        return 1
    return 1 if a > b else -1


def _compare_prerelease(a: str, b: str) -> int:
    left, right = a.split("."), b.split(".")
    for i in range(max(len(left), len(right))):
        d = _compare_pre_part(left[i] if i < len(left) else "",
                              right[i] if i < len(right) else "")
        if d:
            return d
    return 0


@total_ordering
@dataclass(frozen=True, eq=False)
class Version:
    major: int
    minor: int
    patch: int
    pre: str = ""
    original: str = ""

    @classmethod
    def parse(cls, text: str) -> Version:
        m = _VERSION_RE.match(str(text))
        if m is None:
            raise SemverError(f"{text!r} is not a valid semantic version")
        return cls(int(m[1]), int(m[2] or 0), int(m[3] or 0), m[4] or "", str(text))

    def compare(self, other: Version) -> int:
        for a, b in ((self.major, other.major), (self.minor, other.minor),
                     (self.patch, other.patch)):
            if a != b:
                return 1 if a > b else -1
        if self.pre == other.pre:
            return 0
        if not self.pre:
            return 1
        if not other.pre:
            return -1
        return _compare_prerelease(self.pre, other.pre)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self.compare(other) == 0

    def __lt__(self, other: Version) -> bool:
        return self.compare(other) < 0

    def __hash__(self) -> int:
        return hash((self.major, self.minor, self.patch, self.pre))


@dataclass(frozen=True)
class _Bound:
    """One comparison. `dirty` marks a wildcard or missing segment (`1.x`, `1`):
    `minor_dirty` when the minor is open, `patch_dirty` when only the patch is."""

    op: str
    version: Version
    dirty: bool
    minor_dirty: bool
    patch_dirty: bool

    def allows(self, v: Version) -> bool:
        return bool(_CHECKS[self.op](v, self))


def _tilde(v: Version, c: _Bound) -> bool:
    if v < c.version:
        return False
    cv = c.version
    if (cv.major, cv.minor, cv.patch) == (0, 0, 0) and not c.minor_dirty and not c.patch_dirty:
        return True  # ~0.0.0 (also `*`): anything
    if v.major != cv.major:
        return False
    return v.minor == cv.minor or c.minor_dirty


def _equal(v: Version, c: _Bound) -> bool:
    return _tilde(v, c) if c.dirty else v == c.version


def _not_equal(v: Version, c: _Bound) -> bool:
    cv = c.version
    if c.dirty:
        if cv.major != v.major:
            return True
        if c.minor_dirty:
            return False
        if cv.minor != v.minor:
            return True
        if c.patch_dirty:
            if v.pre or cv.pre:
                return _compare_prerelease(v.pre, cv.pre) != 0
            return False
    return v != cv


def _greater(v: Version, c: _Bound) -> bool:
    cv = c.version
    if not c.dirty:
        return v > cv
    if v.major != cv.major:
        return v.major > cv.major
    if c.minor_dirty:
        return False  # >1 (or >1.x) needs 2.0.0 or more
    if c.patch_dirty:
        return v.minor > cv.minor  # >1.2 needs 1.3.0 or more
    return v > cv


def _less_equal(v: Version, c: _Bound) -> bool:
    cv = c.version
    if not c.dirty:
        return v <= cv
    if v.major > cv.major:
        return False
    return not (v.major == cv.major and v.minor > cv.minor and not c.minor_dirty)


def _caret(v: Version, c: _Bound) -> bool:
    cv = c.version
    if v < cv:
        return False
    if cv.major > 0 or c.minor_dirty:
        return v.major == cv.major
    if v.major > 0:
        return False
    if cv.minor > 0 or c.patch_dirty:
        return v.minor == cv.minor
    if v.minor > 0:
        return False
    return v.patch == cv.patch


_CHECKS = {
    "": _equal, "=": _equal, "!=": _not_equal,
    ">": _greater, "<": lambda v, c: v < c.version,
    ">=": lambda v, c: v >= c.version, "=>": lambda v, c: v >= c.version,
    "<=": _less_equal, "=<": _less_equal,
    "~": _tilde, "~>": _tilde, "^": _caret,
}


def _is_wild(segment: str | None) -> bool:
    return segment is None or segment.lstrip(".") in _WILDCARDS or segment == ""


def _bound(text: str) -> _Bound:
    m = _ONE_RE.match(text)
    if m is None:
        raise SemverError(f"improper constraint: {text!r}")
    op, major, minor, patch, pre = m[1], m[3], m[4], m[5], m[6] or ""
    if major in _WILDCARDS:
        return _Bound(op, Version(0, 0, 0, pre[1:]), True, False, False)
    if _is_wild(minor):
        return _Bound(op, Version(int(major), 0, 0, pre[1:]), True, True, False)
    if _is_wild(patch):
        return _Bound(op, Version(int(major), int(minor[1:]), 0, pre[1:]), True, False, True)
    return _Bound(op, Version(int(major), int(minor[1:]), int(patch[1:]), pre[1:]),
                  False, False, False)


@dataclass(frozen=True)
class Constraint:
    groups: tuple[tuple[_Bound, ...], ...]  # OR of ANDs
    text: str

    @classmethod
    def parse(cls, text: str) -> Constraint:
        rewritten = _RANGE_RE.sub(lambda m: f">= {m[1]}, <= {m[9]} ", str(text))
        groups: list[tuple[_Bound, ...]] = []
        for part in rewritten.split("||"):
            if not _VALID_RE.match(part):
                raise SemverError(f"improper constraint: {part.strip()!r}")
            groups.append(tuple(_bound(m[0]) for m in _FIND_RE.finditer(part)))
        return cls(tuple(groups), str(text))

    def allows(self, v: Version) -> bool:
        for group in self.groups:
            wants_pre = any(b.version.pre for b in group)
            if v.pre and not wants_pre:
                continue
            if all(b.allows(v) for b in group):
                return True
        return False


def satisfies(version: str, constraint: str) -> bool:
    """Whether `version` meets `constraint`; a version that does not parse never does."""
    try:
        return Constraint.parse(constraint).allows(Version.parse(version))
    except SemverError:
        return False
