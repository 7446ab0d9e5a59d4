"""What the API serves of one resource: `ResourceType`, the served shape of a kind.

A built-in kind's `ResourceType` is declared with its behaviour, in its strategy
(`orchestrator.api.strategy.Strategy.resource_type`); custom resources get theirs from
their CustomResourceDefinition (`orchestrator.api.kinds.resource_types_from_crd`). This
module imports nothing of the API's, so every module can name the type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
NO_COLLECTION_VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")
READ_ONLY_VERBS = ("get", "list", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()
    # Custom resources only: the version's schema, printer columns and scale paths.
    crd_schema: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    printer_columns: tuple[dict[str, Any], ...] = field(default=(), compare=False, hash=False)
    scale_paths: tuple[str, str, str] = (".spec.replicas", ".status.replicas", "")
    storage_version: bool = True
    custom: bool = False

    @cached_property  # asked many times a request; a frozen type never changes
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @cached_property  # asked many times a request; a frozen type never changes
    def group_resource(self) -> str:
        """`deployments.apps`, or `pods` for the core group: the name errors use."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @cached_property  # asked many times a request; a frozen type never changes
    def key(self) -> str:
        """Storage key shared by every version of the same resource."""
        return f"{self.group}/{self.plural}"

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def returns_deleted_object(self) -> bool:
        """Whether DELETE answers with the object rather than a Status Success (the
        registry's `ReturnDeletedObject`), as the kind's strategy says."""
        # Imported here: the strategies are built on this module's types.
        from orchestrator.api import strategies

        return strategies.for_resource(self).returns_deleted_object
