"""Object semantics of the API server: the verbs as Kubernetes defines them.

Every verb re-reads the current object from the store, checks preconditions and commits,
without awaiting in between; since the store is used from the event loop only, each verb is
atomic. Handlers in `http.py` only translate HTTP to calls here; errors are raised as
`orchestrator.api.errors` and rendered in one place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

from orchestrator.api.jsoncopy import json_copy
from orchestrator.api import apply as ssa
from orchestrator.api import defaults, errors, meta, patch, schemas, strategies, validation
from orchestrator.api.kinds import Registry, ResourceType, resource_types_from_crd
from orchestrator.api.rbac import UserInfo
from orchestrator.api.selectors import parse_field_selector, parse_label_selector
from orchestrator.planeranges import DEFAULT_RANGES, PlaneRanges
from orchestrator.server import allocation, namespaces
from orchestrator.server.admission import Attributes, Chain, Operation, PluginContext
from orchestrator.store import Change, Store

log = logging.getLogger(__name__)

CRD_KEY = "apiextensions.k8s.io/customresourcedefinitions"
NAMESPACE_KEY = "/namespaces"

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
APPLY_PATCH_CBOR = "application/apply-patch+cbor"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH)

# Fields of metadata the server owns: user writes to them are ignored, as in Kubernetes.
_SYSTEM_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                "generation", "selfLink")


@dataclass
class WriteOptions:
    """What a write request says beside its body (query parameters)."""

    field_manager: str = ""
    dry_run: bool = False
    field_validation: str = "Warn"
    force: bool = False
    user_agent: str = ""
    # Keys that appeared twice in the JSON body: a 400 under Strict, warnings under Warn.
    duplicates: list[str] = field(default_factory=list)
    for_patch: bool = False
    # Who asked (admission plugins see it); None for the server's own writes.
    user: UserInfo | None = None

    @property
    def manager(self) -> str:
        if self.field_manager:
            return self.field_manager
        # Kubernetes derives the default manager from the User-Agent's program name.
        return (self.user_agent.split("/", 1)[0] or "unknown")[:128]


@dataclass
class DeleteOptions:
    grace_period: int | None = None
    propagation: str | None = None  # Foreground | Background | Orphan
    precondition_uid: str | None = None
    precondition_rv: str | None = None
    dry_run: bool = False
    user: UserInfo | None = None
    # `orphanDependents` as sent (None when absent): an explicit false makes a delete that
    # has not finished yet answer 202 Accepted, as kube-apiserver does.
    orphan_dependents: bool | None = None


@dataclass
class Result:
    obj: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    created: bool = False
    # Admission's changes to commit with the object (`create(commit=False)` hands them on).
    commit_with: list[Change] = field(default_factory=list)


class ObjectService:
    """The verbs over the store, with Kubernetes' semantics."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        admission: Chain | None = None,
        ranges: PlaneRanges = DEFAULT_RANGES,
    ) -> None:
        self.store = store
        # The plane's loopback ranges: cluster IPs come from them, and the proxy and
        # port-forward dial only its pod range (orchestrator.planeranges).
        self.ranges = ranges
        self.registry = registry
        self.clock = clock
        self.admission = admission if admission is not None else Chain.build(
            PluginContext(store))
        # A custom resource's schema node by resource and version, with the CRD schema it was
        # built from:
        # nodes build their children once, so reusing one spares every later request that
        # walk (and lets the validation memos, keyed by node, hit). A changed CRD brings a
        # new schema dict, which rebuilds it.
        self._crd_schemas: dict[tuple[str, str], tuple[Any, Any]] = {}
        for crd in store.objects(CRD_KEY):
            self._serve_crd(crd)

    # -- helpers -------------------------------------------------------------------------

    def schema(self, rt: ResourceType) -> Any:
        if not rt.custom:
            return schemas.schema_for(rt.group, rt.version, rt.kind)
        if not rt.crd_schema:
            return None
        cached = self._crd_schemas.get((rt.key, rt.version))
        if cached is None or cached[0] is not rt.crd_schema:
            cached = (rt.crd_schema, schemas.schema_from_openapi_v3(rt.crd_schema))
            self._crd_schemas[(rt.key, rt.version)] = cached
        return cached[1]

    def served(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """The stored object as the requested version presents it."""
        if obj.get("apiVersion") == rt.api_version:
            return obj
        out = dict(obj)
        out["apiVersion"] = rt.api_version
        return out

    def _now(self) -> str:
        return meta.now_rfc3339(self.clock())

    def _not_found(self, rt: ResourceType, name: str) -> errors.NotFound:
        return errors.NotFound(
            f'{rt.group_resource} "{name}" not found', name=name, group=rt.group, kind=rt.plural
        )

    def _current(self, rt: ResourceType, ns: str, name: str) -> dict[str, Any]:
        obj = self.store.get(rt.key, ns, name)
        if obj is None:
            raise self._not_found(rt, name)
        return obj

    def _check_namespace(self, rt: ResourceType, ns: str, creating: bool) -> None:
        if not rt.namespaced:
            return
        ns_obj = self.store.get(NAMESPACE_KEY, "", ns)
        if ns_obj is None:
            raise errors.NotFound(f'namespaces "{ns}" not found', name=ns, kind="namespaces")
        if creating and ns_obj["metadata"].get("deletionTimestamp"):
            raise errors.Forbidden(
                f"{rt.kind.lower()}s \"{''}\" is forbidden: unable to create new content in "
                f"namespace {ns} because it is being terminated",
                kind=rt.plural,
            )

    # -- reads ---------------------------------------------------------------------------

    def get(self, rt: ResourceType, ns: str, name: str) -> dict[str, Any]:
        return self.served(rt, self._current(rt, ns, name))

    def list_objects(
        self,
        rt: ResourceType,
        ns: str | None,
        label_selector: str = "",
        field_selector: str = "",
    ) -> tuple[list[dict[str, Any]], int]:
        """Matching objects in (namespace, name) order, and the revision they are at."""
        labels = parse_label_selector(label_selector) if label_selector else None
        fields = (parse_field_selector(field_selector, rt.kind, group=rt.group,
                                       namespaced=rt.namespaced)
                  if field_selector else None)
        out = []
        for obj in self.store.objects(rt.key, ns):
            if labels is not None and not labels.matches(obj["metadata"].get("labels") or {}):
                continue
            if fields is not None and not fields.matches(obj):
                continue
            out.append(self.served(rt, obj))
        return out, self.store.revision

    # -- create --------------------------------------------------------------------------

    def create(
        self, rt: ResourceType, ns: str, body: Any, opts: WriteOptions, *, commit: bool = True
    ) -> Result:
        obj = self._typed_body(rt, body)
        md = meta.metadata(obj)
        self._check_body_namespace(rt, ns, md)
        self._check_namespace(rt, ns, creating=True)
        if md.get("resourceVersion"):
            raise errors.BadRequest("resourceVersion should not be set on objects to be created")
        if not md.get("name"):
            prefix = md.get("generateName")
            if not prefix:
                raise errors.Invalid.of(
                    rt.kind, rt.group, "",
                    [errors.required("metadata.name", "name or generateName is required")],
                )
            # Like kube-apiserver (RetryGenerateName), a generated name that is taken is
            # drawn again rather than failing the create.
            key_ns = ns if rt.namespaced else ""
            for _ in range(8):
                md["name"] = str(prefix) + meta.name_suffix()
                if self.store.get(rt.key, key_ns, md["name"]) is None:
                    break
        for key in _SYSTEM_META:
            md.pop(key, None)
        md["uid"] = meta.new_uid()
        md["creationTimestamp"] = self._now()
        md["generation"] = 1
        if rt.namespaced:
            md["namespace"] = ns
        else:
            md.pop("namespace", None)
        strategy = strategies.for_resource(rt)
        # Status is the server's and controllers' to set, except where the kind's strategy
        # keeps it (a Node: kubelets register theirs with its capacity in one create).
        if rt.has_status and not strategy.keeps_status_on_create:
            obj.pop("status", None)
            if strategy.initial_status is not None:
                # A built-in status is a struct, never absent: clients such as kopf's field
                # handlers see `{"loadBalancer": {}}` on a new Service, as on a real cluster.
                obj["status"] = json_copy(dict(strategy.initial_status))
        defaults.apply_defaults(obj, rt)
        attrs = self._admit(rt, Operation.CREATE, ns, md["name"], obj, None, "", opts)
        strategy.prepare_for_create(obj, _Lent(self, opts.user))
        warnings, obj = self._validated(rt, obj, opts)
        md = obj["metadata"]
        if attrs is not None:
            attrs.obj = obj
            self.admission.validate(attrs)
            warnings += attrs.warnings
        if self.store.get(rt.key, ns if rt.namespaced else "", md["name"]) is not None:
            raise errors.AlreadyExists(
                f'{rt.group_resource} "{md["name"]}" already exists',
                name=md["name"], group=rt.group, kind=rt.plural,
            )
        obj = ssa.record_update(
            None, obj, manager=opts.manager, api_version=rt.api_version, now=self._now(),
            schema=self.schema(rt),
        )
        also = attrs.commit_with if attrs is not None else []
        if opts.dry_run or not commit:
            return Result(self.served(rt, obj), warnings, created=True, commit_with=also)
        stored = self._write(rt, obj, also)
        return Result(self.served(rt, stored), warnings, created=True)

    def _typed_body(self, rt: ResourceType, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise errors.BadRequest(
                f"Object 'Kind' is missing in '{str(body)[:80]}'" if body is not None
                else "the body of the request was empty"
            )
        obj = json_copy(body)
        api_version = obj.get("apiVersion") or rt.api_version
        kind = obj.get("kind") or rt.kind
        if not isinstance(api_version, str) or not isinstance(kind, str):
            raise errors.BadRequest("apiVersion and kind must be strings")
        if api_version != rt.api_version:
            raise errors.BadRequest(
                f"the API version in the data ({api_version}) does not match the expected "
                f"API version ({rt.api_version})"
            )
        if kind != rt.kind:
            raise errors.BadRequest(
                f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
            )
        obj["apiVersion"], obj["kind"] = api_version, kind
        if "metadata" in obj and not isinstance(obj["metadata"], dict):
            raise errors.BadRequest("metadata must be an object")
        return obj

    def _check_body_namespace(self, rt: ResourceType, ns: str, md: dict[str, Any]) -> None:
        body_ns = md.get("namespace")
        if rt.namespaced and body_ns and body_ns != ns:
            raise errors.BadRequest(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )

    def _validated(
        self, rt: ResourceType, obj: dict[str, Any], opts: WriteOptions
    ) -> tuple[list[str], dict[str, Any]]:
        """Validate the defaulted object (Strict raises, Warn returns warnings), then prune
        what the schema does not know, as Kubernetes' decoding does."""
        schema = self.schema(rt)
        warnings = validation.validate_object(
            obj, rt, schema, field_validation=opts.field_validation,
            duplicate_fields=opts.duplicates, for_patch=opts.for_patch,
        )
        return warnings, validation.prune(obj, schema)

    def _admit(
        self, rt: ResourceType, op: Operation, ns: str, name: str, obj: dict[str, Any] | None,
        old: dict[str, Any] | None, subresource: str, opts: WriteOptions | DeleteOptions,
    ) -> Attributes | None:
        """The mutating admission phase; the Attributes for the validating one, or None when
        no plugin handles this resource and operation (the common, cheap case)."""
        if not self.admission.handles(rt.key, op):
            return None
        attrs = Attributes(rt, op, ns if rt.namespaced else "", name, obj, old, subresource,
                           opts.user, opts.dry_run)
        self.admission.admit(attrs)
        return attrs

    # -- update --------------------------------------------------------------------------

    def update(
        self,
        rt: ResourceType,
        ns: str,
        name: str,
        body: Any,
        opts: WriteOptions,
        subresource: str = "",
        *,
        operation: str = "Update",
    ) -> Result:
        ns = ns if rt.namespaced else ""
        new = self._typed_body(rt, body)
        md = meta.metadata(new)
        if md.get("name") and md["name"] != name:
            raise errors.BadRequest(
                f"the name of the object ({md['name']}) does not match the name on the URL "
                f"({name})"
            )
        self._check_body_namespace(rt, ns, md)
        current = self._current(rt, ns, name)
        rv = md.get("resourceVersion")
        if rv and rv != current["metadata"]["resourceVersion"]:
            raise self._conflict(rt, name)
        merged = self._merge_update(rt, current, new, subresource, _Lent(self, opts.user))
        return self._commit_update(rt, current, merged, opts, subresource, operation)

    def _conflict(self, rt: ResourceType, name: str) -> errors.Conflict:
        return errors.Conflict(
            f'Operation cannot be fulfilled on {rt.group_resource} "{name}": the object has '
            "been modified; please apply your changes to the latest version and try again",
            name=name, group=rt.group, kind=rt.plural,
        )

    def _merge_update(
        self, rt: ResourceType, current: dict[str, Any], new: dict[str, Any], subresource: str,
        lent: _Lent,
    ) -> dict[str, Any]:
        """The object to store: `new`, with the parts this endpoint may not change kept."""
        merged = self._merge_fields(rt, current, new, subresource)
        return strategies.for_resource(rt).prepare_for_update(
            current, new, merged, subresource, lent)

    def _merge_fields(
        self, rt: ResourceType, current: dict[str, Any], new: dict[str, Any], subresource: str
    ) -> dict[str, Any]:
        if subresource == "status":
            merged = json_copy(current)
            if "status" in new:
                merged["status"] = new["status"]
            else:
                merged.pop("status", None)
            # Status writes may not change metadata, except what controllers record there.
            return merged
        merged = json_copy(new)
        md = meta.metadata(merged)
        cur_md = current["metadata"]
        for key in _SYSTEM_META:
            if key in cur_md:
                md[key] = cur_md[key]
            else:
                md.pop(key, None)
        md["name"] = cur_md["name"]
        if "namespace" in cur_md:
            md["namespace"] = cur_md["namespace"]
        if rt.has_status:
            if "status" in current:
                merged["status"] = current["status"]
            else:
                merged.pop("status", None)
        return merged

    def _commit_update(
        self,
        rt: ResourceType,
        current: dict[str, Any],
        merged: dict[str, Any],
        opts: WriteOptions,
        subresource: str,
        operation: str,
    ) -> Result:
        strategy = strategies.for_resource(rt)
        lent = _Lent(self, opts.user)
        if subresource != "status":
            defaults.apply_defaults(merged, rt)
        attrs = self._admit(rt, Operation.UPDATE, current["metadata"].get("namespace", ""),
                            current["metadata"]["name"], merged, current, subresource, opts)
        strategy.begin_update(merged, current, subresource, lent)
        warnings, merged = self._validated(rt, merged, opts)
        if attrs is not None:
            attrs.obj = merged
            self.admission.validate(attrs)
            warnings += attrs.warnings
        md = merged["metadata"]
        cur_md = current["metadata"]
        md["resourceVersion"] = cur_md["resourceVersion"]
        if cur_md.get("deletionTimestamp"):
            added = set(md.get("finalizers") or []) - set(cur_md.get("finalizers") or [])
            if added:
                raise errors.Invalid.of(
                    rt.kind, rt.group, cur_md["name"],
                    [errors.forbidden("metadata.finalizers",
                                      "no new finalizers can be added if the object is being "
                                      "deleted, found new finalizers " + str(sorted(added)))],
                )
        changed_spec = _generation_part(rt, merged) != _generation_part(rt, current)
        md["generation"] = cur_md.get("generation", 1) + (1 if changed_spec else 0)
        if operation != "Apply":
            merged = ssa.record_update(
                current, merged, manager=opts.manager, api_version=rt.api_version,
                now=self._now(), operation=operation, subresource=subresource,
                schema=self.schema(rt),
            )
        if _same_object(merged, current):
            return Result(self.served(rt, current), warnings)
        strategy.on_update(merged, lent)
        if opts.dry_run:
            return Result(self.served(rt, merged), warnings)
        if md.get("deletionTimestamp") and not md.get("finalizers") and \
                cur_md.get("finalizers") and not cur_md.get("deletionGracePeriodSeconds"):
            # The last finalizer is gone: the object goes now (the registry's
            # shouldDeleteDuringUpdate). Not a pod in its grace period: its kubelet still
            # posts status, and removes it with a delete of grace 0.
            self._remove(rt, merged)
            return Result(self.served(rt, merged), warnings)
        also = attrs.commit_with if attrs is not None else []
        return Result(self.served(rt, self._write(rt, merged, also)), warnings)

    # -- patch ---------------------------------------------------------------------------

    def patch(
        self,
        rt: ResourceType,
        ns: str,
        name: str,
        patch_type: str,
        body: Any,
        opts: WriteOptions,
        subresource: str = "",
    ) -> Result:
        ns = ns if rt.namespaced else ""
        if patch_type == APPLY_PATCH:
            return self._apply(rt, ns, name, body, opts, subresource)
        if patch_type == STRATEGIC_PATCH and rt.custom:
            raise errors.UnsupportedMediaType(
                "the body of the request was in an unknown format - accepted media types "
                "include: application/json-patch+json, application/merge-patch+json, "
                "application/apply-patch+yaml"
            )
        current = self.served(rt, self._current(rt, ns, name))
        if patch_type == JSON_PATCH:
            patched = patch.json_patch(current, body)
        elif patch_type == MERGE_PATCH:
            patched = patch.merge_patch(current, body)
        elif patch_type == STRATEGIC_PATCH:
            patched = patch.strategic_merge_patch(current, body, self.schema(rt))
        else:
            raise errors.UnsupportedMediaType(
                f"the body of the request was in an unknown format - accepted media types "
                f"include: {', '.join(PATCH_TYPES)}"
            )
        if not isinstance(patched, dict):
            raise errors.BadRequest("the patch did not produce an object")
        opts.for_patch = True
        return self.update(rt, ns, name, patched, opts, subresource, operation="Update")

    def _apply(
        self, rt: ResourceType, ns: str, name: str, body: Any, opts: WriteOptions,
        subresource: str,
    ) -> Result:
        if not opts.field_manager:
            raise errors.Invalid(
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is '
                "required for apply patch",
                kind="PatchOptions", group="meta.k8s.io",
                causes=[errors.required("fieldManager", "is required for apply patch")],
            )
        applied = self._typed_body(rt, body)
        amd = meta.metadata(applied)
        if amd.get("name") and amd["name"] != name:
            raise errors.BadRequest(
                f"the name of the object ({amd['name']}) does not match the name on the URL "
                f"({name})"
            )
        self._check_body_namespace(rt, ns, amd)
        opts.for_patch = True
        live = self.store.get(rt.key, ns, name)
        now = self._now()
        schema = self.schema(rt)
        if live is None:
            if subresource:
                raise self._not_found(rt, name)
            amd["name"] = name
            created = ssa.server_side_apply(
                None, applied, manager=opts.manager, force=opts.force, schema=schema,
                api_version=rt.api_version, now=now,
            )
            managed = created.get("metadata", {}).get("managedFields")
            result = self.create(rt, ns, created, opts, commit=False)
            obj = result.obj
            if managed is not None:
                obj["metadata"]["managedFields"] = managed
            if not opts.dry_run:
                obj = self.served(rt, self._write(rt, obj, result.commit_with))
            return Result(obj, result.warnings, created=True)
        current = self.served(rt, live)
        merged = ssa.server_side_apply(
            current, applied, manager=opts.manager, force=opts.force, schema=schema,
            api_version=rt.api_version, now=now,
        )
        merged = self._merge_update(rt, live, merged, subresource, _Lent(self, opts.user))
        return self._commit_update(rt, live, merged, opts, subresource, "Apply")

    # -- delete --------------------------------------------------------------------------

    def delete(
        self, rt: ResourceType, ns: str, name: str, opts: DeleteOptions
    ) -> tuple[dict[str, Any], bool]:
        """Delete or mark for deletion. Returns (object, gone_now)."""
        ns = ns if rt.namespaced else ""
        current = self._current(rt, ns, name)
        cur_md = current["metadata"]
        attrs = self._admit(rt, Operation.DELETE, ns, name, None, current, "", opts)
        if attrs is not None:
            self.admission.validate(attrs)
        if opts.precondition_uid and opts.precondition_uid != cur_md.get("uid"):
            raise errors.Conflict(
                f"Precondition failed: UID in precondition: {opts.precondition_uid}, UID in "
                f"object meta: {cur_md.get('uid')}", name=name, group=rt.group, kind=rt.plural,
            )
        if opts.precondition_rv and opts.precondition_rv != cur_md.get("resourceVersion"):
            raise errors.Conflict(
                f"Precondition failed: ResourceVersion in precondition: {opts.precondition_rv},"
                f" ResourceVersion in object meta: {cur_md.get('resourceVersion')}",
                name=name, group=rt.group, kind=rt.plural,
            )
        finalizers = list(cur_md.get("finalizers") or [])
        if opts.propagation == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        elif opts.propagation == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        strategy = strategies.for_resource(rt)
        lent = _Lent(self, opts.user)
        graceful = strategy.grace_period(current, opts.grace_period, lent)
        finalizers += [f for f in strategy.delete_finalizers(current) if f not in finalizers]
        if not finalizers and graceful == 0:
            if opts.dry_run:
                return self.served(rt, current), True
            self._remove(rt, current)
            return self.served(rt, current), True
        pending = cur_md.get("deletionGracePeriodSeconds")
        if cur_md.get("deletionTimestamp") and finalizers == list(
                cur_md.get("finalizers") or []) and (pending is None or graceful >= pending):
            # Already being deleted: nothing changes, unless the grace period shrinks (the
            # kubelet's final delete, grace 0, of a pod that still has finalizers).
            return self.served(rt, current), False
        marked = json_copy(current)
        md = marked["metadata"]
        md.setdefault("deletionTimestamp", self._now())
        md["deletionGracePeriodSeconds"] = graceful
        if finalizers:
            md["finalizers"] = finalizers
        strategy.prepare_for_delete(marked)
        if opts.dry_run:
            return self.served(rt, marked), False
        stored = self._write(rt, marked)
        strategy.after_mark_deleted(stored, lent)
        stored = self.store.get(rt.key, ns, name) or stored
        return self.served(rt, stored), self.store.get(rt.key, ns, name) is None

    def delete_collection(
        self, rt: ResourceType, ns: str | None, label_selector: str, field_selector: str,
        opts: DeleteOptions,
    ) -> list[dict[str, Any]]:
        items, _ = self.list_objects(rt, ns, label_selector, field_selector)
        out = []
        for obj in items:
            md = obj["metadata"]
            try:
                gone, _ = self.delete(rt, md.get("namespace", ""), md["name"], opts)
                out.append(gone)
            except errors.NotFound:
                continue
        return out

    def _remove(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        md = obj["metadata"]
        ns = md.get("namespace", "") if rt.namespaced else ""
        self.store.commit([Change(rt.key, ns, md["name"], None)])
        strategies.for_resource(rt).after_delete(obj, _Lent(self))
        if rt.namespaced:
            namespaces.maybe_finish(self, ns)

    def _write(self, rt: ResourceType, obj: dict[str, Any],
               also: Sequence[Change] = ()) -> dict[str, Any]:
        """Store `obj`, and in the same transaction what admission must record with it
        (`also`: a quota's charge), so that both are written or neither."""
        md = obj["metadata"]
        ns = md.get("namespace", "") if rt.namespaced else ""
        storage_rt = self.registry.storage_type(rt)
        if obj.get("apiVersion") != storage_rt.api_version:
            obj = dict(obj, apiVersion=storage_rt.api_version)
        event = self.store.commit([Change(rt.key, ns, md["name"], obj), *also])[0]
        strategies.for_resource(rt).after_write(event.obj, _Lent(self))
        return event.obj

    # -- custom resource definitions -----------------------------------------------------

    def _serve_crd(self, crd: dict[str, Any]) -> None:
        try:
            types = resource_types_from_crd(crd)
        except (AttributeError, TypeError):
            log.warning("CRD %s has an unusable spec; not served", crd["metadata"].get("name"))
            return
        self.registry.set_custom(crd["metadata"]["name"], types)

    def _drop_crd(self, crd: dict[str, Any]) -> None:
        name = crd["metadata"]["name"]
        for rt in self.registry.custom_types(name)[:1]:
            victims = [
                Change(rt.key, o["metadata"].get("namespace", ""), o["metadata"]["name"], None)
                for o in self.store.objects(rt.key)
            ]
            if victims:
                self.store.commit(victims)
        for rt in self.registry.custom_types(name):
            self._crd_schemas.pop((rt.key, rt.version), None)
        self.registry.set_custom(name, [])


@dataclass(frozen=True)
class _Lent:
    """What the object service lends a strategy's hooks for one request
    (`orchestrator.api.strategy.Context`)."""

    service: ObjectService
    user: UserInfo | None = None

    def now(self) -> str:
        return self.service._now()

    def get(self, key: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.service.store.get(key, namespace, name)

    def assign_cluster_ip(self, service: dict[str, Any]) -> None:
        allocation.assign_cluster_ip(service, self.service.store.objects("/services"),
                                     self.service.ranges.service_cidr)

    def keep_cluster_ip(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        allocation.keep_cluster_ip(new, old)

    def serve_custom(self, crd: dict[str, Any]) -> None:
        self.service._serve_crd(crd)

    def drop_custom(self, crd: dict[str, Any]) -> None:
        self.service._drop_crd(crd)

    def finalize_namespace(self, name: str) -> None:
        namespaces.finalize(self.service, name)


def _generation_part(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    if rt.has_status:
        return meta.spec_part(obj)
    return {k: v for k, v in obj.items() if k != "metadata"}


def _same_object(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal apart from managedFields timestamps: such an update is a no-op."""

    def strip(o: dict[str, Any]) -> dict[str, Any]:
        out = dict(o)
        md = dict(out.get("metadata") or {})
        md.pop("managedFields", None)
        md.pop("resourceVersion", None)
        out["metadata"] = md
        return out

    return strip(a) == strip(b)
