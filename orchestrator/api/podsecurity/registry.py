"""Which checks a level and version run, and how their results read together.

Like pod-security-admission's check registry: every check has a level and one or more
revisions, each from a minimum policy version on; a restricted revision may replace
("override") a baseline check. Results are listed by check ID, baseline checks first, so
messages are stable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from orchestrator.api.jsonio import Memo, exact_json
from orchestrator.api.podsecurity import baseline, restricted
from orchestrator.api.podsecurity.levels import (
    BASELINE,
    PRIVILEGED,
    RESTRICTED,
    LevelVersion,
    Version,
    v1,
)
from orchestrator.api.podsecurity.podspec import CheckResult

CheckFn = Callable[[Mapping[str, Any], Mapping[str, Any]], "CheckResult | None"]


@dataclass(frozen=True)
class Revision:
    since: Version
    check: CheckFn
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class Check:
    id: str
    level: str
    revisions: tuple[Revision, ...]

    def at(self, version: Version) -> Revision | None:
        """The revision in force at `version` (None before the check existed)."""
        chosen = None
        for revision in self.revisions:
            if not version.older(revision.since):
                chosen = revision
        return chosen


def _check(id: str, level: str, *revisions: Revision) -> Check:
    return Check(id, level, revisions)


CHECKS: tuple[Check, ...] = (
    _check("privileged", BASELINE, Revision(v1(0), baseline.privileged)),
    _check("hostNamespaces", BASELINE, Revision(v1(0), baseline.host_namespaces)),
    _check("hostPathVolumes", BASELINE, Revision(v1(0), baseline.host_path_volumes)),
    _check("hostPorts", BASELINE, Revision(v1(0), baseline.host_ports)),
    _check("hostProbesAndHostLifecycle", BASELINE,
           Revision(v1(34), baseline.host_probes_and_lifecycle)),
    _check("capabilities_baseline", BASELINE, Revision(v1(0), baseline.capabilities)),
    _check("appArmorProfile", BASELINE, Revision(v1(0), baseline.app_armor_profile)),
    _check("seLinuxOptions", BASELINE, Revision(v1(0), baseline.selinux_options_1_0),
           Revision(v1(31), baseline.selinux_options_1_31)),
    _check("procMount", BASELINE, Revision(v1(0), baseline.proc_mount_1_0),
           Revision(v1(35), baseline.proc_mount_1_35)),
    _check("seccompProfile_baseline", BASELINE,
           Revision(v1(0), baseline.seccomp_annotations_1_0),
           Revision(v1(19), baseline.seccomp_profile_1_19)),
    _check("sysctls", BASELINE, Revision(v1(0), baseline.sysctls_1_0),
           Revision(v1(27), baseline.sysctls_1_27), Revision(v1(29), baseline.sysctls_1_29),
           Revision(v1(32), baseline.sysctls_1_32), Revision(v1(37), baseline.sysctls_1_37)),
    _check("windowsHostProcess", BASELINE, Revision(v1(0), baseline.windows_host_process)),
    _check("allowPrivilegeEscalation", RESTRICTED,
           Revision(v1(8), restricted.allow_privilege_escalation_1_8),
           Revision(v1(25), restricted.allow_privilege_escalation_1_25)),
    _check("capabilities_restricted", RESTRICTED,
           Revision(v1(22), restricted.capabilities_1_22, ("capabilities_baseline",)),
           Revision(v1(25), restricted.capabilities_1_25, ("capabilities_baseline",))),
    _check("procMount_restricted", RESTRICTED,
           Revision(v1(35), baseline.proc_mount_1_0, ("procMount",))),
    _check("restrictedVolumes", RESTRICTED,
           Revision(v1(0), restricted.volume_types, ("hostPathVolumes",))),
    _check("runAsNonRoot", RESTRICTED, Revision(v1(0), restricted.run_as_non_root_1_0),
           Revision(v1(35), restricted.run_as_non_root_1_35)),
    _check("runAsUser", RESTRICTED, Revision(v1(23), restricted.run_as_user_1_23),
           Revision(v1(35), restricted.run_as_user_1_35)),
    _check("seccompProfile_restricted", RESTRICTED,
           Revision(v1(19), restricted.seccomp_profile_1_19, ("seccompProfile_baseline",)),
           Revision(v1(25), restricted.seccomp_profile_1_25, ("seccompProfile_baseline",))),
)

# `latest`, and any version newer than the newest check, evaluate as this one.
NEWEST = max((r.since for c in CHECKS for r in c.revisions), key=lambda v: v.minor)


@dataclass
class Evaluator:
    """The checks per (level, version), worked out once each."""

    checks: tuple[Check, ...] = CHECKS
    _cache: dict[tuple[str, Version], list[CheckFn]] = field(default_factory=dict)
    # Verdicts by (level, version, spec, annotations): a controller's pods share one spec,
    # so only the first of them pays for the checks.
    _verdicts: Memo[tuple[str, Version, bytes, bytes], "Aggregate"] = field(
        default_factory=lambda: Memo(4096))

    def checks_for(self, lv: LevelVersion) -> list[CheckFn]:
        if lv.level == PRIVILEGED:
            return []
        version = NEWEST if NEWEST.older(lv.version) else lv.version
        key = (lv.level, version)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = self._select(lv.level, version)
        return cached

    def _select(self, level: str, version: Version) -> list[CheckFn]:
        chosen = {c.id: (c, r) for c in self.checks if (r := c.at(version)) is not None
                  and (c.level == BASELINE or level == RESTRICTED)}
        overridden = {o for c, r in chosen.values() if c.level == RESTRICTED
                      for o in r.overrides}
        order = sorted(i for i, (c, _) in chosen.items() if c.level == BASELINE) + sorted(
            i for i, (c, _) in chosen.items() if c.level == RESTRICTED)
        return [chosen[i][1].check for i in order if i not in overridden]

    def evaluate(self, lv: LevelVersion, meta: Mapping[str, Any],
                 spec: Mapping[str, Any]) -> "Aggregate":
        checks = self.checks_for(lv)
        if not checks:
            return ALLOWED
        # Only annotations and the spec are read (names are not), so they make the key.
        spec_json = exact_json(spec)
        annotations_json = exact_json(meta.get("annotations") or {})
        if spec_json is None or annotations_json is None:
            return Aggregate([r for check in checks if (r := check(meta, spec)) is not None])
        key = (lv.level, lv.version, spec_json, annotations_json)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = Aggregate([r for check in checks if (r := check(meta, spec)) is not None])
            self._verdicts.put(key, verdict)
        return verdict


@dataclass(frozen=True)
class Aggregate:
    """The failed checks of one evaluation."""

    failures: list[CheckResult]  # shared between equal verdicts: never changed

    @property
    def allowed(self) -> bool:
        return not self.failures

    def reason(self) -> str:
        """`host namespaces, privileged` (namespace-wide summaries)."""
        return ", ".join(f.reason for f in self.failures)

    def detail(self) -> str:
        """`host namespaces (hostNetwork=true), privileged (container "c" must not ...)`."""
        return ", ".join(f"{f.reason} ({f.detail})" if f.detail else f.reason
                         for f in self.failures)


ALLOWED = Aggregate([])


def aggregate(lv: LevelVersion, meta: Mapping[str, Any], spec: Mapping[str, Any],
              evaluator: Evaluator | None = None) -> Aggregate:
    return (evaluator or DEFAULT_EVALUATOR).evaluate(lv, meta, spec)


DEFAULT_EVALUATOR = Evaluator()
