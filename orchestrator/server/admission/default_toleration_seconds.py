"""The DefaultTolerationSeconds admission plugin (kube's
plugin/pkg/admission/defaulttolerationseconds): a pod that does not already tolerate them
gets NoExecute tolerations for `node.kubernetes.io/not-ready` and
`node.kubernetes.io/unreachable`, for 300 seconds each, so a node that stops reporting
evicts its pods after five minutes rather than at once.

Configured, like kube-apiserver's `--default-not-ready-toleration-seconds` and
`--default-unreachable-toleration-seconds`, by `defaultNotReadyTolerationSeconds` and
`defaultUnreachableTolerationSeconds` in the plugin's AdmissionConfiguration entry.
"""

from __future__ import annotations

from typing import Any, Mapping

from orchestrator.server.admission.interfaces import Attributes, Operation, PluginContext

NAME = "DefaultTolerationSeconds"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
DEFAULT_SECONDS = 300


def tolerates(tolerations: list[Any], key: str) -> bool:
    """Whether a toleration already covers the NoExecute taint `key` (an empty key or
    effect matches any, as the plugin reads them)."""
    for toleration in tolerations:
        if not isinstance(toleration, Mapping):
            continue
        if toleration.get("key") in (key, "", None) and \
                toleration.get("effect") in ("NoExecute", "", None):
            return True
    return False


def with_default_tolerations(tolerations: list[Any], not_ready: int,
                             unreachable: int) -> list[Any]:
    """`tolerations` plus the two defaults it lacks, in kube's order."""
    out = list(tolerations)
    for key, seconds in ((NOT_READY_TAINT, not_ready), (UNREACHABLE_TAINT, unreachable)):
        if not tolerates(tolerations, key):
            out.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                        "tolerationSeconds": seconds})
    return out


class DefaultTolerationSeconds:
    name = NAME
    resources: frozenset[str] | None = frozenset({"/pods"})
    operations = frozenset({Operation.CREATE, Operation.UPDATE})

    def __init__(self, ctx: PluginContext) -> None:
        config = ctx.config.get(NAME)
        settings: Mapping[str, Any] = config if isinstance(config, Mapping) else {}
        self.not_ready = _seconds(settings, "defaultNotReadyTolerationSeconds")
        self.unreachable = _seconds(settings, "defaultUnreachableTolerationSeconds")

    def admit(self, attrs: Attributes) -> None:
        pod = attrs.obj
        if pod is None or attrs.subresource:
            return
        spec = pod.get("spec")
        if not isinstance(spec, dict):
            return  # validation reports it
        current = spec.get("tolerations")
        tolerations = current if isinstance(current, list) else []
        if current is not None and not isinstance(current, list):
            return
        added = with_default_tolerations(tolerations, self.not_ready, self.unreachable)
        if len(added) != len(tolerations):
            spec["tolerations"] = added


def _seconds(settings: Mapping[str, Any], key: str) -> int:
    value = settings.get(key, DEFAULT_SECONDS)
    return value if isinstance(value, int) and not isinstance(value, bool) else DEFAULT_SECONDS
