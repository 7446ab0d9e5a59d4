"""OpenAPI v3 documents, as kube-apiserver serves them under `/openapi/v3`.

Two clients read these closely. `kubectl apply`'s default `--validate=strict` looks in the
object's group-version document for a PATCH operation tagged with the object's
`x-kubernetes-group-version-kind` and lets the server validate when that operation takes a
`fieldValidation` query parameter (otherwise it fails or falls back to client-side checks).
`kubectl explain` finds the component schema whose `x-kubernetes-group-version-kind` list
names the kind, and prints descriptions while following `$ref`/`allOf`. Hence every
operation carries its GVK and action, and component schemas keep Kubernetes' extensions.
"""

from __future__ import annotations

import copy
import hashlib
import json
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

from orchestrator.api.resource_type import ResourceType
from orchestrator.api.schemas import (
    INT_OR_STRING_DEF,
    OBJECT_META_DEF,
    QUANTITY_DEF,
    definition_name_for,
    definitions,
    kubernetes_version,
    ref_target,
)

_COMPONENT_PREFIX = "#/components/schemas/"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_COMMON_DEFS = (
    _META + "APIResourceList", _META + "DeleteOptions", _META + "Patch", _META + "Status",
    _META + "WatchEvent", OBJECT_META_DEF,
)
_JSON = "application/json"
_PATCH_TYPES = (
    "application/apply-patch+yaml", "application/json-patch+json",
    "application/merge-patch+json", "application/strategic-merge-patch+json",
)

# Subresource -> (group, version, kind) of its body, when it is not the parent's kind.
_SUBRESOURCE_KINDS = {
    "scale": ("autoscaling", "v1", "Scale"),
    "binding": ("", "v1", "Binding"),
    "eviction": ("policy", "v1", "Eviction"),
    "token": ("authentication.k8s.io", "v1", "TokenRequest"),
}
# Subresource -> the operations it offers (as HTTP methods).
_SUBRESOURCE_METHODS = {
    "status": ("get", "put", "patch"),
    "approval": ("get", "put", "patch"),
    "scale": ("get", "put", "patch"),
    "ephemeralcontainers": ("get", "put", "patch"),
    "resize": ("get", "put", "patch"),
    "finalize": ("put",),
    "log": ("get",),
    "binding": ("post",),
    "eviction": ("post",),
    "token": ("post",),
    "exec": ("get", "post"),
    "attach": ("get", "post"),
    "portforward": ("get", "post"),
    "proxy": ("get", "put", "patch", "post", "delete"),
}
_CONNECT = {"exec", "attach", "portforward", "proxy"}
_CONNECT_OPTIONS = {"exec": "Exec", "attach": "Attach", "portforward": "PortForward",
                    "proxy": "Proxy"}


# --- parameters -------------------------------------------------------------------------
def _query(name: str, kind: str, description: str, unique: bool = True) -> dict[str, Any]:
    param: dict[str, Any] = {
        "name": name, "in": "query", "description": description, "schema": {"type": kind},
    }
    if unique:
        param["schema"]["uniqueItems"] = True
    return param


_PRETTY = _query("pretty", "string", "If 'true', then the output is pretty printed.")
_DRY_RUN = _query("dryRun", "string", "When present, indicates that modifications should not "
                  "be persisted. Valid values are: - All: all dry run stages will be processed")
_FIELD_MANAGER = _query("fieldManager", "string", "fieldManager is a name associated with the "
                        "actor or entity that is making these changes.")
_FIELD_VALIDATION = _query(
    "fieldValidation", "string",
    "fieldValidation instructs the server on how to handle objects in the request "
    "(POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: "
    "silently drop unknown fields. - Warn: send a warning for each unknown field (the "
    "default). - Strict: fail the request with a BadRequest error on unknown fields.",
)
_FORCE = _query("force", "boolean", "Force is going to \"force\" Apply requests. It means user "
                "will re-acquire conflicting fields owned by other people.")
_LIST_PARAMS = [
    _query("allowWatchBookmarks", "boolean", "allowWatchBookmarks requests watch events with "
           "type \"BOOKMARK\"."),
    _query("continue", "string", "The continue option should be set when retrieving more "
           "results from the server."),
    _query("fieldSelector", "string", "A selector to restrict the list of returned objects by "
           "their fields. Defaults to everything."),
    _query("labelSelector", "string", "A selector to restrict the list of returned objects by "
           "their labels. Defaults to everything."),
    _query("limit", "integer", "limit is a maximum number of responses to return for a list "
           "call."),
    _query("resourceVersion", "string", "resourceVersion sets a constraint on what resource "
           "versions a request may be served from."),
    _query("resourceVersionMatch", "string", "resourceVersionMatch determines how "
           "resourceVersion is applied to list calls."),
    _query("sendInitialEvents", "boolean", "`sendInitialEvents=true` may be set together with "
           "`watch=true`."),
    _query("timeoutSeconds", "integer", "Timeout for the list/watch call."),
    _query("watch", "boolean", "Watch for changes to the described resources and return them "
           "as a stream of add, update, and remove notifications."),
]
_DELETE_PARAMS = [
    _DRY_RUN,
    _query("gracePeriodSeconds", "integer", "The duration in seconds before the object "
           "should be deleted."),
    _query("ignoreStoreReadErrorWithClusterBreakingPotential", "boolean", "if set to true, "
           "it will trigger an unsafe deletion of the resource in case the normal deletion "
           "flow fails with a corrupt object error."),
    _query("orphanDependents", "boolean", "Deprecated: please use the PropagationPolicy."),
    _query("propagationPolicy", "string", "Whether and how garbage collection will be "
           "performed. Acceptable values are: 'Orphan', 'Background', 'Foreground'."),
]


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "uniqueItems": True}}


_NAME = _path_param("name", "name of the {kind}")
_NAMESPACE = _path_param("namespace", "object name and auth scope, such as for teams and "
                         "projects")


# --- component schemas ------------------------------------------------------------------
def _component_name(group: str, version: str, kind: str) -> str:
    """Built-ins keep their definition name; custom kinds use the reversed group, as
    kube-apiserver names them (`com.example.stable.v1.CronTab`)."""
    builtin = definition_name_for(group, version, kind)
    if builtin is not None:
        return builtin
    return ".".join(reversed(group.split("."))) + f".{version}.{kind}"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": _COMPONENT_PREFIX + name}


def _convert(node: Any, *, top: bool = False) -> Any:
    """JSON-Schema definitions back into the OpenAPI 3 shape kube-apiserver publishes."""
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            continue
        if key == "type" and isinstance(value, list):
            kinds = [k for k in value if k != "null"]
            if kinds:
                out["type"] = kinds[0]
            continue
        if key in ("properties", "patternProperties") and isinstance(value, Mapping):
            out[key] = {name: _convert(sub) for name, sub in value.items()}
            continue
        out[key] = _convert(value)
    ref = node.get("$ref")
    if isinstance(ref, str):
        target = _ref(ref_target(ref))
        if len(out) == 0:
            return target
        out["allOf"] = [target]  # kube-apiserver wraps a described `$ref` in allOf
    if top and "x-kubernetes-group-version-kind" in out:
        props = out.get("properties")
        if isinstance(props, dict):
            for type_meta in ("apiVersion", "kind"):
                if isinstance(props.get(type_meta), dict):
                    props[type_meta].pop("enum", None)  # added by the JSON-Schema export
        if out.get("required") == ["spec"]:
            del out["required"]  # ditto: kube-apiserver does not require `spec`
    return out


# As kube-apiserver's v3 documents have them: `oneOf` and no `type`, which is also what makes
# `kubectl explain` print `<IntOrString>` and `<map[string]Quantity>`.
_SPECIAL_COMPONENTS = {
    INT_OR_STRING_DEF: {
        "oneOf": [{"type": "integer"}, {"type": "string"}],
        "format": "int-or-string",
        "description": "IntOrString is a type that can hold an int32 or a string.  When used "
        "in JSON or YAML marshalling and unmarshalling, it produces or consumes the inner "
        "type.  This allows you to have, for example, a JSON field that can accept a name or "
        "number.",
    },
    QUANTITY_DEF: {
        "oneOf": [{"type": "string"}, {"type": "number"}],
        "description": "Quantity is a fixed-point representation of a number. It provides "
        "convenient marshaling/unmarshaling in JSON and YAML, in addition to String() and "
        "AsInt64() accessors.\n\nThe serialization format is:\n\n``` <quantity>        ::= "
        "<signedNumber><suffix>\n```\n\nExamples: 100m (0.1 of a CPU), 1Gi, 500M.",
    },
}


@lru_cache(maxsize=None)
def _component(def_name: str) -> Mapping[str, Any]:
    if def_name in _SPECIAL_COMPONENTS:
        return _SPECIAL_COMPONENTS[def_name]
    converted = _convert(definitions().get(def_name, {}), top=True)
    return converted if isinstance(converted, dict) else {}


def _refs_in(node: Any, found: set[str]) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(_COMPONENT_PREFIX):
                found.add(value[len(_COMPONENT_PREFIX):])
            else:
                _refs_in(value, found)
    elif isinstance(node, list):
        for item in node:
            _refs_in(item, found)


@lru_cache(maxsize=None)
def _closure(roots: tuple[str, ...]) -> tuple[str, ...]:
    """Every built-in definition reachable from `roots`, roots included."""
    seen: set[str] = set()
    pending = [r for r in roots if r in definitions()]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        refs: set[str] = set()
        _refs_in(_component(name), refs)
        pending.extend(r for r in refs if r not in seen and r in definitions())
    return tuple(sorted(seen))


_API_VERSION_PROP = {
    "type": "string",
    "description": "APIVersion defines the versioned schema of this representation of an "
    "object. Servers should convert recognized schemas to the latest internal value, and may "
    "reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/"
    "sig-architecture/api-conventions.md#resources",
}
_KIND_PROP = {
    "type": "string",
    "description": "Kind is a string value representing the REST resource this object "
    "represents. Servers may infer this from the endpoint the client submits requests to. "
    "Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/"
    "devel/sig-architecture/api-conventions.md#types-kinds",
}


def _crd_component(rt: ResourceType) -> dict[str, Any]:
    schema = copy.deepcopy(rt.crd_schema) if isinstance(rt.crd_schema, dict) else {}
    schema.setdefault("type", "object")
    props = schema.setdefault("properties", {})
    if isinstance(props, dict):
        props["apiVersion"] = dict(_API_VERSION_PROP)
        props["kind"] = dict(_KIND_PROP)
        props["metadata"] = {"allOf": [_ref(OBJECT_META_DEF)], "description": "Standard "
                             "object's metadata. More info: https://git.k8s.io/community/"
                             "contributors/devel/sig-architecture/api-conventions.md#metadata"}
    schema["x-kubernetes-group-version-kind"] = [
        {"group": rt.group, "kind": rt.kind, "version": rt.version}
    ]
    return schema


def _list_component(rt: ResourceType, item_name: str) -> dict[str, Any]:
    return {
        "description": f"{rt.kind}List is a list of {rt.kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion defines the versioned "
                           "schema of this representation of an object."},
            "items": {"type": "array", "items": _ref(item_name),
                      "description": f"List of {rt.plural}."},
            "kind": {"type": "string", "description": "Kind is a string value representing "
                     "the REST resource this object represents."},
            "metadata": {"allOf": [_ref(_META + "ListMeta")], "description": "Standard list "
                         "metadata."},
        },
        "x-kubernetes-group-version-kind": [
            {"group": rt.group, "kind": rt.list_kind, "version": rt.version}
        ],
    }


# --- paths ------------------------------------------------------------------------------
def _camel(group: str, version: str) -> str:
    """`AppsV1`, `CoreV1`, `NetworkingV1`, `RbacAuthorizationV1` (operation ids)."""
    if not group:
        return "Core" + version.capitalize()
    head = group.removesuffix(".k8s.io").removesuffix(".x-k8s.io")
    words = [w for part in head.split(".") for w in part.split("-")]
    return "".join(w.capitalize() for w in words) + version.capitalize()


def _tag(group: str, version: str) -> str:
    head = group.removesuffix(".k8s.io") if group else "core"
    return head.replace(".", "_").replace("-", "_") + "_" + version


def _response(schema_name: str | None, codes: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for code in codes:
        body: dict[str, Any] = {"description": {"200": "OK", "201": "Created",
                                                "202": "Accepted"}.get(code, code)}
        if schema_name:
            body["content"] = {_JSON: {"schema": _ref(schema_name)},
                               "application/yaml": {"schema": _ref(schema_name)}}
        out[code] = body
    out["401"] = {"description": "Unauthorized"}
    return out


def _operation(
    verb: str, action: str, op_id: str, tag: str, gvk: Mapping[str, str], *,
    params: Sequence[dict[str, Any]] = (), body: str | None = None,
    body_types: Sequence[str] = (_JSON,), response: str | None = None,
    codes: Sequence[str] = ("200",), description: str = "",
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "tags": [tag],
        "description": description or f"{verb} {gvk['kind']}",
        "operationId": op_id,
        "responses": _response(response, codes),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": dict(gvk),
    }
    if params:
        op["parameters"] = list(params)
    if body is not None:
        op["requestBody"] = {
            "content": {t: {"schema": _ref(body)} for t in body_types},
            "required": True,
        }
    return op


def _resource_paths(rt: ResourceType, kind_name: str) -> dict[str, Any]:
    base = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
    gvk = {"group": rt.group, "kind": rt.kind, "version": rt.version}
    tag, camel = _tag(rt.group, rt.version), _camel(rt.group, rt.version)
    scope = "Namespaced" if rt.namespaced else ""
    ns_part = "/namespaces/{namespace}" if rt.namespaced else ""
    scope_params = [_NAMESPACE] if rt.namespaced else []
    name_param = dict(_NAME, description=f"name of the {rt.kind}")
    verbs = set(rt.verbs)
    list_name = f"{kind_name}List"
    paths: dict[str, Any] = {}

    collection: dict[str, Any] = {}
    if "list" in verbs:
        collection["get"] = _operation(
            "list", "list", f"list{camel}{scope}{rt.kind}", tag, gvk,
            params=_LIST_PARAMS, response=list_name, description=f"list or watch objects of "
            f"kind {rt.kind}")
    if "create" in verbs:
        collection["post"] = _operation(
            "create", "post", f"create{camel}{scope}{rt.kind}", tag, gvk,
            params=[_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION], body=kind_name,
            response=kind_name, codes=("200", "201", "202"), description=f"create a {rt.kind}")
    if "deletecollection" in verbs:
        collection["delete"] = _operation(
            "deletecollection", "deletecollection", f"deleteCollection{camel}{scope}{rt.kind}",
            tag, gvk, params=_LIST_PARAMS + _DELETE_PARAMS, body=_META + "DeleteOptions",
            response=_META + "Status", description=f"delete collection of {rt.kind}")
    if collection:
        collection["parameters"] = [*scope_params, _PRETTY]
        paths[f"{base}{ns_part}/{rt.plural}"] = collection

    item: dict[str, Any] = {}
    if "get" in verbs:
        item["get"] = _operation("read", "get", f"read{camel}{scope}{rt.kind}", tag, gvk,
                                 response=kind_name, description=f"read the specified {rt.kind}")
    if "update" in verbs:
        item["put"] = _operation(
            "replace", "put", f"replace{camel}{scope}{rt.kind}", tag, gvk,
            params=[_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION], body=kind_name,
            response=kind_name, codes=("200", "201"), description=f"replace the specified "
            f"{rt.kind}")
    if "patch" in verbs:
        item["patch"] = _operation(
            "patch", "patch", f"patch{camel}{scope}{rt.kind}", tag, gvk,
            params=[_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION, _FORCE], body=_META + "Patch",
            body_types=_PATCH_TYPES, response=kind_name, codes=("200", "201"),
            description=f"partially update the specified {rt.kind}")
    if "delete" in verbs:
        # What DELETE answers: the object where the registry returns it, else a Status.
        deleted = kind_name if rt.returns_deleted_object else _META + "Status"
        item["delete"] = _operation(
            "delete", "delete", f"delete{camel}{scope}{rt.kind}", tag, gvk,
            params=_DELETE_PARAMS, body=_META + "DeleteOptions", response=deleted,
            codes=("200", "202"), description=f"delete a {rt.kind}")
    item_path = f"{base}{ns_part}/{rt.plural}/{{name}}"
    if item:
        item["parameters"] = [name_param, *scope_params, _PRETTY]
        paths[item_path] = item

    if rt.namespaced and "list" in verbs:
        paths[f"{base}/{rt.plural}"] = {
            "get": _operation("list", "list", f"list{camel}{rt.kind}ForAllNamespaces", tag, gvk,
                              params=_LIST_PARAMS, response=list_name),
            "parameters": [_PRETTY],
        }
    if "watch" in verbs:
        watch_params = [*scope_params, _PRETTY]
        paths[f"{base}/watch{ns_part}/{rt.plural}"] = {
            "get": _operation("watch", "watchlist", f"watch{camel}{scope}{rt.kind}List", tag,
                              gvk, params=_LIST_PARAMS, response=_META + "WatchEvent"),
            "parameters": watch_params,
        }
        paths[f"{base}/watch{ns_part}/{rt.plural}/{{name}}"] = {
            "get": _operation("watch", "watch", f"watch{camel}{scope}{rt.kind}", tag, gvk,
                              params=_LIST_PARAMS, response=_META + "WatchEvent"),
            "parameters": [name_param, *watch_params],
        }

    for sub in rt.subresources:
        paths[f"{item_path}/{sub}"] = _subresource_path(
            rt, sub, kind_name, gvk, tag, camel, scope, [name_param, *scope_params, _PRETTY])
    return paths


def _subresource_path(
    rt: ResourceType, sub: str, kind_name: str, gvk: Mapping[str, str], tag: str, camel: str,
    scope: str, params: list[dict[str, Any]],
) -> dict[str, Any]:
    sub_gvk = dict(gvk)
    body_name = kind_name
    if sub in _SUBRESOURCE_KINDS:
        group, version, kind = _SUBRESOURCE_KINDS[sub]
        sub_gvk = {"group": group, "kind": kind, "version": version}
        body_name = definition_name_for(group, version, kind) or kind_name
    elif sub in _CONNECT:
        # Connect operations carry their options kind (PodExecOptions, ServiceProxyOptions):
        # kubectl looks for the first PATCH of the object's kind to see whether the server
        # validates fields, and a proxy PATCH must not be mistaken for it.
        sub_gvk = {"group": "", "version": "v1",
                   "kind": f"{rt.kind}{_CONNECT_OPTIONS[sub]}Options"}
    suffix = "".join(part.capitalize() for part in sub.split("-"))
    if sub == "ephemeralcontainers":
        suffix = "EphemeralContainers"
    elif sub == "portforward":
        suffix = "Portforward"
    ident = f"{camel}{scope}{rt.kind}{suffix}"
    path: dict[str, Any] = {"parameters": params}
    for method in _SUBRESOURCE_METHODS.get(sub, ("get",)):
        if sub in _CONNECT:
            verb = {"get": "connectGet", "post": "connectPost", "put": "connectPut",
                    "patch": "connectPatch", "delete": "connectDelete"}[method]
            path[method] = _operation("connect", "connect", f"{verb}{ident}", tag, sub_gvk,
                                      response=None, description=f"connect {method.upper()} "
                                      f"requests to {sub} of {rt.kind}")
        elif sub == "log":
            path[method] = _operation("read", "get", f"read{ident}", tag, sub_gvk,
                                      description=f"read log of the specified {rt.kind}")
        elif method == "get":
            path[method] = _operation("read", "get", f"read{ident}", tag, sub_gvk,
                                      response=body_name,
                                      description=f"read {sub} of the specified {rt.kind}")
        elif method == "put":
            path[method] = _operation(
                "replace", "put", f"replace{ident}", tag, sub_gvk,
                params=[_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION], body=body_name,
                response=body_name, codes=("200", "201"),
                description=f"replace {sub} of the specified {rt.kind}")
        elif method == "patch":
            path[method] = _operation(
                "patch", "patch", f"patch{ident}", tag, sub_gvk,
                params=[_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION, _FORCE],
                body=_META + "Patch", body_types=_PATCH_TYPES, response=body_name,
                codes=("200", "201"), description=f"partially update {sub} of the "
                f"specified {rt.kind}")
        elif method == "post":
            path[method] = _operation(
                "create", "post", f"create{ident}", tag, sub_gvk,
                params=[_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION], body=body_name,
                response=body_name, codes=("200", "201", "202"),
                description=f"create {sub} of a {rt.kind}")
    return path


# --- documents --------------------------------------------------------------------------
def component_schemas(served: Iterable[ResourceType]) -> dict[str, Any]:
    """The component schemas that describe `served` (each kind, its list, the bodies of its
    subresources, and everything they reference), as the v3 documents carry them. Shared,
    not copied: callers must not change them."""
    roots: list[str] = list(_COMMON_DEFS)
    extra_components: dict[str, Any] = {}
    for rt in served:
        kind_name = _component_name(rt.group, rt.version, rt.kind)
        if rt.custom or definition_name_for(rt.group, rt.version, rt.kind) is None:
            extra_components[kind_name] = _crd_component(rt)
            extra_components[f"{kind_name}List"] = _list_component(rt, kind_name)
            roots.append(_META + "ListMeta")
        else:
            roots.append(kind_name)
            list_def = definition_name_for(rt.group, rt.version, rt.list_kind)
            if list_def is not None:
                roots.append(list_def)
        for sub in rt.subresources:
            if sub in _SUBRESOURCE_KINDS:
                name = definition_name_for(*_SUBRESOURCE_KINDS[sub])
                if name:
                    roots.append(name)
    schemas: dict[str, Any] = {name: _component(name) for name in _closure(tuple(sorted(roots)))}
    schemas.update(extra_components)
    return schemas


def document_hash(document: Mapping[str, Any]) -> str:
    """A stable digest of a document, as used in `serverRelativeURL`'s `hash=`."""
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hashlib.sha512(encoded).hexdigest().upper()


def group_version_path(group: str, version: str) -> str:
    """`api/v1` or `apis/apps/v1`: the key in the index and the tail of the URL."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_index(
    group_versions: Iterable[tuple[str, str]],
    hashes: Mapping[tuple[str, str], str] | None = None,
) -> dict[str, Any]:
    """The `/openapi/v3` index. Pass each document's `document_hash` in `hashes`: clients
    cache documents by URL, so the hash must change whenever the document does."""
    paths: dict[str, Any] = {}
    for group, version in group_versions:
        key = group_version_path(group, version)
        digest = (hashes or {}).get((group, version)) or _fallback_hash(key)
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
    return {"paths": paths}


def _fallback_hash(key: str) -> str:
    return hashlib.sha512(f"{kubernetes_version()}/{key}".encode()).hexdigest().upper()


def openapi_document(
    group: str, version: str, resources: Sequence[ResourceType]
) -> dict[str, Any]:
    """The OpenAPI v3 document of one group-version (`/openapi/v3/apis/apps/v1`)."""
    served = [rt for rt in resources if rt.group == group and rt.version == version]
    if all(not rt.custom for rt in served):
        return copy.deepcopy(_builtin_document(group, version, tuple(served)))
    return _build_document(group, version, served)


@lru_cache(maxsize=64)
def _builtin_document(
    group: str, version: str, served: tuple[ResourceType, ...]
) -> dict[str, Any]:
    return _build_document(group, version, list(served))


def _build_document(group: str, version: str, served: list[ResourceType]) -> dict[str, Any]:
    base = f"/{group_version_path(group, version)}/"
    schemas = component_schemas(served)
    tag, camel = _tag(group, version), _camel(group, version)
    paths: dict[str, Any] = {
        base: {"get": {
            "tags": [tag], "description": "get available resources",
            "operationId": f"get{camel}APIResources",
            "responses": _response(_META + "APIResourceList", ("200",)),
        }},
    }
    for rt in served:
        paths.update(_resource_paths(rt, _component_name(rt.group, rt.version, rt.kind)))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": kubernetes_version()},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"BearerToken": {
                "type": "apiKey", "description": "Bearer Token authentication",
                "name": "authorization", "in": "header",
            }},
        },
        "security": [{"BearerToken": []}],
    }


__all__ = [
    "component_schemas",
    "document_hash",
    "group_version_path",
    "openapi_document",
    "openapi_index",
]
