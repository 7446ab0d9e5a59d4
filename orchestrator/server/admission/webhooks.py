"""The MutatingAdmissionWebhook and ValidatingAdmissionWebhook plugins.

The last mutating plugin calls the MutatingWebhookConfigurations' webhooks one after the
other (configurations by name, webhooks in order); a webhook's JSONPatch is applied to the
object, which is defaulted again and, like every admitted object, validated afterwards.
With `reinvocationPolicy: IfNeeded` a webhook is called once more when a later webhook
changed the object after it ran (kube reinvokes in-tree plugins too; ours ran before and
are not). The validating plugin, after every validating plugin but ResourceQuota, calls
the ValidatingWebhookConfigurations' matching webhooks at once; the first refusal in order
wins.

Calls happen between rounds of the verb (`webhook_rounds`); these plugins only decide what
to send and apply what came back. `failurePolicy: Ignore` lets a request through a webhook
that cannot be called or answers nonsense (an audit annotation `failed-open...` records
it); `Fail` (the default) answers 500 `Internal error occurred: failed calling webhook`.
A dry-run request reaches only webhooks with `sideEffects: None` or `NoneOnDryRun`; any
other makes it 400. `matchConditions` (CEL) are not evaluated: such webhooks are called
whenever their rules match.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any, Mapping

from orchestrator.api import admission_review as ar
from orchestrator.api import defaults, errors, patch
from orchestrator.api.jsoncopy import json_copy
from orchestrator.api.webhook_rules import (
    Request,
    Webhook,
    compile_configurations,
    is_exempt,
    matched_version,
    namespace_matches,
    object_matches,
    review_version,
)
from orchestrator.server.admission import webhook_pins
from orchestrator.server.admission import webhook_rounds as rounds
from orchestrator.server.admission.interfaces import Attributes, Operation, PluginContext
from orchestrator.server.admission.webhook_rounds import NeedsWebhooks, PendingCall
from orchestrator.store import Event, Store

log = logging.getLogger(__name__)

MUTATING_NAME = "MutatingAdmissionWebhook"
VALIDATING_NAME = "ValidatingAdmissionWebhook"
MUTATING_KEY = "admissionregistration.k8s.io/mutatingwebhookconfigurations"
VALIDATING_KEY = "admissionregistration.k8s.io/validatingwebhookconfigurations"
CRD_KEY = "apiextensions.k8s.io/customresourcedefinitions"
MUTATION_ANNOTATION = "mutation.webhook.admission.k8s.io"
FAILED_OPEN_MUTATING = "failed-open.mutation.webhook.admission.k8s.io"
FAILED_OPEN_VALIDATING = "failed-open.validating.webhook.admission.k8s.io"
_ALL_OPERATIONS = frozenset({Operation.CREATE, Operation.UPDATE, Operation.DELETE,
                             Operation.CONNECT})
# Server-set on create after mutating admission in kube: not shown to mutating webhooks.
_SET_AFTER_MUTATION = ("uid", "creationTimestamp", "generation")
_FIXED = ("apiVersion", "kind")


class WebhookSource:
    """The compiled webhooks of one configuration kind, rebuilt after any change."""

    def __init__(self, store: Store, key: str, mutating: bool) -> None:
        self.store = store
        self.key = key
        self.mutating = mutating
        self._hooks: list[Webhook] | None = None
        store.subscribe(self._on_change)

    def _on_change(self, event: Event) -> None:
        if event.resource == self.key:
            self._hooks = None

    def hooks(self) -> list[Webhook]:
        if self._hooks is None:
            self._hooks = compile_configurations(self.store.objects(self.key), self.mutating)
        return self._hooks


# --- what both plugins need ---------------------------------------------------------------
def _request(attrs: Attributes) -> Request:
    rt = attrs.resource
    namespace = attrs.name if rt.key == "/namespaces" else attrs.namespace
    return Request(rt.group, rt.version, rt.plural, attrs.subresource, rt.kind, namespace,
                   attrs.operation.value, rt.namespaced)


def _namespace_labels(store: Store, attrs: Attributes, request: Request
                      ) -> Mapping[str, str] | None:
    if request.is_namespace and attrs.obj is not None and not attrs.subresource:
        return (attrs.obj.get("metadata") or {}).get("labels") or {}
    if not request.namespace:
        return None
    ns = store.get("/namespaces", "", request.namespace)
    return ((ns or {}).get("metadata") or {}).get("labels") or {}


def _equivalent_versions(store: Store, attrs: Attributes) -> list[str]:
    """Other served versions of the same resource (custom resources' CRD versions)."""
    rt = attrs.resource
    if not rt.custom:
        return []
    for crd in store.objects(CRD_KEY):
        spec = crd.get("spec") or {}
        if spec.get("group") == rt.group and (spec.get("names") or {}).get("plural") \
                == rt.plural:
            return [str(v.get("name")) for v in spec.get("versions") or []
                    if isinstance(v, dict) and v.get("served")]
    return []


def _invocations(store: Store, hooks: list[Webhook], attrs: Attributes
                 ) -> list[tuple[int, Webhook, str]]:
    """(index, webhook, version sent) of the webhooks this request calls."""
    request = _request(attrs)
    labels = _namespace_labels(store, attrs, request)
    equivalents: list[str] | None = None
    out = []
    for index, hook in enumerate(hooks):
        if not namespace_matches(hook, request, labels):
            continue
        if not object_matches(hook, attrs.obj, attrs.old):
            continue
        if equivalents is None:
            equivalents = _equivalent_versions(store, attrs)
        version = matched_version(hook, request, equivalents)
        if version is not None:
            out.append((index, hook, version))
    return out


def _as_version(obj: dict[str, Any] | None, attrs: Attributes, version: str
                ) -> dict[str, Any] | None:
    if obj is None or version == attrs.resource.version:
        return obj
    group = attrs.resource.group
    return {**obj, "apiVersion": f"{group}/{version}" if group else version}


def _review(attrs: Attributes, hook: Webhook, version: str, obj: dict[str, Any] | None
            ) -> tuple[str, str, dict[str, Any]] | None:
    """(review version, uid, AdmissionReview) for one call, or None when the webhook
    takes no AdmissionReview version sent here."""
    review_v = review_version(hook)
    if review_v is None:
        return None
    rt = attrs.resource
    uid = str(uuid.uuid4())
    user = attrs.user
    user_obj = ar.user_info(user.name, user.uid, user.groups, user.extra) if user else \
        {"username": ""}
    state = rounds.current()
    sent_with = state.options if state is not None else rounds.RequestOptions()
    opts = ar.operation_options(attrs.operation.value, patch=sent_with.patch,
                                field_manager=sent_with.field_manager, dry_run=attrs.dry_run,
                                delete_options=sent_with.delete)
    kind = {"group": rt.group, "version": version, "kind": rt.kind}
    resource = {"group": rt.group, "version": version, "resource": rt.plural}
    request_namespace = attrs.name if rt.key == "/namespaces" else attrs.namespace
    body = ar.review(
        review_v, uid, kind=kind, resource=resource, subresource=attrs.subresource,
        request_kind={"group": rt.group, "version": rt.version, "kind": rt.kind},
        request_resource={"group": rt.group, "version": rt.version, "resource": rt.plural},
        name=attrs.name, namespace=request_namespace, operation=attrs.operation.value,
        user=user_obj, obj=_as_version(obj, attrs, version),
        old=_as_version(attrs.old, attrs, version), dry_run=attrs.dry_run, options=opts)
    return review_v, uid, body


def _dry_run_check(attrs: Attributes, hook: Webhook) -> str:
    """Raise for a dry run the webhook cannot take; a failure text when its sideEffects
    is unset (a call failure, so failurePolicy applies), else ""."""
    if not attrs.dry_run:
        return ""
    if hook.side_effects is None:
        return "Webhook SideEffects is nil"
    if hook.side_effects not in ("None", "NoneOnDryRun"):
        raise ar.dry_run_unsupported(hook.name)
    return ""


def _pending(attrs: Attributes, hook: Webhook, version: str, obj: dict[str, Any] | None,
             tag: str) -> tuple[PendingCall | None, rounds.Outcome | None]:
    """The call to make (when unanswered) and its outcome (when answered)."""
    made = _review(attrs, hook, version, obj)
    if made is None:
        return None, rounds.Outcome(failure="could not create admission objects: webhook "
                                            "does not accept known AdmissionReview versions "
                                            "(v1, v1beta1)")
    review_v, uid, body = made
    state = rounds.current()
    assert state is not None
    key = rounds.request_key(hook, tag, body)
    outcome = state.outcomes.get(key)
    if outcome is not None:
        return None, outcome
    return PendingCall(key, hook, body, uid, review_v), None


def _use_answer(attrs: Attributes, hook: Webhook, answer: ar.Answer) -> None:
    state = rounds.current()
    assert state is not None
    for key, value in answer.audit_annotations.items():
        attrs.annotate(hook.name, key, value)
    state.warnings.extend(_printable(w) for w in answer.warnings if w)
    if not answer.allowed:
        raise ar.denial(hook.name, answer.result)


def _printable(warning: str) -> str:
    """A webhook's warning as a Warning header can carry it: control characters become
    spaces, and it is cut at 256 characters (kube's warning length limit)."""
    text = "".join(c if c.isprintable() else " " for c in warning)
    return text if len(text) <= 256 else text[:253] + "..."


# --- mutating -----------------------------------------------------------------------------
class MutatingAdmissionWebhook:
    name = MUTATING_NAME
    resources: frozenset[str] | None = None
    operations = _ALL_OPERATIONS

    def __init__(self, ctx: PluginContext) -> None:
        self.store = ctx.store
        self.source = WebhookSource(ctx.store, MUTATING_KEY, mutating=True)
        self.validating = WebhookSource(ctx.store, VALIDATING_KEY, mutating=False)

    def admit(self, attrs: Attributes) -> None:
        if rounds.current() is None or is_exempt(attrs.resource.group, attrs.resource.kind):
            return
        hooks = self.source.hooks()
        if not hooks and not self.validating.hooks():
            return
        if attrs.operation == Operation.CREATE:
            webhook_pins.pin_created(self.store, attrs)
        if hooks:
            self._dispatch(attrs, hooks)

    def _dispatch(self, attrs: Attributes, hooks: list[Webhook]) -> None:
        invoked: set[str] = set()  # IfNeeded webhooks called since the last change
        reinvoke: set[str] = set()
        should_reinvoke = False
        for round_no in (0, 1):
            if round_no == 1 and not should_reinvoke:
                return
            for index, hook, version in _invocations(self.store, hooks, attrs):
                if round_no == 1 and hook.uid not in reinvoke:
                    continue
                changed = self._call(attrs, hook, version, round_no, index)
                if changed:
                    reinvoke |= invoked
                    invoked.clear()
                    should_reinvoke = True
                if hook.reinvocation_policy == "IfNeeded":
                    invoked.add(hook.uid)

    def _call(self, attrs: Attributes, hook: Webhook, version: str, round_no: int,
              index: int) -> bool:
        """Call (or replay) one webhook; whether it changed the object."""
        tag = f"round_{round_no}_index_{index}"
        failure = _dry_run_check(attrs, hook)
        sent = _shown_to_mutating(attrs)
        outcome: rounds.Outcome | None = rounds.Outcome(failure=failure) if failure else None
        if outcome is None:
            call, outcome = _pending(attrs, hook, version, sent, tag)
            if call is not None:
                raise NeedsWebhooks([call])
        assert outcome is not None
        if outcome.answer is None:
            return self._failed(attrs, hook, tag, outcome.failure)
        _use_answer(attrs, hook, outcome.answer)
        changed = False
        if outcome.answer.patch:
            changed = _apply_patch(attrs, hook, sent, outcome.answer.patch, version)
        attrs.annotate(MUTATION_ANNOTATION, tag, json.dumps(
            {"configuration": hook.configuration, "webhook": hook.name, "mutated": changed},
            separators=(",", ":")))
        return changed

    def _failed(self, attrs: Attributes, hook: Webhook, tag: str, failure: str) -> bool:
        if not hook.ignores_failures:
            log.warning("Failed calling webhook, failing closed %s: %s", hook.name, failure)
            raise ar.call_failure(hook.name, failure)
        log.warning("Failed calling webhook, failing open %s: %s", hook.name, failure)
        attrs.annotate(FAILED_OPEN_MUTATING, tag, hook.name)
        return False


def _shown_to_mutating(attrs: Attributes) -> dict[str, Any] | None:
    """The object as a mutating webhook sees it: on create, before the server set its
    uid, creation time and generation."""
    if attrs.obj is None:
        return None
    if attrs.operation != Operation.CREATE:
        return attrs.obj
    shown = dict(attrs.obj)
    shown["metadata"] = {k: v for k, v in (attrs.obj.get("metadata") or {}).items()
                         if k not in _SET_AFTER_MUTATION}
    return shown


def _apply_patch(attrs: Attributes, hook: Webhook, sent: dict[str, Any] | None,
                 operations: list[Any], version: str) -> bool:
    obj = attrs.obj
    if obj is None or sent is None:
        raise errors.InternalError(
            f'Internal error occurred: admission webhook "{hook.name}" attempted to modify '
            "the object, which is not supported for this operation")
    before = _as_version(sent, attrs, version)
    assert before is not None
    try:
        patched = patch.json_patch(before, operations)
    except errors.APIError as err:
        detail = err.causes[0].message if err.causes else err.message
        raise errors.InternalError(f"Internal error occurred: {detail}") from None
    if patch.json_equal(patched, before):
        return False
    for key in _FIXED:
        if patched.get(key) != before.get(key):
            raise errors.InternalError(
                f'Internal error occurred: admission webhook "{hook.name}" changed the '
                f"object's {key}")
    md = patched.get("metadata")
    old_md = before.get("metadata") or {}
    if not isinstance(md, dict) or md.get("name") != old_md.get("name") \
            or md.get("namespace") != old_md.get("namespace"):
        raise errors.InternalError(
            f'Internal error occurred: admission webhook "{hook.name}" changed the '
            "object's name or namespace")
    for key in _SET_AFTER_MUTATION:  # put back what the webhook was not shown
        if key in (obj.get("metadata") or {}) and key not in old_md:
            md[key] = obj["metadata"][key]
    patched["apiVersion"] = obj.get("apiVersion")
    defaults.apply_defaults(patched, attrs.resource)
    obj.clear()
    obj.update(patched)
    return True


# --- validating ---------------------------------------------------------------------------
class ValidatingAdmissionWebhook:
    name = VALIDATING_NAME
    resources: frozenset[str] | None = None
    operations = _ALL_OPERATIONS

    def __init__(self, ctx: PluginContext) -> None:
        self.store = ctx.store
        self.source = WebhookSource(ctx.store, VALIDATING_KEY, mutating=False)

    def validate(self, attrs: Attributes) -> None:
        if rounds.current() is None or is_exempt(attrs.resource.group, attrs.resource.kind):
            return
        hooks = self.source.hooks()
        if not hooks:
            return
        if attrs.operation == Operation.CREATE:
            webhook_pins.record_allocated(attrs)
        invocations = _invocations(self.store, hooks, attrs)
        calls: list[PendingCall] = []
        outcomes: list[tuple[int, Webhook, rounds.Outcome | None]] = []
        for index, hook, version in invocations:
            failure = _dry_run_check(attrs, hook)
            if failure:
                outcomes.append((index, hook, rounds.Outcome(failure=failure)))
                continue
            call, outcome = _pending(attrs, hook, version, attrs.obj, "validating")
            if call is not None:
                calls.append(call)
            outcomes.append((index, hook, outcome))
        if calls:
            raise NeedsWebhooks(calls)
        for index, hook, outcome in outcomes:
            assert outcome is not None
            if outcome.answer is None:
                if not hook.ignores_failures:
                    log.warning("Failed calling webhook, failing closed %s: %s", hook.name,
                                outcome.failure)
                    raise ar.call_failure(hook.name, outcome.failure)
                log.warning("Failed calling webhook, failing open %s: %s", hook.name,
                            outcome.failure)
                attrs.annotate(FAILED_OPEN_VALIDATING, f"round_0_index_{index}", hook.name)
                continue
            _use_answer(attrs, hook, outcome.answer)
