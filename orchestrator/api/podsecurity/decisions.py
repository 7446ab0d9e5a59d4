"""What Pod Security admission decides for one request, given the namespace's policy: pure
functions, so the admission plugin only looks things up and applies the verdict.

Messages, warnings and audit annotations are worded as pod-security-admission's
`admission.go` words them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from orchestrator.api import errors
from orchestrator.api.podsecurity.config import Exemptions
from orchestrator.api.podsecurity.levels import (
    AUDIT_LABEL,
    AUDIT_VERSION_LABEL,
    ENFORCE_LABEL,
    ENFORCE_VERSION_LABEL,
    PRIVILEGED,
    WARN_LABEL,
    WARN_VERSION_LABEL,
    LevelVersion,
    Policy,
)
from orchestrator.api.podsecurity.podspec import items, obj
from orchestrator.api.podsecurity.registry import DEFAULT_EVALUATOR, Aggregate, Evaluator

# Audit annotation keys (kube prefixes them with `pod-security.kubernetes.io/`).
ENFORCE_POLICY, AUDIT_VIOLATIONS, EXEMPT, ERROR = (
    "enforce-policy", "audit-violations", "exempt", "error")
# At most this many existing pods are checked when a namespace's enforce level changes.
MAX_PODS_TO_CHECK = 3000


@dataclass
class Decision:
    """`denied`: the reason to forbid (None allows); `warnings` for the client;
    `annotations` for the audit log."""

    denied: str | None = None
    warnings: list[str] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)


def runtime_class_exempt(spec: Mapping[str, Any], exemptions: Exemptions) -> bool:
    name = spec.get("runtimeClassName")
    return bool(name) and name in exemptions.runtime_classes


def policy_error_text(causes: list[errors.Cause]) -> str:
    """The label errors as one line, the way an aggregated Go error prints."""
    parts = [f"{c.field}: {c.message}" for c in causes]
    return parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"


def evaluate_pod(policy: Policy, policy_errors: list[errors.Cause], meta: Mapping[str, Any],
                 spec: Mapping[str, Any], *, enforce: bool, exemptions: Exemptions,
                 evaluator: Evaluator = DEFAULT_EVALUATOR) -> Decision:
    """A pod (enforce=True) or a workload's pod template (enforce=False: warn and audit only)
    against the namespace's policy."""
    if runtime_class_exempt(spec, exemptions):
        return Decision(annotations={EXEMPT: "runtimeClass"})
    decision = Decision()
    if policy_errors:
        decision.annotations[ERROR] = f"Failed to parse policy: {policy_error_text(policy_errors)}"
    results: dict[LevelVersion, Aggregate] = {}

    def result(lv: LevelVersion) -> Aggregate:
        if lv not in results:
            results[lv] = evaluator.evaluate(lv, meta, spec)
        return results[lv]

    if enforce:
        decision.annotations[ENFORCE_POLICY] = str(policy.enforce)
        enforced = result(policy.enforce)
        if not enforced.allowed:
            decision.denied = f'violates PodSecurity "{policy.enforce}": {enforced.detail()}'
    audited = result(policy.audit)
    if not audited.allowed:
        decision.annotations[AUDIT_VIOLATIONS] = (
            f'would violate PodSecurity "{policy.audit}": {audited.detail()}')
    if decision.denied is None:  # no warnings on a request that is refused anyway
        warned = result(policy.warn)
        if not warned.allowed:
            decision.warnings.append(
                f'would violate PodSecurity "{policy.warn}": {warned.detail()}')
    return decision


def significant_pod_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    """Whether a pod update can change what the checks see. Only container images (and
    ephemeral containers) may change on a running pod, so only those count."""
    new_spec, old_spec = obj(new.get("spec")), obj(old.get("spec"))
    for key in ("containers", "initContainers"):
        ours, theirs = items(new_spec.get(key)), items(old_spec.get(key))
        if len(ours) != len(theirs):
            return True
        if any(obj(a).get("image") != obj(b).get("image") for a, b in zip(ours, theirs)):
            return True
    before = {obj(c).get("name"): obj(c) for c in items(old_spec.get("ephemeralContainers"))}
    for container in items(new_spec.get("ephemeralContainers")):
        previous = before.get(obj(container).get("name"))
        if previous is None or previous.get("image") != obj(container).get("image"):
            return True
    return False


def _controller_uid(pod: Mapping[str, Any]) -> str | None:
    for ref in items(obj(pod.get("metadata")).get("ownerReferences")):
        if obj(ref).get("controller") is True:
            return str(obj(ref).get("uid", ""))
    return None


def _prioritized(pods: Iterable[Mapping[str, Any]],
                 exemptions: Exemptions) -> list[Mapping[str, Any]]:
    """One pod per controller first (replicas usually share a template), then the rest;
    pods of exempt runtime classes are left out."""
    first: list[Mapping[str, Any]] = []
    later: list[Mapping[str, Any]] = []
    seen: set[str] = set()
    for pod in pods:
        if runtime_class_exempt(obj(pod.get("spec")), exemptions):
            continue
        owner = _controller_uid(pod)
        if owner is not None and owner in seen:
            later.append(pod)
            continue
        if owner is not None:
            seen.add(owner)
        first.append(pod)
    return first + later


def existing_pod_warnings(namespace: str, pods: Iterable[Mapping[str, Any]],
                          enforce: LevelVersion, exemptions: Exemptions,
                          evaluator: Evaluator = DEFAULT_EVALUATOR,
                          limit: int = MAX_PODS_TO_CHECK) -> list[str]:
    """The warnings for labelling a namespace with a stricter enforce level: which
    existing pods it would have refused, grouped by reasons."""
    chosen = _prioritized(pods, exemptions)
    total = len(chosen)
    chosen = chosen[:limit]
    by_reason: dict[str, list[str]] = {}
    for pod in chosen:
        verdict = evaluator.evaluate(enforce, obj(pod.get("metadata")), obj(pod.get("spec")))
        if not verdict.allowed:
            name = str(obj(pod.get("metadata")).get("name", ""))
            by_reason.setdefault(verdict.reason(), []).append(name)
    warnings: list[str] = []
    if len(chosen) < total:
        warnings.append(f"new PodSecurity enforce level only checked against the first "
                        f"{len(chosen)} of {total} existing pods")
    if by_reason:
        warnings.append(f'existing pods in namespace "{namespace}" violate the new PodSecurity '
                        f'enforce level "{enforce}"')
    per_pod = []
    for reason, names in by_reason.items():
        others = len(names) - 1
        first = min(names)
        if others == 0:
            per_pod.append(f"{first}: {reason}")
        elif others == 1:
            per_pod.append(f"{first} (and 1 other pod): {reason}")
        else:
            per_pod.append(f"{first} (and {others} other pods): {reason}")
    return warnings + sorted(per_pod)


def exempt_namespace_warning(namespace: str, policy: Policy, labels: Mapping[str, str],
                             defaults: Policy) -> str:
    """The warning for setting Pod Security labels on a namespace exempt from them ("" when
    the labels ask for nothing beyond the defaults)."""
    if policy.fully_privileged() or policy.equivalent(defaults):
        return ""
    shown = []
    for mode, lv, level_label, version_label in (
            ("enforce", policy.enforce, ENFORCE_LABEL, ENFORCE_VERSION_LABEL),
            ("audit", policy.audit, AUDIT_LABEL, AUDIT_VERSION_LABEL),
            ("warn", policy.warn, WARN_LABEL, WARN_VERSION_LABEL)):
        if lv.level != PRIVILEGED and (level_label in labels or version_label in labels):
            shown.append(f"{mode}={lv}")
    return (f'namespace "{namespace}" is exempt from Pod Security, and the policy '
            f"({', '.join(shown)}) will be ignored")
