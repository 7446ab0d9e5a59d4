"""The PodSecurity admission plugin: Pod Security Standards by namespace label, as
kube-apiserver's built-in plugin applies them.

- Pods: `enforce` rejects with `pods "x" is forbidden: violates PodSecurity
  "restricted:latest": ...`; `warn` adds `Warning` headers; `audit` adds the
  `pod-security.kubernetes.io/audit-violations` audit annotation.
- Workloads with a pod template (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job,
  CronJob, ReplicationController, PodTemplate): warnings and audit only, never rejected (their
  pods are checked when the controller creates them).
- Namespaces: bad labels are refused; raising the enforce level warns about the existing pods
  that it would have refused.
- Exemptions (usernames, runtime classes, namespaces) and the defaults for unlabelled
  namespaces come from the PodSecurityConfiguration (`ctx.config["PodSecurity"]`).

The decisions themselves are pure (`orchestrator.api.podsecurity.decisions`).
"""

from __future__ import annotations

from typing import Any, Mapping

from orchestrator.api import errors
from orchestrator.api import podsecurity as pss
from orchestrator.api.podsecurity import decisions
from orchestrator.api.podsecurity.levels import LABEL_PREFIX, compare_levels
from orchestrator.api.podsecurity.templates import PODS, TEMPLATE_PATHS, pod_spec_of
from orchestrator.server.admission.interfaces import Attributes, Operation, PluginContext

NAME = "PodSecurity"
NAMESPACES = "/namespaces"
POLICY_CACHE_SIZE = 4096
ANNOTATION_DOMAIN = LABEL_PREFIX.rstrip("/")
# Pod subresources that cannot change the pod spec (any other one is checked).
IGNORED_POD_SUBRESOURCES = frozenset({"exec", "attach", "binding", "eviction", "log",
                                      "portforward", "proxy", "status"})


class PodSecurity:
    name = NAME
    resources: frozenset[str] | None = frozenset({NAMESPACES, PODS, *TEMPLATE_PATHS})
    operations = frozenset({Operation.CREATE, Operation.UPDATE})

    def __init__(self, ctx: PluginContext) -> None:
        self.store = ctx.store
        raw = ctx.config.get(NAME)
        self.config = raw if isinstance(raw, pss.PodSecurityConfig) else pss.parse(raw)
        self.evaluator = pss.Evaluator()
        # (namespace, resourceVersion) -> its parsed policy and label errors; never mutated.
        self._policies: dict[tuple[str, str], tuple[pss.Policy, list[errors.Cause]]] = {}

    def validate(self, attrs: Attributes) -> None:
        if attrs.obj is None:
            return
        key = attrs.resource.key
        if key == NAMESPACES:
            self._namespace(attrs, attrs.obj)
        elif key == PODS:
            self._pod(attrs, attrs.obj)
        else:
            self._workload(attrs, attrs.obj)

    # -- namespaces ----------------------------------------------------------------------

    def _namespace(self, attrs: Attributes, ns: dict[str, Any]) -> None:
        if attrs.subresource:
            return
        labels = _labels(ns)
        policy, causes = pss.policy_to_evaluate(labels, self.config.defaults)
        exempt = attrs.name in self.config.exemptions.namespaces
        if attrs.operation == Operation.CREATE:
            if causes:
                raise errors.Invalid.of("Namespace", "", attrs.name, causes)
            if exempt:
                self._warn_exempt(attrs, policy, labels)
            return
        old_labels = _labels(attrs.old or {})
        old_policy, old_causes = pss.policy_to_evaluate(old_labels, self.config.defaults)
        if causes and (not old_causes or causes != old_causes):
            raise errors.Invalid.of("Namespace", "", attrs.name, causes)
        new, old = policy.enforce, old_policy.enforce
        if new == old or new.level == pss.PRIVILEGED:
            return
        if new.version == old.version and compare_levels(new.level, old.level) < 1:
            return  # relaxed: nothing that runs now can break it
        if exempt:
            self._warn_exempt(attrs, policy, labels)
            return
        attrs.warnings += decisions.existing_pod_warnings(
            attrs.name, self.store.objects(PODS, attrs.name), new, self.config.exemptions,
            self.evaluator)

    def _warn_exempt(self, attrs: Attributes, policy: pss.Policy,
                     labels: Mapping[str, str]) -> None:
        warning = decisions.exempt_namespace_warning(attrs.name, policy, labels,
                                                     self.config.defaults)
        if warning:
            attrs.warnings.append(warning)

    # -- pods and workloads --------------------------------------------------------------

    def _exempt(self, attrs: Attributes) -> bool:
        exemptions = self.config.exemptions
        if attrs.namespace in exemptions.namespaces:
            attrs.annotate(ANNOTATION_DOMAIN, decisions.EXEMPT, "namespace")
            return True
        if attrs.user_name and attrs.user_name in exemptions.usernames:
            attrs.annotate(ANNOTATION_DOMAIN, decisions.EXEMPT, "user")
            return True
        return False

    def _namespace_policy(self, attrs: Attributes
                          ) -> tuple[pss.Policy, list[errors.Cause]] | None:
        ns = self.store.get(NAMESPACES, "", attrs.namespace)
        if ns is None:  # NamespaceLifecycle has refused the request already
            return None
        # Parsing and checking the labels was a tenth of a pod create's cost; a namespace's
        # resourceVersion changes with any change to it, so it keys the parsed policy.
        key = (attrs.namespace, str(ns["metadata"].get("resourceVersion", "")))
        found = self._policies.get(key)
        if found is None:
            if len(self._policies) >= POLICY_CACHE_SIZE:
                self._policies.clear()
            found = self._policies[key] = pss.policy_to_evaluate(_labels(ns),
                                                                 self.config.defaults)
        return found

    def _pod(self, attrs: Attributes, pod: dict[str, Any]) -> None:
        if attrs.subresource in IGNORED_POD_SUBRESOURCES or self._exempt(attrs):
            return
        found = self._namespace_policy(attrs)
        if found is None:
            return
        policy, causes = found
        if not causes and policy.fully_privileged():
            attrs.annotate(ANNOTATION_DOMAIN, decisions.ENFORCE_POLICY,
                           str(pss.LevelVersion(pss.PRIVILEGED, pss.LATEST)))
            return
        if attrs.operation == Operation.UPDATE and attrs.old is not None and \
                not decisions.significant_pod_update(pod, attrs.old):
            return
        meta, spec = pod_spec_of(PODS, pod) or ({}, {})
        self._apply(attrs, decisions.evaluate_pod(
            policy, causes, meta, spec, enforce=True, exemptions=self.config.exemptions,
            evaluator=self.evaluator))

    def _workload(self, attrs: Attributes, obj: dict[str, Any]) -> None:
        if attrs.subresource or self._exempt(attrs):
            return
        found = self._namespace_policy(attrs)
        if found is None:
            return
        policy, causes = found
        if not causes and policy.warn.level == policy.audit.level == pss.PRIVILEGED:
            return
        template = pod_spec_of(attrs.resource.key, obj)
        if template is None:
            return
        self._apply(attrs, decisions.evaluate_pod(
            policy, causes, template[0], template[1], enforce=False,
            exemptions=self.config.exemptions, evaluator=self.evaluator))

    def _apply(self, attrs: Attributes, decision: decisions.Decision) -> None:
        for key, value in decision.annotations.items():
            attrs.annotate(ANNOTATION_DOMAIN, key, value)
        if decision.denied is not None:
            rt = attrs.resource
            raise errors.Forbidden(f'{rt.group_resource} "{attrs.name}" is forbidden: '
                                   f"{decision.denied}", name=attrs.name, group=rt.group,
                                   kind=rt.plural)
        attrs.warnings += decision.warnings


def _labels(obj: Mapping[str, Any]) -> dict[str, str]:
    labels = (obj.get("metadata") or {}).get("labels")
    return labels if isinstance(labels, dict) else {}
