"""What a request does, from its method and URL, as kube-apiserver's RequestInfoFactory
reads it; the authorizer decides on these attributes."""

from __future__ import annotations

from typing import Mapping

from orchestrator.api.rbac import Attributes

_NAMESPACE_SUBRESOURCES = ("status", "finalize")
# Connect subresources that start a stream are authorized as `create` whatever the method
# (a WebSocket upgrade is a GET): reading them would otherwise allow running commands.
_CREATE_SUBRESOURCES = ("exec", "attach", "portforward")


def request_attributes(method: str, path: str, query: Mapping[str, str]) -> Attributes:
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in ("api", "apis"):
        return Attributes(verb=method.lower(), path=path, resource_request=False)
    if parts[0] == "api":
        group, rest = "", parts[2:] if len(parts) >= 2 else []
        if len(parts) < 3:
            return Attributes(verb=method.lower(), path=path, resource_request=False)
    else:
        if len(parts) < 4:
            return Attributes(verb=method.lower(), path=path, resource_request=False)
        group, rest = parts[1], parts[3:]
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, "")
    if method in ("GET", "HEAD"):
        watching = str(query.get("watch", "")).lower() in ("1", "true")
        verb = "watch" if watching else ("get" if name else "list")
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    if subresource in _CREATE_SUBRESOURCES:
        verb = "create"
    return Attributes(verb=verb or method.lower(), namespace=namespace, api_group=group,
                      resource=resource, subresource=subresource, name=name, path=path)
