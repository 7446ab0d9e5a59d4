"""A kind's behaviour in one value: kube-apiserver's `pkg/registry/<group>/<kind>/strategy.go`.

A `Strategy` carries one built-in kind: what the API serves of it (version, scope, short
names, categories, verbs, subresources: its `resource_type`, from which
`orchestrator.api.kinds.BUILTIN_TYPES` is derived) and what the API server does for it
beyond the generic verbs: its defaults, its semantic validation (run on create and on update), the status a
new object starts with, its Table printer and field selectors, and the preparation steps of
create, update and delete. The generic code looks a kind up (`orchestrator.api.strategies`:
by resource key, or by group and kind) and calls the hooks; it has no per-kind branches.

The rules themselves stay in the modules that know them (`defaults`, `validation`,
`table_*`, `certificates`, ...), as kube's strategies call `pkg/apis/<group>/validation`;
a strategy names them. Hooks that need the server (the store, the plane's ranges, the
requesting user) get a `Context`, which the server supplies: `api/` does no I/O.

Order in a create (server/objects.py): initial status, `defaults`, mutating admission,
`prepare_for_create`, schema validation and `validate`, validating admission, commit,
`after_write`. In an update: `prepare_for_update` (on the merged object), `defaults`,
mutating admission, `begin_update`, validation, validating admission, `on_update` (only
when the object changes), commit, `after_write`. In a delete: `grace_period`,
`delete_finalizers`, `prepare_for_delete` (on the object marked for deletion), commit,
`after_mark_deleted`; `after_delete` once the object is gone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from orchestrator.api.errors import Cause
from orchestrator.api.rbac import UserInfo
from orchestrator.api.resource_type import ALL_VERBS, ResourceType
from orchestrator.api.table_cells import Printer

Obj = dict[str, Any]
# Categories kube's registries give (kubectl get all, kubectl get api-extensions).
ALL = ("all",)
EXTENSIONS = ("api-extensions",)
Defaulter = Callable[[Obj], None]
Rule = Callable[[Mapping[str, Any]], list[Cause]]
FieldGetter = Callable[[Mapping[str, Any]], str]


class Context(Protocol):
    """What the server lends a strategy's hooks for one request."""

    @property
    def user(self) -> UserInfo | None:
        """Who asked; None for the server's own writes."""

    def now(self) -> str:
        """The request's time, RFC 3339."""

    def get(self, key: str, namespace: str, name: str) -> Obj | None:
        """A stored object by resource key (`ResourceType.key`), or None."""

    def assign_cluster_ip(self, service: Obj) -> None:
        """Give a new Service its cluster IP and node ports from the plane's ranges."""

    def keep_cluster_ip(self, new: Obj, old: Obj) -> None:
        """Keep a Service's allocated cluster IP and node ports through an update."""

    def serve_custom(self, crd: Obj) -> None:
        """Start (or update) serving a CustomResourceDefinition's resources."""

    def drop_custom(self, crd: Obj) -> None:
        """Stop serving a deleted CustomResourceDefinition's resources, and remove them."""

    def finalize_namespace(self, name: str) -> None:
        """Empty a Namespace marked for deletion and release its `kubernetes` finalizer."""


def _no_rule(obj: Mapping[str, Any]) -> list[Cause]:
    return []


def _no_defaults(obj: Obj) -> None:
    return None


def _create_as_is(obj: Obj, ctx: Context) -> None:
    return None


def _update_as_merged(current: Obj, new: Obj, merged: Obj, subresource: str,
                      ctx: Context) -> Obj:
    return merged


def _begin_update_as_is(merged: Obj, current: Obj, subresource: str, ctx: Context) -> None:
    return None


def _object_as_is(obj: Obj, ctx: Context) -> None:
    return None


def _no_grace(obj: Obj, requested: int | None, ctx: Context) -> int:
    return 0


def _no_finalizers(obj: Obj) -> list[str]:
    return []


def _delete_as_is(obj: Obj) -> None:
    return None


@dataclass(frozen=True)
class Strategy:
    """One built-in kind's behaviour; every hook defaults to doing nothing."""

    group: str  # "" for the core group
    kind: str
    plural: str
    # What discovery says of the resource (kube's registry: NamespaceScoped, ShortNames,
    # Categories, the verbs its storage implements, its subresources' storage).
    version: str = "v1"
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()
    # Fill in what is missing, in place (pkg/apis/<group>/v1/defaults.go).
    defaults: Defaulter = _no_defaults
    # The rule metadata.name follows (orchestrator.api.names: "dns1123-subdomain",
    # "dns1123-label", "dns1035-label", "path-segment").
    name_rule: str = "dns1123-subdomain"
    # Hand-written rules beyond the schema, on create and on update (Validate and
    # ValidateUpdate say the same for every kind so far).
    validate: Rule = _no_rule
    # Schema-required fields, as (definition, field), whose absence `validate` reports in
    # kube's own words instead of the schema walk's "Required value".
    required_checked_here: frozenset[tuple[str, str]] = frozenset()
    # Columns for `kubectl get`; None prints NAME and CREATED AT.
    printer: Printer | None = None
    # The kind's own field-label conversion (AddFieldLabelConversionFunc): field name ->
    # getter; None accepts metadata.name and metadata.namespace only.
    fields: Mapping[str, FieldGetter] | None = None
    # Field label as clients write it -> field name, where they differ from the names.
    field_labels: Mapping[str, str] | None = None
    # The `status` a new object starts with (a struct clients read before any controller
    # writes it); None drops whatever status the create sent.
    initial_status: Mapping[str, Any] | None = None
    # Whether a create keeps the status it sent (a kubelet registers its Node with its
    # capacity in one create).
    keeps_status_on_create: bool = False
    # PrepareForCreate: after mutating admission, before validation.
    prepare_for_create: Callable[[Obj, Context], None] = _create_as_is
    # PrepareForUpdate: (current, new, merged, subresource) -> the object to store.
    prepare_for_update: Callable[[Obj, Obj, Obj, str, Context], Obj] = _update_as_merged
    # After mutating admission, before validation: (merged, current, subresource).
    begin_update: Callable[[Obj, Obj, str, Context], None] = _begin_update_as_is
    # An update that changes the object, before it is stored.
    on_update: Callable[[Obj, Context], None] = _object_as_is
    # After the object is stored by a create or an update.
    after_write: Callable[[Obj, Context], None] = _object_as_is
    # Seconds a delete waits for the object's owner (a Pod's kubelet); 0 deletes now.
    grace_period: Callable[[Obj, int | None, Context], int] = _no_grace
    # Finalizers a delete adds beside metadata.finalizers (a Namespace's spec.finalizers).
    delete_finalizers: Callable[[Obj], list[str]] = _no_finalizers
    # The object marked for deletion, before it is stored.
    prepare_for_delete: Callable[[Obj], None] = _delete_as_is
    # After the object marked for deletion is stored.
    after_mark_deleted: Callable[[Obj, Context], None] = _object_as_is
    # After the object is removed from the store.
    after_delete: Callable[[Obj, Context], None] = _object_as_is
    # The aggregated namespace roles that grant the kind, as (role, verbs): ("edit", "create
    # delete ...") puts a rule for it in system:aggregate-to-edit (bootstrappolicy's
    # per-kind rules; the kinds listed in orchestrator.api.rbac_defaults keep theirs there).
    grants: tuple[tuple[str, str], ...] = ()
    # Whether DELETE answers with the object, as the kind's OpenAPI operation declares and
    # typed clients decode it (the registry's ReturnDeletedObject); otherwise a Status
    # Success once the object is gone.
    returns_deleted_object: bool = False

    @property
    def key(self) -> str:
        """The resource key (`ResourceType.key`) the server looks the strategy up by."""
        return f"{self.group}/{self.plural}"

    @property
    def resource_type(self) -> ResourceType:
        """The resource the API serves for this kind."""
        return ResourceType(
            group=self.group, version=self.version, kind=self.kind, plural=self.plural,
            singular=self.kind.lower(), namespaced=self.namespaced,
            short_names=self.short_names, categories=self.categories, verbs=self.verbs,
            subresources=self.subresources)


# What custom resources and built-in kinds without a module of their own get.
GENERIC = Strategy(group="", kind="", plural="")
