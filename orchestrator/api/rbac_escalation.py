"""RBAC escalation prevention, as kube-apiserver's RBAC registry decides it (pure; no I/O).

Nobody may grant permissions they do not hold. Writing a Role or ClusterRole needs every one
of its rules covered by the writer's own rules (or the `escalate` verb on that role); writing
a RoleBinding or ClusterRoleBinding needs the referenced role's rules covered (or the `bind`
verb on that role). `system:masters` skips the check. Semantics and messages follow
`pkg/registry/rbac/validation` (ConfirmNoEscalation, Covers, CompactRules) and
`pkg/registry/rbac/escalation_check.go` (BindingAuthorized, RoleEscalationAuthorized).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from orchestrator.api.rbac import (
    MASTERS,
    Attributes,
    RBACState,
    UserInfo,
    role_rules,
    subject_matches,
)

Rule = Mapping[str, Any]
RBAC_GROUP = "rbac.authorization.k8s.io"
# What setting an aggregationRule takes: it can gather any permission at all.
FULL_AUTHORITY: list[dict[str, Any]] = [
    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
    {"nonResourceURLs": ["*"], "verbs": ["*"]},
]
AGGREGATION_NEEDS_ADMIN = "must have cluster-admin privileges to use the aggregationRule"


def escalation_allowed(user: UserInfo) -> bool:
    """The API server's privileged group may do anything, RBAC objects included."""
    return MASTERS in user.groups


def _strings(rule: Rule, key: str) -> list[str]:
    return [str(v) for v in rule.get(key) or []]


def breakdown_rule(rule: Rule) -> list[dict[str, list[str]]]:
    """One rule per (group, resource, verb[, resourceName]) and per (URL, verb)."""
    out: list[dict[str, list[str]]] = []
    names = _strings(rule, "resourceNames")
    for group in _strings(rule, "apiGroups"):
        for resource in _strings(rule, "resources"):
            for verb in _strings(rule, "verbs"):
                base = {"apiGroups": [group], "resources": [resource], "verbs": [verb]}
                if names:
                    out += [{**base, "resourceNames": [n]} for n in names]
                else:
                    out.append(base)
    for url in _strings(rule, "nonResourceURLs"):
        out += [{"nonResourceURLs": [url], "verbs": [verb]} for verb in _strings(rule, "verbs")]
    return out


def _resources_cover(owned: list[str], wanted: list[str]) -> bool:
    # Covers knows `*` and `*/subresource`; like kube's authorizer, not `pods/*`.
    if "*" in owned or set(wanted) <= set(owned):
        return True
    for path in wanted:
        if path in owned:
            continue
        if "/" not in path or f"*/{path.split('/', 1)[1]}" not in owned:
            return False
    return True


def _url_covers(owner: str, path: str) -> bool:
    return owner == path or (owner.endswith("*") and path.startswith(owner.rstrip("*")))


def rule_covers(owner: Rule, sub: Rule) -> bool:
    """Whether `owner` allows everything the broken-down rule `sub` allows."""
    verbs, groups = _strings(owner, "verbs"), _strings(owner, "apiGroups")
    owner_names, sub_names = _strings(owner, "resourceNames"), _strings(sub, "resourceNames")
    return (("*" in verbs or set(_strings(sub, "verbs")) <= set(verbs))
            and ("*" in groups or set(_strings(sub, "apiGroups")) <= set(groups))
            and _resources_cover(_strings(owner, "resources"), _strings(sub, "resources"))
            and all(any(_url_covers(o, p) for o in _strings(owner, "nonResourceURLs"))
                    for p in _strings(sub, "nonResourceURLs"))
            and (not owner_names if not sub_names else
                 not owner_names or set(sub_names) <= set(owner_names)))


def covers(owner_rules: Iterable[Rule], servant_rules: Iterable[Rule]
           ) -> tuple[bool, list[dict[str, list[str]]]]:
    """(all covered, the broken-down rules that are not)."""
    owned = list(owner_rules)
    missing = [sub for rule in servant_rules for sub in breakdown_rule(rule)
               if not any(rule_covers(o, sub) for o in owned)]
    return not missing, missing


def compact_rules(rules: list[dict[str, list[str]]]) -> list[dict[str, list[str]]]:
    """Merge the verbs of rules naming one group, one resource and at most one name."""
    compacted: list[dict[str, list[str]]] = []
    simple: dict[tuple[str, str, tuple[str, ...]], dict[str, list[str]]] = {}
    for rule in rules:
        names = rule.get("resourceNames") or []
        if (len(names) > 1 or rule.get("nonResourceURLs") or len(rule.get("apiGroups") or []) != 1
                or len(rule.get("resources") or []) != 1):
            compacted.append(rule)
            continue
        key = (rule["apiGroups"][0], rule["resources"][0], tuple(names))
        merged = simple.get(key)
        if merged is None:
            simple[key] = {k: list(v) for k, v in rule.items()}
        else:
            merged["verbs"] += [v for v in rule.get("verbs") or [] if v not in merged["verbs"]]
    return compacted + list(simple.values())


def _go_quoted(values: Iterable[str]) -> str:
    """Go's `%q` of a []string: `["a" "b"]`."""
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "[" + " ".join(quoted) + "]"


def compact_string(rule: Rule) -> str:
    """`{APIGroups:[""], Resources:["pods"], Verbs:["create"]}`, as kube prints a rule."""
    parts = [f"{label}:{_go_quoted(_strings(rule, key))}" for label, key in (
        ("APIGroups", "apiGroups"), ("Resources", "resources"),
        ("NonResourceURLs", "nonResourceURLs"), ("ResourceNames", "resourceNames"),
        ("Verbs", "verbs")) if rule.get(key)]
    return "{" + ", ".join(parts) + "}"


def missing_role(ref: Mapping[str, Any]) -> str:
    """The NotFound text of a roleRef naming no role."""
    kind = "clusterroles" if ref.get("kind") == "ClusterRole" else "roles"
    return f'{kind}.{RBAC_GROUP} "{ref.get("name", "")}" not found'


def rules_for(user: UserInfo, namespace: str, state: RBACState
              ) -> tuple[list[Mapping[str, Any]], list[str]]:
    """Every rule granted to `user` cluster-wide and in `namespace` (RulesFor), with the
    roles some binding of theirs names but that do not exist (resolution errors)."""
    rules: list[Mapping[str, Any]] = []
    problems: list[str] = []

    def visit(binding: Mapping[str, Any], ns: str) -> None:
        if not any(subject_matches(s, user, ns) for s in binding.get("subjects") or []):
            return
        ref = binding.get("roleRef") or {}
        found = role_rules(ref, ns, state)
        if found is None:
            problems.append(missing_role(ref))
        else:
            rules.extend(found)

    for binding in state.cluster_role_bindings:
        visit(binding, "")
    if namespace:
        for binding in state.role_bindings:
            if (binding.get("metadata") or {}).get("namespace", "") == namespace:
                visit(binding, namespace)
    return rules, problems


def escalation_error(user: UserInfo, namespace: str, rules: Iterable[Rule], state: RBACState
                     ) -> str | None:
    """ConfirmNoEscalation: None when `user` holds every permission in `rules` (in
    `namespace`, "" for cluster scope), else kube's explanation."""
    owned, problems = rules_for(user, namespace, state)
    ok, missing = covers(owned, rules)
    if ok:
        return None
    described = sorted({compact_string(r) for r in compact_rules(missing)})
    message = (f'user "{user.name}" (groups={_go_quoted(user.groups)}) is attempting to grant '
               "RBAC permissions not currently held:\n" + "\n".join(described))
    if problems:
        message += f"; resolution errors: [{' '.join(problems)}]"
    return message


def binding_attributes(ref: Mapping[str, Any], namespace: str) -> Attributes | None:
    """What BindingAuthorized asks: `bind` on the referenced role, in the binding's
    namespace ("" for a ClusterRoleBinding)."""
    resource = {"ClusterRole": "clusterroles", "Role": "roles"}.get(str(ref.get("kind")))
    if resource is None:
        return None
    return Attributes("bind", namespace, str(ref.get("apiGroup") or ""), resource,
                      name=str(ref.get("name") or ""))


def escalate_attributes(resource: str, namespace: str, url_name: str) -> Attributes:
    """What RoleEscalationAuthorized asks: `escalate` on the role being written, by the
    name on the request's URL (none on a create)."""
    return Attributes("escalate", namespace, RBAC_GROUP, resource, name=url_name)


def has_aggregation_rule(role: Mapping[str, Any] | None) -> bool:
    rule = (role or {}).get("aggregationRule")
    return isinstance(rule, Mapping) and bool(rule.get("clusterRoleSelectors"))
