"""Admission: a chain of small plugins in a fixed order, as kube-apiserver runs them.

A write reaches admission after decoding and defaulting. `ObjectService` builds one
`Attributes` per write (resource, operation CREATE/UPDATE/DELETE/CONNECT, namespace, name,
subresource, the object and the stored one, the requesting user, dry-run) and runs:

1. the mutating phase, `Chain.admit`: every plugin with an `admit(attrs)` method, in
   order; they may change `attrs.obj` in place;
2. the kind's own preparation (its strategy's `prepare_for_create` or `begin_update`,
   `orchestrator.api.strategies`) and validation (schema, then the strategy's `validate`);
3. the validating phase, `Chain.validate`: every plugin with `validate(attrs)`, in the same
   order; they may not change the object.

A plugin rejects a request by raising an `orchestrator.api.errors.APIError` (kube's
plugins answer `Forbidden`, 403, with `<resource> "<name>" is forbidden: <why>`), warns by
appending to `attrs.warnings` (sent as `Warning: 299` headers), and records audit
annotations with `attrs.annotate(...)`.

Writing a plugin:

- a module here with a class that has `name`, `resources` (resource keys such as "/pods",
  or None for all), `operations` (a frozenset of `Operation`) and `admit` and/or
  `validate`; its constructor takes a `PluginContext` (the store for reads, and
  `ctx.config[name]`, the plugin's configuration from `AdmissionConfig`);
- one line in `chain.ORDERED_PLUGINS`, where Kubernetes orders it.

Plugins read cluster state from the store but never write it: a rejected request must
leave nothing behind. What a validating plugin must record with an accepted write (the
ResourceQuota plugin's charge to a quota's `status.used`) goes into `attrs.commit_with`,
which the object service commits in the same store transaction as the object. Plugins run
on the event loop, so they must not block; nothing awaits between admission and the commit,
which makes check-then-charge atomic.
"""

from orchestrator.server.admission.chain import ORDERED_PLUGINS, Chain, PluginFactory
from orchestrator.server.admission.interfaces import (
    Attributes,
    MutationInterface,
    Operation,
    Plugin,
    PluginContext,
    ValidationInterface,
)

__all__ = [
    "ORDERED_PLUGINS",
    "Attributes",
    "Chain",
    "MutationInterface",
    "Operation",
    "Plugin",
    "PluginContext",
    "PluginFactory",
    "ValidationInterface",
]
