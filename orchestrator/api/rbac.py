"""RBAC authorization, as Kubernetes' RBAC authorizer decides it (pure; no I/O).

A request is allowed when some binding that names the user (directly, by group, or as a
service account) grants a role with a rule matching the request's attributes. Kubernetes
RBAC only allows; there are no deny rules. `system:masters` is allowed everything, as the
API server's privileged group is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
SERVICE_ACCOUNTS = "system:serviceaccounts"
ANONYMOUS_NAME = "system:anonymous"


@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def service_account(cls, namespace: str, name: str, uid: str = "",
                        extra: Mapping[str, tuple[str, ...]] | None = None) -> "UserInfo":
        return cls(f"system:serviceaccount:{namespace}:{name}",
                   (SERVICE_ACCOUNTS, f"{SERVICE_ACCOUNTS}:{namespace}", AUTHENTICATED), uid,
                   dict(extra or {}))


# A request without credentials, on the paths anonymous access is enabled for.
ANONYMOUS = UserInfo(ANONYMOUS_NAME, (UNAUTHENTICATED,))


@dataclass(frozen=True)
class Attributes:
    """What a request does: `verb` is a Kubernetes verb (get, list, watch, create, ...)."""

    verb: str
    namespace: str = ""
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""  # for non-resource requests
    resource_request: bool = True

    def describe(self) -> str:
        res = self.resource + (f"/{self.subresource}" if self.subresource else "")
        group = f'in API group "{self.api_group}"'
        scope = f' in the namespace "{self.namespace}"' if self.namespace else " at the cluster scope"
        return f'cannot {self.verb} resource "{res}" {group}{scope}'


def _matches(values: Iterable[str], wanted: str) -> bool:
    values = list(values or [])
    return "*" in values or wanted in values


def rule_allows(rule: Mapping[str, Any], attrs: Attributes) -> bool:
    if not _matches(rule.get("verbs") or [], attrs.verb):
        return False
    if not attrs.resource_request:
        for url in rule.get("nonResourceURLs") or []:
            if url == "*" or url == attrs.path or (
                    url.endswith("*") and attrs.path.startswith(url[:-1])):
                return True
        return False
    if not _matches(rule.get("apiGroups") or [], attrs.api_group):
        return False
    if not any(_resource_matches(r, attrs) for r in rule.get("resources") or []):
        return False
    names = list(rule.get("resourceNames") or [])
    return not names or attrs.name in names


def _resource_matches(rule_resource: str, attrs: Attributes) -> bool:
    """`*`, `pods`, `pods/log`, `*/scale` (that subresource of anything). As in Kubernetes,
    `pods/*` is no wildcard: it matches only a resource literally named so."""
    requested = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
    if rule_resource in ("*", requested):
        return True
    return bool(attrs.subresource) and rule_resource == f"*/{attrs.subresource}"


def subject_matches(subject: Mapping[str, Any], user: UserInfo, binding_namespace: str) -> bool:
    kind = subject.get("kind")
    if kind == "User":
        return bool(subject.get("name") == user.name)
    if kind == "Group":
        return subject.get("name") in user.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_namespace
        return user.name == f"system:serviceaccount:{ns}:{subject.get('name')}"
    return False


@dataclass
class RBACState:
    """The RBAC objects to decide with, as the store holds them."""

    roles: Mapping[tuple[str, str], Mapping[str, Any]]  # (namespace, name) -> Role
    cluster_roles: Mapping[str, Mapping[str, Any]]
    role_bindings: Iterable[Mapping[str, Any]]
    cluster_role_bindings: Iterable[Mapping[str, Any]]


def role_rules(ref: Mapping[str, Any], namespace: str, state: RBACState
               ) -> list[Mapping[str, Any]] | None:
    """The rules a roleRef points at (a Role in the binding's namespace); None when that
    role does not exist."""
    if ref.get("kind") == "ClusterRole":
        role = state.cluster_roles.get(str(ref.get("name")))
    elif ref.get("kind") == "Role":
        role = state.roles.get((namespace, str(ref.get("name"))))
    else:
        return None
    return None if role is None else list(role.get("rules") or [])


def authorize(user: UserInfo, attrs: Attributes, state: RBACState) -> tuple[bool, str]:
    """(allowed, reason). The reason names the binding that allowed, or is empty."""
    if MASTERS in user.groups:
        return True, f"allowed by group {MASTERS}"
    for binding in state.cluster_role_bindings:
        if any(subject_matches(s, user, "") for s in binding.get("subjects") or []):
            for rule in role_rules(binding.get("roleRef") or {}, "", state) or []:
                if rule_allows(rule, attrs):
                    name = binding.get("metadata", {}).get("name")
                    return True, f'RBAC: allowed by ClusterRoleBinding "{name}"'
    if attrs.namespace:
        for binding in state.role_bindings:
            ns = binding.get("metadata", {}).get("namespace", "")
            if ns != attrs.namespace:
                continue
            if any(subject_matches(s, user, ns) for s in binding.get("subjects") or []):
                for rule in role_rules(binding.get("roleRef") or {}, ns, state) or []:
                    if rule_allows(rule, attrs):
                        name = binding.get("metadata", {}).get("name")
                        return True, f'RBAC: allowed by RoleBinding "{name}/{ns}"'
    return False, ""


def forbidden_message(user: UserInfo, attrs: Attributes) -> str:
    """kube-apiserver's 403 text: `pods "x" is forbidden: User "u" cannot get resource ...`."""
    if not attrs.resource_request:
        return f'forbidden: User "{user.name}" cannot {attrs.verb} path "{attrs.path}"'
    target = attrs.resource + (f".{attrs.api_group}" if attrs.api_group else "")
    subject = f'{target} "{attrs.name}"' if attrs.name else target
    return f'{subject} is forbidden: User "{user.name}" {attrs.describe()}'
