"""How admission webhooks are called without breaking the object service's atomic verbs.

Every verb of `ObjectService` re-reads the store, runs admission and commits without
awaiting, so that it is atomic on the event loop. A webhook call has to await. So the HTTP
handlers run a write through `admitted(verb, caller)`, in rounds:

1. the verb runs; when a webhook plugin needs an answer it has not got yet, it raises
   `NeedsWebhooks` with the AdmissionReviews to send (the next mutating webhook, or every
   matching validating webhook at once, as kube calls those in parallel). Nothing has been
   written: plugins run before any commit;
2. the calls are made (concurrently, each within its `timeoutSeconds`, off the event
   loop's critical path), their outcomes remembered by a digest of what was sent;
3. the verb runs again from scratch; answered webhooks replay their answers, and so on
   until the verb completes or fails.

An answer is reused only for the very request it answered: if the stored object changed
between rounds (another writer), the request differs and the webhook is called again — the
retry kube-apiserver's GuaranteedUpdate makes on a conflict. Values the server draws at
random on create (uid, generated name, cluster IP) and the creation time are pinned after
the first round, so that the request a validating webhook judged is the one stored.

Writes made without `admitted` (the server's own: bootstrap, namespace finalization) see
no webhooks, as `current()` is None for them.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Protocol, TypeVar

from orchestrator.api import errors
from orchestrator.api.admission_review import Answer
from orchestrator.api.webhook_rules import Webhook

T = TypeVar("T")
# Mutating webhooks are answered one per round; validating ones all in one round; a
# second of clock moving or a concurrent writer may cost a round more.
MAX_ROUNDS = 64


@dataclass(frozen=True)
class PendingCall:
    """One AdmissionReview to send."""

    key: str
    hook: Webhook
    review: dict[str, Any]
    uid: str
    version: str  # of AdmissionReview

    @property
    def mutating(self) -> bool:
        return self.hook.mutating


@dataclass(frozen=True)
class Outcome:
    """What calling a webhook gave: a verified answer, or why the call failed (the text
    after `failed calling webhook "<name>": `)."""

    answer: Answer | None = None
    failure: str = ""


class NeedsWebhooks(Exception):
    """Raised by a webhook plugin inside a verb: these calls must be made first."""

    def __init__(self, calls: list[PendingCall]) -> None:
        super().__init__(f"{len(calls)} admission webhook call(s) pending")
        self.calls = calls


@dataclass(frozen=True)
class RequestOptions:
    """What the request said beside its body, for `request.options` (a PATCH is sent as
    UPDATE with PatchOptions, or as CREATE when it creates)."""

    patch: bool = False
    field_manager: str = ""
    delete: dict[str, Any] | None = None  # DeleteOptions fields as sent


@dataclass
class RequestRounds:
    """The webhook state of one API request, across its rounds."""

    options: RequestOptions = field(default_factory=RequestOptions)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    # Server-drawn values of a created object, by plugin-chosen key (see webhooks.py).
    pins: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Warnings of the answers used in this round (the last round's are sent).
    warnings: list[str] = field(default_factory=list)


_CURRENT: contextvars.ContextVar[RequestRounds | None] = contextvars.ContextVar(
    "admission_webhook_rounds", default=None)


def current() -> RequestRounds | None:
    """The rounds of the request being admitted, or None (server-internal writes)."""
    return _CURRENT.get()


def request_key(hook: Webhook, tag: str, review: dict[str, Any]) -> str:
    """Names one request to one webhook: everything sent but the review's uid (new per
    call), the webhook and its configuration's revision."""
    request = dict(review.get("request") or {})
    request.pop("uid", None)
    text = json.dumps([hook.uid, hook.revision, tag, review.get("apiVersion"), request],
                      sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class Caller(Protocol):
    def call(self, pending: PendingCall) -> Awaitable[Outcome]: ...


async def admitted(verb: Callable[[], T], caller: Caller,
                   options: RequestOptions | None = None) -> tuple[T, list[str]]:
    """Run `verb` until no webhook answer is missing; its result and the webhooks'
    warnings. An APIError raised by the verb carries the warnings as `.warnings`."""
    state = RequestRounds(options=options or RequestOptions())
    token = _CURRENT.set(state)
    try:
        for _ in range(MAX_ROUNDS):
            state.warnings = []
            try:
                return verb(), list(state.warnings)
            except NeedsWebhooks as need:
                outcomes = await asyncio.gather(*(caller.call(c) for c in need.calls))
                for pending, outcome in zip(need.calls, outcomes):
                    state.outcomes[pending.key] = outcome
            except errors.APIError as err:
                if state.warnings:
                    err.warnings = list(state.warnings)  # type: ignore[attr-defined]
                raise
        raise errors.InternalError(
            "Internal error occurred: admission webhooks did not settle: the object kept "
            "changing between calls")
    finally:
        _CURRENT.reset(token)
