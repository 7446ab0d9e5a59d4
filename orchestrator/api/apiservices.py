"""APIServices (apiregistration.k8s.io/v1): defaults and the validation of kube-aggregator's
pkg/apis/apiregistration/validation. They are stored and listed; nothing is proxied to
the services they name yet."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from orchestrator.api.errors import Cause, invalid, required
from orchestrator.api.names import name_messages

GROUP, KIND = "apiregistration.k8s.io", "APIService"

Obj = dict[str, Any]

# Schema-required fields whose absence the rules below report in kube's own words.
REQUIRED_CHECKED_HERE = frozenset(
    ("io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceSpec", field)
    for field in ("groupPriorityMinimum", "versionPriority"))


def _defaults(obj: Obj) -> None:
    service = (obj.get("spec") or {}).get("service") if isinstance(obj.get("spec"), dict) \
        else None
    if isinstance(service, dict):
        service.setdefault("port", 443)


def _causes(obj: Mapping[str, Any]) -> list[Cause]:
    spec = obj.get("spec") if isinstance(obj.get("spec"), Mapping) else {}
    assert isinstance(spec, Mapping)
    group, version = str(spec.get("group") or ""), str(spec.get("version") or "")
    out: list[Cause] = []
    name = (obj.get("metadata") or {}).get("name") if isinstance(obj.get("metadata"), Mapping) \
        else None
    wanted = f"{version}.{group}"
    if isinstance(name, str) and name and name != wanted:
        out.append(invalid("metadata.name", name,
                           f'must be `spec.version+"."+spec.group`: "{wanted}"'))
    if not group and version != "v1":
        out.append(required("spec.group",
                            "only v1 may have an empty group and it better be legacy kube"))
    if group:
        out += [invalid("spec.group", group, m) for m in name_messages(group, "dns1123-subdomain")]
    out += [invalid("spec.version", version, m) for m in name_messages(version, "dns1035-label")]
    group_priority = spec.get("groupPriorityMinimum", 0)
    if isinstance(group_priority, int) and not 0 < group_priority <= 20000:
        out.append(invalid("spec.groupPriorityMinimum", group_priority,
                           "must be positive and less than 20000"))
    version_priority = spec.get("versionPriority", 0)
    if isinstance(version_priority, int) and not 0 < version_priority <= 1000:
        out.append(invalid("spec.versionPriority", version_priority,
                           "must be positive and less than 1000"))
    service = spec.get("service")
    skip_tls = spec.get("insecureSkipTLSVerify") is True
    ca_bundle = spec.get("caBundle") or ""
    if not isinstance(service, Mapping):
        if ca_bundle:
            out.append(invalid("spec.caBundle", f"{len(str(ca_bundle)) * 3 // 4} bytes",
                               "local APIServices may not have a caBundle"))
        if skip_tls:
            out.append(invalid("spec.insecureSkipTLSVerify", True,
                               "local APIServices may not have insecureSkipTLSVerify"))
        return out
    if not service.get("namespace"):
        out.append(required("spec.service.namespace"))
    if not service.get("name"):
        out.append(required("spec.service.name"))
    port = service.get("port", 443)
    if isinstance(port, int) and not 1 <= port <= 65535:
        out.append(invalid("spec.service.port", port,
                           "port is not valid: must be between 1 and 65535, inclusive"))
    if skip_tls and ca_bundle:
        out.append(invalid("spec.insecureSkipTLSVerify", True,
                           "may not be true if caBundle is present"))
    return out


DEFAULTERS: Mapping[tuple[str, str], Callable[[Obj], None]] = {(GROUP, KIND): _defaults}
CAUSES: Mapping[tuple[str, str], Callable[[Mapping[str, Any]], list[Cause]]] = {
    (GROUP, KIND): _causes,
}
