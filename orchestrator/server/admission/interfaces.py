"""What an admission plugin sees (`Attributes`) and what it implements (the Protocols).

The shapes follow kube-apiserver's `k8s.io/apiserver/pkg/admission` (Attributes,
MutationInterface, ValidationInterface): a plugin names the resources and operations it
handles, and the chain calls it only for those.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from orchestrator.api.kinds import ResourceType
from orchestrator.api.rbac import UserInfo
from orchestrator.store import Change, Store


class Operation(str, enum.Enum):
    """The admission operations, spelled as Kubernetes spells them."""

    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    CONNECT = "CONNECT"


@dataclass
class Attributes:
    """One request as admission sees it.

    `obj` is the object being written (None for DELETE and CONNECT); mutating plugins change
    it in place. `old` is the stored object for UPDATE and DELETE. `user` is who asked (None
    for writes the server makes itself, such as bootstrap). Plugins report back through
    `warnings` (sent as `Warning` headers, which kubectl prints as `Warning: ...`) and
    `audit_annotations` (recorded in the audit log); they reject a request by raising an
    `orchestrator.api.errors.APIError` (usually `Forbidden`). A validating plugin whose
    decision must be recorded with the write (the ResourceQuota plugin's charge to a quota's
    `status.used`) adds store changes to `commit_with`: the object service commits them in
    the same transaction as the object, and drops them if the request fails.
    """

    resource: ResourceType
    operation: Operation
    namespace: str
    name: str
    obj: dict[str, Any] | None
    old: dict[str, Any] | None = None
    subresource: str = ""
    user: UserInfo | None = None
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)
    audit_annotations: dict[str, str] = field(default_factory=dict)
    commit_with: list[Change] = field(default_factory=list)

    @property
    def user_name(self) -> str:
        return self.user.name if self.user is not None else ""

    def annotate(self, plugin: str, key: str, value: str) -> None:
        """An audit annotation, namespaced by the plugin as kube-apiserver does
        (`pod-security.kubernetes.io/audit-violations`)."""
        self.audit_annotations[f"{plugin}/{key}"] = value


@dataclass(frozen=True)
class PluginContext:
    """What plugins are built from: read access to the store, and their configuration by
    plugin name (`AdmissionConfig.plugins`)."""

    store: Store
    config: dict[str, Any] = field(default_factory=dict)


class Plugin(Protocol):
    """Every plugin: a name and the requests it handles.

    `resources` holds resource keys (`ResourceType.key`: "/pods", "apps/deployments") or
    is None for every resource; `operations` the operations. The chain looks these up once
    per (resource, operation), so a request no plugin handles costs one dict lookup.
    """

    name: str
    resources: frozenset[str] | None
    operations: frozenset[Operation]


@runtime_checkable
class MutationInterface(Plugin, Protocol):
    """A plugin that may change the object (defaulting from cluster state)."""

    def admit(self, attrs: Attributes) -> None: ...


@runtime_checkable
class ValidationInterface(Plugin, Protocol):
    """A plugin that may only accept or reject, after the object passed schema validation."""

    def validate(self, attrs: Attributes) -> None: ...
