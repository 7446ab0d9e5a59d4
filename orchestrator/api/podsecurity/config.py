"""PodSecurityConfiguration (pod-security.admission.config.k8s.io/v1): the cluster's default
levels for unlabelled namespaces, and who is exempt. Parsed and checked as kube-apiserver
checks its admission configuration file; a bad one is one line naming the field."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from orchestrator.api import errors, validation
from orchestrator.api.podsecurity.levels import (
    LEVELS,
    LevelVersion,
    Policy,
    parse_level,
    parse_version,
)

API_VERSIONS = ("pod-security.admission.config.k8s.io/v1",
                "pod-security.admission.config.k8s.io/v1beta1")
KIND = "PodSecurityConfiguration"
_MODES = ("enforce", "audit", "warn")


@dataclass(frozen=True)
class Exemptions:
    usernames: frozenset[str] = frozenset()
    namespaces: frozenset[str] = frozenset()
    runtime_classes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PodSecurityConfig:
    defaults: Policy = field(default_factory=lambda: policy_from_defaults({}))
    exemptions: Exemptions = Exemptions()


def policy_from_defaults(defaults: Mapping[str, str]) -> Policy:
    """`defaults:` with every mode privileged / latest unless given (already checked)."""
    def mode(name: str) -> LevelVersion:
        level = parse_level(defaults.get(name) or "privileged")
        version = parse_version(defaults.get(f"{name}-version") or "latest")
        assert level is not None and version is not None
        return LevelVersion(level, version)

    return Policy(mode("enforce"), mode("audit"), mode("warn"))


def parse(raw: Any) -> PodSecurityConfig:
    """The configuration from its YAML/JSON form; ValueError with one line when it is bad."""
    if raw is None:
        return PodSecurityConfig()
    if not isinstance(raw, Mapping):
        raise ValueError(f"invalid {KIND}: must be an object, got {type(raw).__name__}")
    if raw.get("kind", KIND) != KIND or raw.get("apiVersion", API_VERSIONS[0]) not in API_VERSIONS:
        raise ValueError(f"invalid {KIND}: apiVersion/kind must be {API_VERSIONS[0]} {KIND}, "
                         f"got {raw.get('apiVersion')} {raw.get('kind')}")
    causes: list[errors.Cause] = []
    defaults = _mapping(raw.get("defaults"), "defaults", causes)
    for mode in _MODES:
        level = defaults.get(mode)
        if level is not None and (not isinstance(level, str) or parse_level(level) is None):
            causes.append(errors.invalid(f"defaults.{mode}", level,
                                         f"must be one of {', '.join(LEVELS)}"))
        version = defaults.get(f"{mode}-version")
        if version is not None and (not isinstance(version, str)
                                    or parse_version(version) is None):
            causes.append(errors.invalid(f"defaults.{mode}-version", version,
                                         'must be "latest" or "v1.x"'))
    known = set(_MODES) | {f"{m}-version" for m in _MODES}
    causes += [errors.Cause("FieldValueInvalid", "unknown field", f"defaults.{k}")
               for k in defaults if k not in known]
    exempt = _mapping(raw.get("exemptions"), "exemptions", causes)
    causes += [errors.Cause("FieldValueInvalid", "unknown field", f"exemptions.{k}")
               for k in exempt if k not in ("usernames", "namespaces", "runtimeClasses")]
    usernames = _names(exempt, "usernames", None, causes)
    namespaces = _names(exempt, "namespaces", "dns1123-label", causes)
    runtime_classes = _names(exempt, "runtimeClasses", "dns1123-subdomain", causes)
    if causes:
        raise ValueError(f"invalid {KIND}: " + "; ".join(
            f"{c.field}: {c.message}" for c in causes))
    return PodSecurityConfig(policy_from_defaults(defaults),
                             Exemptions(usernames, namespaces, runtime_classes))


def _mapping(value: Any, path: str, causes: list[errors.Cause]) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        causes.append(errors.invalid(path, value, "must be an object"))
        return {}
    return value


def _names(exempt: Mapping[str, Any], key: str, rule: str | None,
           causes: list[errors.Cause]) -> frozenset[str]:
    values = exempt.get(key)
    if values is None:
        return frozenset()
    if not isinstance(values, list):
        causes.append(errors.invalid(f"exemptions.{key}", values, "must be a list of strings"))
        return frozenset()
    seen: set[str] = set()
    for i, value in enumerate(values):
        path = f"exemptions.{key}[{i}]"
        if not isinstance(value, str):
            causes.append(errors.invalid(path, value, "must be a string"))
            continue
        if rule is None:
            problems = [errors.invalid(path, value, "username must not be empty")] \
                if not value else []
        else:  # the name rules of the objects they name, with kube's messages
            problems = [errors.Cause(c.reason, c.message, path)
                        for c in validation.validate_name(value, "", "", rule=rule)]
        if problems:
            causes += problems
        elif value in seen:
            causes.append(errors.duplicate(path, value))
        seen.add(value)
    return frozenset(seen)
