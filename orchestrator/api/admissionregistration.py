"""Webhook configurations and admission policies (admissionregistration.k8s.io/v1): their
defaults (pkg/apis/admissionregistration/v1/defaults.go) and the validation of
pkg/apis/admissionregistration/validation, for what is stored today. No webhook is called
and no policy is evaluated yet; their CEL expressions are stored unchecked.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from orchestrator.api.errors import Cause, duplicate, invalid, not_supported, required
from orchestrator.api.names import name_messages

GROUP = "admissionregistration.k8s.io"
ADMISSION_REVIEW_VERSIONS = ("v1", "v1beta1", "v1alpha1")
FAILURE_POLICIES = ("Fail", "Ignore")
MATCH_POLICIES = ("Equivalent", "Exact")
NO_SIDE_EFFECTS = ("None", "NoneOnDryRun")
OPERATIONS = ("*", "CONNECT", "CREATE", "DELETE", "UPDATE")
REINVOCATION_POLICIES = ("IfNeeded", "Never")
SCOPES = ("*", "Cluster", "Namespaced")
VALIDATION_ACTIONS = ("Audit", "Deny", "Warn")
_URL_FORM = "; desired format: https://host[/path]"

Obj = dict[str, Any]

# Schema-required fields whose absence the rules below report in kube's own words.
_V1 = "io.k8s.api.admissionregistration.v1."
REQUIRED_CHECKED_HERE = frozenset(
    {(_V1 + hook, field) for hook in ("ValidatingWebhook", "MutatingWebhook")
     for field in ("clientConfig", "sideEffects", "admissionReviewVersions")}
    | {(_V1 + "ServiceReference", "name"), (_V1 + "ServiceReference", "namespace"),
       (_V1 + "ValidatingAdmissionPolicyBindingSpec", "validationActions")})


# --- defaults -----------------------------------------------------------------------------
def _webhook_defaults(hook: Obj, mutating: bool) -> None:
    hook.setdefault("failurePolicy", "Fail")
    hook.setdefault("matchPolicy", "Equivalent")
    hook.setdefault("namespaceSelector", {})
    hook.setdefault("objectSelector", {})
    hook.setdefault("timeoutSeconds", 10)
    if mutating:
        hook.setdefault("reinvocationPolicy", "Never")
    for rule in _dicts(hook.get("rules")):
        rule.setdefault("scope", "*")
    service = _dict(hook.get("clientConfig")).get("service")
    if isinstance(service, dict):
        service.setdefault("port", 443)


def _validating_configuration_defaults(obj: Obj) -> None:
    for hook in _dicts(obj.get("webhooks")):
        _webhook_defaults(hook, mutating=False)


def _mutating_configuration_defaults(obj: Obj) -> None:
    for hook in _dicts(obj.get("webhooks")):
        _webhook_defaults(hook, mutating=True)


def _policy_defaults(obj: Obj) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    spec.setdefault("failurePolicy", "Fail")
    constraints = spec.get("matchConstraints")
    if isinstance(constraints, dict):
        constraints.setdefault("matchPolicy", "Equivalent")
        constraints.setdefault("namespaceSelector", {})
        constraints.setdefault("objectSelector", {})
        for rule in _dicts(constraints.get("resourceRules")):
            rule.setdefault("scope", "*")


DEFAULTERS: Mapping[tuple[str, str], Callable[[Obj], None]] = {
    (GROUP, "ValidatingWebhookConfiguration"): _validating_configuration_defaults,
    (GROUP, "MutatingWebhookConfiguration"): _mutating_configuration_defaults,
    (GROUP, "ValidatingAdmissionPolicy"): _policy_defaults,
}


# --- webhook configurations ---------------------------------------------------------------
def _configuration_causes(obj: Mapping[str, Any], mutating: bool) -> list[Cause]:
    out: list[Cause] = []
    names: set[str] = set()
    for index, hook in enumerate(_list(obj.get("webhooks"))):
        here = f"webhooks[{index}]"
        if not isinstance(hook, Mapping):
            continue
        out += _webhook_causes(hook, here, mutating)
        out += _review_version_causes(hook.get("admissionReviewVersions"),
                                      f"{here}.admissionReviewVersions")
        name = hook.get("name")
        if isinstance(name, str) and name:
            if name in names:
                out.append(duplicate(f"{here}.name", name))
            names.add(name)
    return out


def _webhook_causes(hook: Mapping[str, Any], here: str, mutating: bool) -> list[Cause]:
    out = fully_qualified_name_causes(f"{here}.name", hook.get("name"))
    for index, rule in enumerate(_list(hook.get("rules"))):
        if isinstance(rule, Mapping):
            out += _rule_with_operations_causes(rule, f"{here}.rules[{index}]")
    out += _one_of(hook, "failurePolicy", FAILURE_POLICIES, here)
    out += _one_of(hook, "matchPolicy", MATCH_POLICIES, here)
    side_effects = hook.get("sideEffects")
    if side_effects is None:
        out.append(required(f"{here}.sideEffects",
                            "must specify one of " + ", ".join(NO_SIDE_EFFECTS)))
    else:
        out += _one_of(hook, "sideEffects", NO_SIDE_EFFECTS, here)
    timeout = hook.get("timeoutSeconds")
    if isinstance(timeout, int) and not 1 <= timeout <= 30:
        out.append(invalid(f"{here}.timeoutSeconds", timeout,
                           "the timeout value must be between 1 and 30 seconds"))
    if mutating:
        out += _one_of(hook, "reinvocationPolicy", REINVOCATION_POLICIES, here)
    out += client_config_causes(_dict(hook.get("clientConfig")), f"{here}.clientConfig")
    return out


def client_config_causes(config: Mapping[str, Any], here: str) -> list[Cause]:
    url, service = config.get("url"), config.get("service")
    if (url is None) == (service is None):
        return [required(here, "exactly one of url or service is required")]
    if url is not None:
        return webhook_url_causes(f"{here}.url", str(url))
    return webhook_service_causes(f"{here}.service", _dict(service))


def webhook_url_causes(path: str, url: str) -> list[Cause]:
    """ValidateWebhookURL (https only)."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return [required(path, f"url must be a valid URL: {exc}{_URL_FORM}")]
    out: list[Cause] = []
    if parts.scheme != "https":
        out.append(invalid(path, parts.scheme, "'https' is the only allowed URL scheme"
                           + _URL_FORM))
    host = parts.netloc.rsplit("@", 1)[-1]
    if not host:
        out.append(invalid(path, host, "host must be specified" + _URL_FORM))
    if "@" in parts.netloc:
        out.append(invalid(path, parts.netloc.rsplit("@", 1)[0],
                           "user information is not permitted in the URL"))
    if parts.fragment:
        out.append(invalid(path, parts.fragment, "fragments are not permitted in the URL"))
    if parts.query:
        out.append(invalid(path, parts.query, "query parameters are not permitted in the URL"))
    return out


def webhook_service_causes(path: str, service: Mapping[str, Any]) -> list[Cause]:
    """ValidateWebhookService."""
    out: list[Cause] = []
    if not service.get("name"):
        out.append(required(f"{path}.name", "service name is required"))
    if not service.get("namespace"):
        out.append(required(f"{path}.namespace", "service namespace is required"))
    port = service.get("port", 443)
    if isinstance(port, int) and not 1 <= port <= 65535:
        out.append(invalid(f"{path}.port", port,
                           "port is not valid: must be between 1 and 65535, inclusive"))
    url_path = service.get("path")
    if isinstance(url_path, str) and url_path not in ("", "/"):
        if url_path == "//":
            return out + [invalid(f"{path}.path", url_path, "segment[0] may not be empty")]
        if not url_path.startswith("/"):
            out.append(invalid(f"{path}.path", url_path, "must start with a '/'"))
        steps = url_path[1:].removesuffix("/").split("/")
        for index, step in enumerate(steps):
            if not step:
                out.append(invalid(f"{path}.path", url_path, f"segment[{index}] may not be empty"))
            else:
                out += [invalid(f"{path}.path", url_path, f"segment[{index}]: {problem}")
                        for problem in name_messages(step, "dns1123-subdomain")]
    return out


def fully_qualified_name_causes(path: str, name: Any) -> list[Cause]:
    """IsFullyQualifiedName: a DNS subdomain with at least three segments."""
    if not isinstance(name, str) or not name:
        return [required(path)]
    problems = name_messages(name, "dns1123-subdomain")
    if problems:
        return [invalid(path, name, ",".join(problems))]
    if len(name.split(".")) < 3:
        return [invalid(path, name, "should be a domain with at least three segments "
                                    "separated by dots")]
    return []


def _rule_with_operations_causes(rule: Mapping[str, Any], here: str) -> list[Cause]:
    out: list[Cause] = []
    operations = _list(rule.get("operations"))
    if not operations:
        out.append(required(f"{here}.operations"))
    if len(operations) > 1 and "*" in operations:
        out.append(invalid(f"{here}.operations", operations,
                           "if '*' is present, must not specify other operations"))
    for index, operation in enumerate(operations):
        if operation not in OPERATIONS:
            out.append(not_supported(f"{here}.operations[{index}]", operation, list(OPERATIONS)))
    return out + rule_causes(rule, here)


def rule_causes(rule: Mapping[str, Any], here: str) -> list[Cause]:
    """validateRule (subresources allowed)."""
    out: list[Cause] = []
    groups, versions = _list(rule.get("apiGroups")), _list(rule.get("apiVersions"))
    if not groups:
        out.append(required(f"{here}.apiGroups"))
    if len(groups) > 1 and "*" in groups:
        out.append(invalid(f"{here}.apiGroups", groups,
                           "if '*' is present, must not specify other API groups"))
    if not versions:
        out.append(required(f"{here}.apiVersions"))
    if len(versions) > 1 and "*" in versions:
        out.append(invalid(f"{here}.apiVersions", versions,
                           "if '*' is present, must not specify other API versions"))
    for index, version in enumerate(versions):
        if version == "":
            out.append(required(f"{here}.apiVersions[{index}]"))
    resources = _list(rule.get("resources"))
    if not resources:
        out.append(required(f"{here}.resources"))
    for index, resource in enumerate(resources):
        if resource == "":
            out.append(required(f"{here}.resources[{index}]"))
    out += _one_of(rule, "scope", SCOPES, here)
    return out


def _review_version_causes(versions: Any, here: str) -> list[Cause]:
    names = _list(versions)
    if not names:
        return [required(here, "must specify one of " + ", ".join(ADMISSION_REVIEW_VERSIONS))]
    out: list[Cause] = []
    seen: set[str] = set()
    for index, version in enumerate(names):
        if version in seen:
            out.append(invalid(f"{here}[{index}]", version, "duplicate version"))
            continue
        seen.add(str(version))
        out += [invalid(f"{here}[{index}]", version, problem)
                for problem in name_messages(str(version), "dns1035-label")]
    if not any(v in ADMISSION_REVIEW_VERSIONS for v in names):
        out.append(invalid(here, names, "must include at least one of "
                           + ", ".join(ADMISSION_REVIEW_VERSIONS)))
    return out


# --- admission policies -------------------------------------------------------------------
def _policy_causes(obj: Mapping[str, Any]) -> list[Cause]:
    spec = _dict(obj.get("spec"))
    out: list[Cause] = []
    constraints = spec.get("matchConstraints")
    if not isinstance(constraints, Mapping):
        out.append(required("spec.matchConstraints"))
    else:
        rules = _list(constraints.get("resourceRules"))
        if not rules:
            out.append(required("spec.matchConstraints.resourceRules"))
        for index, rule in enumerate(rules):
            if isinstance(rule, Mapping):
                out += _rule_with_operations_causes(
                    rule, f"spec.matchConstraints.resourceRules[{index}]")
        out += _one_of(constraints, "matchPolicy", MATCH_POLICIES, "spec.matchConstraints")
    validations = _list(spec.get("validations"))
    if not validations and not _list(spec.get("auditAnnotations")):
        out.append(required("spec.validations",
                            "validations or auditAnnotations must contain at least one item"))
    for index, rule in enumerate(validations):
        if isinstance(rule, Mapping) and not rule.get("expression"):
            out.append(required(f"spec.validations[{index}].expression"))
    out += _one_of(spec, "failurePolicy", FAILURE_POLICIES, "spec")
    return out


def _binding_causes(obj: Mapping[str, Any]) -> list[Cause]:
    spec = _dict(obj.get("spec"))
    out: list[Cause] = []
    if not spec.get("policyName"):
        out.append(required("spec.policyName"))
    actions = _list(spec.get("validationActions"))
    if not actions:
        out.append(required("spec.validationActions",
                            "at least one validation action is required"))
    seen: set[str] = set()
    for index, action in enumerate(actions):
        if action not in VALIDATION_ACTIONS:
            out.append(not_supported(f"spec.validationActions[{index}]", action,
                                     list(VALIDATION_ACTIONS)))
        elif action in seen:
            out.append(duplicate(f"spec.validationActions[{index}]", action))
        seen.add(str(action))
    if "Deny" in seen and "Warn" in seen:
        out.append(invalid("spec.validationActions", actions,
                           "must not contain both Deny and Warn (repeating the same validation "
                           "failure information in the API response and headers serves no "
                           "purpose)"))
    return out


CAUSES: Mapping[tuple[str, str], Callable[[Mapping[str, Any]], list[Cause]]] = {
    (GROUP, "ValidatingWebhookConfiguration"):
        lambda obj: _configuration_causes(obj, mutating=False),
    (GROUP, "MutatingWebhookConfiguration"): lambda obj: _configuration_causes(obj, mutating=True),
    (GROUP, "ValidatingAdmissionPolicy"): _policy_causes,
    (GROUP, "ValidatingAdmissionPolicyBinding"): _binding_causes,
}


# --- helpers ------------------------------------------------------------------------------
def _one_of(holder: Mapping[str, Any], key: str, allowed: tuple[str, ...],
            here: str) -> list[Cause]:
    value = holder.get(key)
    if value is None or value in allowed:
        return []
    return [not_supported(f"{here}.{key}", value, list(allowed))]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _dicts(value: Any) -> list[Obj]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
