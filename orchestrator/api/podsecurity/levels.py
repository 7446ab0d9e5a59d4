"""Pod Security levels, policy versions, and the namespace labels that choose them, with the
semantics of k8s.io/pod-security-admission/api (labels, parsing, defaulting of warn)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from orchestrator.api import errors

PRIVILEGED, BASELINE, RESTRICTED = "privileged", "baseline", "restricted"
LEVELS = (PRIVILEGED, BASELINE, RESTRICTED)  # least strict first

LABEL_PREFIX = "pod-security.kubernetes.io/"
ENFORCE_LABEL = LABEL_PREFIX + "enforce"
ENFORCE_VERSION_LABEL = LABEL_PREFIX + "enforce-version"
AUDIT_LABEL = LABEL_PREFIX + "audit"
AUDIT_VERSION_LABEL = LABEL_PREFIX + "audit-version"
WARN_LABEL = LABEL_PREFIX + "warn"
WARN_VERSION_LABEL = LABEL_PREFIX + "warn-version"

_VERSION = re.compile(r"^v1\.(0|[1-9][0-9]*)$")


@dataclass(frozen=True)
class Version:
    """A policy version: `v1.<minor>`, or `latest` (newer than every numbered version)."""

    minor: int
    latest: bool = False

    def __str__(self) -> str:
        return "latest" if self.latest else f"v1.{self.minor}"

    def older(self, other: "Version") -> bool:
        if self.latest:
            return False
        return other.latest or self.minor < other.minor


LATEST = Version(0, latest=True)


def v1(minor: int) -> Version:
    return Version(minor)


@dataclass(frozen=True)
class LevelVersion:
    level: str
    version: Version

    def __str__(self) -> str:
        return f"{self.level}:{self.version}"

    def equivalent(self, other: "LevelVersion") -> bool:
        return (self.level == PRIVILEGED and other.level == PRIVILEGED) or self == other


@dataclass(frozen=True)
class Policy:
    enforce: LevelVersion
    audit: LevelVersion
    warn: LevelVersion

    def fully_privileged(self) -> bool:
        return PRIVILEGED == self.enforce.level == self.audit.level == self.warn.level

    def equivalent(self, other: "Policy") -> bool:
        return (self.enforce.equivalent(other.enforce) and self.audit.equivalent(other.audit)
                and self.warn.equivalent(other.warn))


PRIVILEGED_LATEST = LevelVersion(PRIVILEGED, LATEST)
DEFAULT_POLICY = Policy(PRIVILEGED_LATEST, PRIVILEGED_LATEST, PRIVILEGED_LATEST)


def parse_level(text: str) -> str | None:
    """The level, or None when `text` is not one (callers pick the fallback)."""
    return text if text in LEVELS else None


def parse_version(text: str) -> Version | None:
    if text == "latest":
        return LATEST
    match = _VERSION.match(text)
    return Version(int(match.group(1))) if match else None


def compare_levels(a: str, b: str) -> int:
    """-1, 0 or 1 as `a` is less strict than, as strict as, or stricter than `b`."""
    ia, ib = LEVELS.index(a), LEVELS.index(b)
    return (ia > ib) - (ia < ib)


_LEVEL_ERROR = f"must be one of {', '.join(LEVELS)}"
_VERSION_ERROR = 'must be "latest" or "v1.x"'


def policy_to_evaluate(labels: Mapping[str, str] | None,
                       defaults: Policy = DEFAULT_POLICY) -> tuple[Policy, list[errors.Cause]]:
    """The namespace's policy from its labels, falling back to `defaults` for what they do
    not set, and the label errors. A policy always comes back: a bad enforce level or
    version means restricted / latest; a bad audit or warn level means privileged (they
    fail open). Warn, when not labelled, follows a stricter explicit enforce level."""
    causes: list[errors.Cause] = []
    if not labels:
        return defaults, causes

    def bad(label: str, value: str, message: str) -> None:
        causes.append(errors.invalid(f"metadata.labels[{label}]", value, message))

    enforce, audit, warn = defaults.enforce, defaults.audit, defaults.warn
    has_enforce_level = False
    if ENFORCE_LABEL in labels:
        level = parse_level(labels[ENFORCE_LABEL])
        has_enforce_level = level is not None
        if level is None:
            bad(ENFORCE_LABEL, labels[ENFORCE_LABEL], _LEVEL_ERROR)
        enforce = LevelVersion(level or RESTRICTED, enforce.version)
    if ENFORCE_VERSION_LABEL in labels:
        version = parse_version(labels[ENFORCE_VERSION_LABEL])
        if version is None:
            bad(ENFORCE_VERSION_LABEL, labels[ENFORCE_VERSION_LABEL], _VERSION_ERROR)
        enforce = LevelVersion(enforce.level, version or LATEST)
    if AUDIT_LABEL in labels:
        level = parse_level(labels[AUDIT_LABEL])
        if level is None:
            bad(AUDIT_LABEL, labels[AUDIT_LABEL], _LEVEL_ERROR)
        audit = LevelVersion(level or PRIVILEGED, audit.version)
    if AUDIT_VERSION_LABEL in labels:
        version = parse_version(labels[AUDIT_VERSION_LABEL])
        if version is None:
            bad(AUDIT_VERSION_LABEL, labels[AUDIT_VERSION_LABEL], _VERSION_ERROR)
        audit = LevelVersion(audit.level, version or LATEST)
    if WARN_LABEL in labels:
        level = parse_level(labels[WARN_LABEL])
        if level is None:
            bad(WARN_LABEL, labels[WARN_LABEL], _LEVEL_ERROR)
        warn = LevelVersion(level or PRIVILEGED, warn.version)
    if WARN_VERSION_LABEL in labels:
        version = parse_version(labels[WARN_VERSION_LABEL])
        if version is None:
            bad(WARN_VERSION_LABEL, labels[WARN_VERSION_LABEL], _VERSION_ERROR)
        warn = LevelVersion(warn.level, version or LATEST)
    if (WARN_LABEL not in labels and has_enforce_level
            and compare_levels(enforce.level, warn.level) > 0):
        warn = LevelVersion(enforce.level,
                            warn.version if WARN_VERSION_LABEL in labels else enforce.version)
    return Policy(enforce, audit, warn), causes
