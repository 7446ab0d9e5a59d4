"""Which admission webhooks a request calls: the configurations compiled into `Webhook`s and
kube-apiserver's matching (k8s.io/apiserver/pkg/admission/plugin/webhook: generic
ShouldCallHook, predicates/rules, namespace and object matchers).

- configurations are taken in name order, their webhooks in list order;
- a webhook is called when its `namespaceSelector` matches the request's namespace (every
  cluster-scoped object matches; a Namespace is matched by its own labels), its
  `objectSelector` matches the new or the old object, and one of its `rules` matches the
  request's operation, group, version, resource (`pods`, `pods/status`, `*`, `*/*`,
  `pods/*`, `*/status`) and scope;
- with `matchPolicy: Equivalent` a rule for another served version of the same resource
  matches too (the object is then sent as that version);
- requests for the webhook and policy configurations themselves are never sent to a
  webhook, so that a broken webhook can always be removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from orchestrator.api import errors
from orchestrator.api.selectors import EVERYTHING, LabelSelector, label_selector_from_dict

GROUP = "admissionregistration.k8s.io"
EXEMPT_KINDS = frozenset({
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding",
})
DEFAULT_TIMEOUT_SECONDS = 10
SUPPORTED_REVIEW_VERSIONS = ("v1", "v1beta1")


@dataclass(frozen=True)
class Webhook:
    """One webhook of a configuration, defaults applied."""

    configuration: str
    revision: str  # the configuration's resourceVersion
    index: int  # its place in the configuration
    name: str
    mutating: bool
    rules: tuple[Mapping[str, Any], ...]
    client_config: Mapping[str, Any]
    failure_policy: str = "Fail"
    match_policy: str = "Equivalent"
    namespace_selector: LabelSelector = EVERYTHING
    object_selector: LabelSelector = EVERYTHING
    side_effects: str | None = None
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    review_versions: tuple[str, ...] = ("v1",)
    reinvocation_policy: str = "Never"

    @property
    def uid(self) -> str:
        """kube's webhook accessor uid: configuration/name/index."""
        return f"{self.configuration}/{self.name}/{self.index}"

    @property
    def ignores_failures(self) -> bool:
        return self.failure_policy == "Ignore"


@dataclass(frozen=True)
class Request:
    """What matching looks at in one admission request."""

    group: str
    version: str
    resource: str
    subresource: str
    kind: str
    namespace: str  # for a Namespace object: its own name, as kube's attributes hold it
    operation: str
    namespaced: bool  # whether the resource is namespaced

    @property
    def is_namespace(self) -> bool:
        return self.group == "" and self.resource == "namespaces"


def _selector(value: Any) -> LabelSelector:
    try:
        return label_selector_from_dict(value if isinstance(value, Mapping) else {})
    except errors.APIError:
        return EVERYTHING  # validation refuses such selectors; an old one fails closed


def compile_configurations(configurations: Sequence[Mapping[str, Any]], mutating: bool
                           ) -> list[Webhook]:
    """The webhooks of `configurations`, in the order kube calls them."""
    out: list[Webhook] = []
    ordered = sorted(configurations, key=lambda c: str((c.get("metadata") or {}).get("name")))
    for config in ordered:
        md = config.get("metadata") or {}
        for index, hook in enumerate(config.get("webhooks") or []):
            if not isinstance(hook, Mapping):
                continue
            timeout = hook.get("timeoutSeconds")
            versions = hook.get("admissionReviewVersions") or ()
            out.append(Webhook(
                configuration=str(md.get("name") or ""),
                revision=str(md.get("resourceVersion") or ""), index=index,
                name=str(hook.get("name") or ""), mutating=mutating,
                rules=tuple(r for r in hook.get("rules") or [] if isinstance(r, Mapping)),
                client_config=hook.get("clientConfig") or {},
                failure_policy=str(hook.get("failurePolicy") or "Fail"),
                match_policy=str(hook.get("matchPolicy") or "Equivalent"),
                namespace_selector=_selector(hook.get("namespaceSelector")),
                object_selector=_selector(hook.get("objectSelector")),
                side_effects=hook.get("sideEffects"),
                timeout_seconds=timeout if isinstance(timeout, int) and timeout > 0
                else DEFAULT_TIMEOUT_SECONDS,
                review_versions=tuple(str(v) for v in versions),
                reinvocation_policy=str(hook.get("reinvocationPolicy") or "Never")))
    return out


def is_exempt(group: str, kind: str) -> bool:
    """Requests no webhook sees: those for webhook and policy configurations."""
    return group == GROUP and kind in EXEMPT_KINDS


def _listed(items: Any, wanted: str) -> bool:
    values = items if isinstance(items, list) else []
    return "*" in values or wanted in values


def rule_matches(rule: Mapping[str, Any], request: Request, version: str | None = None
                 ) -> bool:
    """One rule against the request (`version` overrides the request's, for
    `matchPolicy: Equivalent`)."""
    scope = rule.get("scope") or "*"
    if scope == "Namespaced" and (request.is_namespace or not request.namespaced):
        return False
    if scope == "Cluster" and not (request.is_namespace or not request.namespaced):
        return False
    if not _listed(rule.get("operations"), request.operation):
        return False
    if not _listed(rule.get("apiGroups"), request.group):
        return False
    if not _listed(rule.get("apiVersions"), version or request.version):
        return False
    for entry in rule.get("resources") or []:
        resource, _, sub = str(entry).partition("/")
        if resource in ("*", request.resource) and sub in ("*", request.subresource):
            return True
    return False


def matched_version(hook: Webhook, request: Request, equivalent_versions: Sequence[str]
                    ) -> str | None:
    """The version the webhook receives the request in, or None when no rule matches:
    the request's own, else (Equivalent) the first other served version a rule names,
    earlier rules first."""
    if any(rule_matches(rule, request) for rule in hook.rules):
        return request.version
    if hook.match_policy != "Equivalent":
        return None
    for rule in hook.rules:
        for version in equivalent_versions:
            if version != request.version and rule_matches(rule, request, version):
                return version
    return None


def namespace_matches(hook: Webhook, request: Request,
                      namespace_labels: Mapping[str, str] | None) -> bool:
    """`namespaceSelector`: cluster-scoped objects always match; a Namespace is judged by
    its own labels (`namespace_labels` holds them)."""
    if hook.namespace_selector.empty:
        return True
    if not request.is_namespace and not request.namespace:
        return True
    return hook.namespace_selector.matches(namespace_labels or {})


def object_matches(hook: Webhook, obj: Mapping[str, Any] | None,
                   old: Mapping[str, Any] | None) -> bool:
    """`objectSelector`: the labels of the new or of the old object."""
    if hook.object_selector.empty:
        return True
    return any(o is not None and hook.object_selector.matches(
        (o.get("metadata") or {}).get("labels") or {}) for o in (obj, old))


def review_version(hook: Webhook) -> str | None:
    """The first AdmissionReview version the webhook accepts that is sent here."""
    return next((v for v in hook.review_versions if v in SUPPORTED_REVIEW_VERSIONS), None)
