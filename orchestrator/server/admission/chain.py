"""The admission chain: the registered plugins in their fixed order, and how a request runs
through them.

`ORDERED_PLUGINS` is the one registration point. Its order follows kube-apiserver's
`AllOrderedPlugins` (pkg/kubeapiserver/options/plugins.go); a new plugin goes where
Kubernetes puts it. Every mutating plugin (`admit`) runs, in this order, before the object
is validated; every validating plugin (`validate`) runs after, in the same order.
"""

from __future__ import annotations

from typing import Callable, Sequence

from orchestrator.api import errors
from orchestrator.server.admission import (
    limitranger,
    podsecurity,
    priority,
    rbac_escalation,
    resourcequota,
)
from orchestrator.server.admission import default_toleration_seconds
from orchestrator.server.admission import certificates, webhooks
from orchestrator.server.admission.interfaces import (
    Attributes,
    MutationInterface,
    Operation,
    Plugin,
    PluginContext,
    ValidationInterface,
)

PluginFactory = Callable[[PluginContext], Plugin]
# Told how admission ended for each request a plugin annotated (the audit log).
AuditSink = Callable[[Attributes, "errors.APIError | None"], None]

# Kubernetes' order, of the plugins we have (with where the missing ones would go):
#   NamespaceLifecycle   (ObjectService._check_namespace does its job today)
#   LimitRanger
#   ServiceAccount
#   PodSecurity
#   Priority
#   DefaultTolerationSeconds
#   DefaultStorageClass, ...
#   CertificateApproval, CertificateSigning, CertificateSubjectRestriction
#   MutatingAdmissionWebhook     the last mutating plugin
#   ValidatingAdmissionWebhook   the last validating plugin but ResourceQuota
#   ResourceQuota        last, after every other validating plugin: it charges quotas
# and after admission, where kube's RBAC registry storage refuses escalation:
#   RBACEscalation
ORDERED_PLUGINS: list[tuple[str, PluginFactory]] = [
    (limitranger.NAME, limitranger.LimitRanger),
    (podsecurity.NAME, podsecurity.PodSecurity),
    (priority.NAME, priority.Priority),
    (default_toleration_seconds.NAME, default_toleration_seconds.DefaultTolerationSeconds),
    (certificates.APPROVAL_NAME, certificates.CertificateApproval),
    (certificates.SIGNING_NAME, certificates.CertificateSigning),
    (certificates.SUBJECT_RESTRICTION_NAME, certificates.CertificateSubjectRestriction),
    (webhooks.MUTATING_NAME, webhooks.MutatingAdmissionWebhook),
    (webhooks.VALIDATING_NAME, webhooks.ValidatingAdmissionWebhook),
    (resourcequota.NAME, resourcequota.ResourceQuota),
    (rbac_escalation.NAME, rbac_escalation.RBACEscalation),
]


class Chain:
    """Runs the plugins that handle a request. The plugin lists per (resource, operation)
    are worked out once, so requests for resources no plugin handles cost a dict lookup."""

    def __init__(self, plugins: Sequence[Plugin], audit: AuditSink | None = None) -> None:
        self.plugins = list(plugins)
        self.audit = audit
        self._mutating: dict[tuple[str, Operation], list[MutationInterface]] = {}
        self._validating: dict[tuple[str, Operation], list[ValidationInterface]] = {}

    @classmethod
    def build(cls, ctx: PluginContext,
              factories: Sequence[tuple[str, PluginFactory]] | None = None,
              audit: AuditSink | None = None) -> "Chain":
        return cls([make(ctx) for _, make in
                    (ORDERED_PLUGINS if factories is None else factories)], audit)

    def _select(self, key: str, op: Operation) -> tuple[list[MutationInterface],
                                                        list[ValidationInterface]]:
        wanted = [p for p in self.plugins if op in p.operations
                  and (p.resources is None or key in p.resources)]
        mutating = [p for p in wanted if isinstance(p, MutationInterface)]
        validating = [p for p in wanted if isinstance(p, ValidationInterface)]
        self._mutating[(key, op)] = mutating
        self._validating[(key, op)] = validating
        return mutating, validating

    def handles(self, key: str, op: Operation) -> bool:
        """Whether any plugin wants this (resource, operation): callers skip building
        Attributes when none does."""
        mutating = self._mutating.get((key, op))
        if mutating is None:
            mutating, validating = self._select(key, op)
        else:
            validating = self._validating[(key, op)]
        return bool(mutating or validating)

    def admit(self, attrs: Attributes) -> None:
        """The mutating phase: each mutating plugin, in order; the first error rejects."""
        plugins = self._mutating.get((attrs.resource.key, attrs.operation))
        if plugins is None:
            plugins = self._select(attrs.resource.key, attrs.operation)[0]
        try:
            for plugin in plugins:
                plugin.admit(attrs)
        except errors.APIError as err:
            self._audit(attrs, err)
            raise

    def validate(self, attrs: Attributes) -> None:
        """The validating phase, on the object as it will be stored."""
        plugins = self._validating.get((attrs.resource.key, attrs.operation))
        if plugins is None:
            plugins = self._select(attrs.resource.key, attrs.operation)[1]
        try:
            for plugin in plugins:
                plugin.validate(attrs)
        except errors.APIError as err:
            self._audit(attrs, err)
            raise
        self._audit(attrs, None)

    def _audit(self, attrs: Attributes, error: errors.APIError | None) -> None:
        if self.audit is not None and attrs.audit_annotations:
            self.audit(attrs, error)
