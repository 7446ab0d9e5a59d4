"""RBAC escalation prevention on writes of Roles, ClusterRoles and their bindings.

In kube-apiserver this is the RBAC registry's policy-based storage
(`pkg/registry/rbac/{role,clusterrole,rolebinding,clusterrolebinding}/policybased`), which
runs after admission, on create and update (dry runs included): it is the last validating
step here. The decisions are `orchestrator.api.rbac_escalation`'s:

- a Role or ClusterRole: allowed to `system:masters`, to whoever may `escalate` it, or when
  every rule is covered by the writer's own rules in that namespace (cluster-wide for a
  ClusterRole); an `aggregationRule` (set, changed or kept) needs `*` on everything;
- a RoleBinding or ClusterRoleBinding: allowed to `system:masters`, to whoever may `bind` the
  referenced role (in the binding's namespace), or when the writer holds every rule of that
  role; a roleRef naming no role is NotFound.

Updates that only touch ownerReferences and finalizers (the garbage collector's) skip the
check, as kube's `IsOnlyMutatingGCFields`. A binding's roleRef is validated as kube's
strategy does: kind Role or ClusterRole (ClusterRole only for a ClusterRoleBinding), and
never changed by an update.
"""

from __future__ import annotations

from typing import Any, Mapping

from orchestrator.api import errors
from orchestrator.api.rbac import RBACState, UserInfo, authorize, role_rules
from orchestrator.api.rbac_escalation import (
    AGGREGATION_NEEDS_ADMIN,
    FULL_AUTHORITY,
    RBAC_GROUP,
    binding_attributes,
    escalate_attributes,
    escalation_allowed,
    escalation_error,
    has_aggregation_rule,
    missing_role,
)
from orchestrator.server.admission.interfaces import Attributes, Operation, PluginContext

NAME = "RBACEscalation"
ROLES = f"{RBAC_GROUP}/roles"
CLUSTER_ROLES = f"{RBAC_GROUP}/clusterroles"
ROLE_BINDINGS = f"{RBAC_GROUP}/rolebindings"
CLUSTER_ROLE_BINDINGS = f"{RBAC_GROUP}/clusterrolebindings"
_GC_FIELDS = ("ownerReferences", "finalizers", "managedFields", "resourceVersion",
              "generation")


def rbac_state(store: Any) -> RBACState:
    """The RBAC objects as stored now (RBAC writes are rare: no cache to keep right)."""
    roles = {(r["metadata"].get("namespace", ""), r["metadata"]["name"]): r
             for r in store.objects(ROLES)}
    cluster_roles = {r["metadata"]["name"]: r for r in store.objects(CLUSTER_ROLES)}
    return RBACState(roles, cluster_roles, store.objects(ROLE_BINDINGS),
                     store.objects(CLUSTER_ROLE_BINDINGS))


def only_gc_fields(new: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    def strip(obj: Mapping[str, Any]) -> dict[str, Any]:
        md = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _GC_FIELDS}
        return {**obj, "metadata": md}

    return strip(new) == strip(old)


def _forbidden(plural: str, name: str, why: str) -> errors.Forbidden:
    return errors.Forbidden(f'{plural}.{RBAC_GROUP} "{name}" is forbidden: {why}',
                            name=name, group=RBAC_GROUP, kind=plural)


class RBACEscalation:
    name = NAME
    resources: frozenset[str] | None = frozenset(
        {ROLES, CLUSTER_ROLES, ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS})
    operations = frozenset({Operation.CREATE, Operation.UPDATE})

    def __init__(self, ctx: PluginContext) -> None:
        self.store = ctx.store

    def validate(self, attrs: Attributes) -> None:
        obj, key = attrs.obj, attrs.resource.key
        if obj is None:
            return
        if key in (ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS):
            _validate_role_ref(attrs, obj)
        user = attrs.user
        if user is None or escalation_allowed(user):
            return  # the server's own writes, and system:masters
        if (attrs.operation is Operation.UPDATE and attrs.old is not None
                and only_gc_fields(obj, attrs.old)):
            return
        state = rbac_state(self.store)
        if key in (ROLES, CLUSTER_ROLES):
            self._check_role(attrs, obj, user, state)
        else:
            self._check_binding(attrs, obj, user, state)

    def _check_role(self, attrs: Attributes, obj: dict[str, Any], user: UserInfo,
                    state: RBACState) -> None:
        plural = attrs.resource.plural
        url_name = attrs.name if attrs.operation is Operation.UPDATE else ""
        if authorize(user, escalate_attributes(plural, attrs.namespace, url_name), state)[0]:
            return
        why = escalation_error(user, attrs.namespace, obj.get("rules") or [], state)
        if why is not None:
            raise _forbidden(plural, attrs.name, why)
        if plural == "clusterroles" and (has_aggregation_rule(obj)
                                         or has_aggregation_rule(attrs.old)):
            if escalation_error(user, "", FULL_AUTHORITY, state) is not None:
                raise _forbidden(plural, attrs.name, AGGREGATION_NEEDS_ADMIN)

    def _check_binding(self, attrs: Attributes, obj: dict[str, Any], user: UserInfo,
                       state: RBACState) -> None:
        plural = attrs.resource.plural
        namespace = attrs.namespace if plural == "rolebindings" else ""
        ref = obj.get("roleRef") or {}
        bind = binding_attributes(ref, namespace)
        if bind is not None and authorize(user, bind, state)[0]:
            return
        rules = role_rules(ref, namespace, state)
        if rules is None:
            kind = "clusterroles" if ref.get("kind") == "ClusterRole" else "roles"
            raise errors.NotFound(missing_role(ref), name=str(ref.get("name", "")),
                                  group=RBAC_GROUP, kind=kind)
        why = escalation_error(user, namespace, rules, state)
        if why is not None:
            raise _forbidden(plural, attrs.name, why)


def _validate_role_ref(attrs: Attributes, obj: dict[str, Any]) -> None:
    ref = obj.get("roleRef")
    kinds = ["ClusterRole"] if attrs.resource.plural == "clusterrolebindings" else [
        "Role", "ClusterRole"]
    causes: list[errors.Cause] = []
    if not isinstance(ref, dict):
        causes.append(errors.required("roleRef"))
    else:
        if ref.get("kind") not in kinds:
            causes.append(errors.not_supported("roleRef.kind", ref.get("kind"), kinds))
        if not ref.get("name"):
            causes.append(errors.required("roleRef.name"))
        old = (attrs.old or {}).get("roleRef")
        if attrs.operation is Operation.UPDATE and old is not None and ref != old:
            causes.append(errors.invalid("roleRef", ref, "cannot change roleRef"))
    if causes:
        raise errors.Invalid.of(attrs.resource.kind, RBAC_GROUP, attrs.name, causes)
