#!/usr/bin/env python3
"""Generate orchestrator/api/data/protobuf_schema.json from the Kubernetes `.proto` files.

The table lets `orchestrator.api.protobuf` turn a request body in Kubernetes protobuf
(`application/vnd.kubernetes.protobuf`, what kubectl and Helm send for built-in kinds) into
the JSON a client would have sent. Field numbers and types are the API's wire contract and
come from the `generated.proto` files; the JSON side (a field's JSON name, `omitempty` /
`omitzero`, pointer or not, embedded-and-inlined) is not in the `.proto` files, so the Go
struct tags in the same directories are read too (`json:"name,omitempty"
protobuf:"bytes,1,opt,name=..."`). Nothing from those files is copied into this repository;
only the derived table is written.

Regenerate (from checkouts of the four repositories, at the commits named in the header):

    git clone https://github.com/kubernetes/api
    git clone https://github.com/kubernetes/apimachinery
    git clone https://github.com/kubernetes/apiextensions-apiserver
    git clone https://github.com/kubernetes/kube-aggregator
    python tools/gen_protobuf_schema.py \\
        --source "kubernetes/api@$(git -C api rev-parse HEAD)" \\
        --source "kubernetes/apimachinery@$(git -C apimachinery rev-parse HEAD)" \\
        --source "kubernetes/apiextensions-apiserver@$(git -C apiextensions-apiserver rev-parse HEAD)" \\
        --source "kubernetes/kube-aggregator@$(git -C kube-aggregator rev-parse HEAD)" \\
        api/{core,apps,batch,autoscaling,networking,discovery,coordination,events,rbac,authentication,authorization}/v1/generated.proto \\
        api/{autoscaling/v2,scheduling/v1,scheduling/v1alpha3,policy/v1,storage/v1}/generated.proto \\
        api/{certificates,admissionregistration,resource}/v1/generated.proto \\
        apimachinery/pkg/{api/resource,apis/meta/v1,runtime,util/intstr}/generated.proto \\
        apiextensions-apiserver/pkg/apis/apiextensions/v1/generated.proto \\
        kube-aggregator/pkg/apis/apiregistration/v1/generated.proto

Output: {"_source": header, "kinds": {"apiVersion/Kind": message}, "messages": {message:
{field number: [json name, kind, flags]}}}. `kind` is a scalar type (`string`, `int32`, ...),
a message name, or `[key kind, value kind]` for a map. `flags` is a bit set: 1 repeated,
2 omitted from JSON when zero (`omitempty` on a non-pointer scalar, or `omitzero`), 4 inlined
into the parent object (an embedded Go struct, e.g. Volume's VolumeSource). Only messages
reachable from the kinds in `roots()` are kept, to keep the file small.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

REPEATED, OMIT_ZERO, INLINE = 1, 2, 4

# Short names for proto packages: `k8s.io.api.core.v1.Pod` -> `core.v1.Pod`.
PACKAGE_PREFIXES = (
    "k8s.io.api.",
    "k8s.io.apimachinery.pkg.apis.",
    "k8s.io.apimachinery.pkg.api.",
    "k8s.io.apimachinery.pkg.util.",
    "k8s.io.apimachinery.pkg.",
    "k8s.io.apiextensions_apiserver.pkg.apis.",
    "k8s.io.kube_aggregator.pkg.apis.",
)

# apiVersion -> short proto package, where it is not the group's first label and the
# version (`resource.k8s.io/v1` -> `resource.v1`: a new group needs no line here).
GROUP_PACKAGES = {
    "v1": "core.v1",
    "apps/v1": "apps.v1",
    "batch/v1": "batch.v1",
    "autoscaling/v1": "autoscaling.v1",
    "autoscaling/v2": "autoscaling.v2",
    "networking.k8s.io/v1": "networking.v1",
    "discovery.k8s.io/v1": "discovery.v1",
    "coordination.k8s.io/v1": "coordination.v1",
    "events.k8s.io/v1": "events.v1",
    "rbac.authorization.k8s.io/v1": "rbac.v1",
    "scheduling.k8s.io/v1": "scheduling.v1",
    "policy/v1": "policy.v1",
    "storage.k8s.io/v1": "storage.v1",
    "certificates.k8s.io/v1": "certificates.v1",
    "admissionregistration.k8s.io/v1": "admissionregistration.v1",
    "apiextensions.k8s.io/v1": "apiextensions.v1",
    "apiregistration.k8s.io/v1": "apiregistration.v1",
    "meta.k8s.io/v1": "meta.v1",
    "authentication.k8s.io/v1": "authentication.v1",
    "authorization.k8s.io/v1": "authorization.v1",
}

def package_of(api_version: str) -> str:
    """The short proto package of an apiVersion."""
    if api_version in GROUP_PACKAGES:
        return GROUP_PACKAGES[api_version]
    group, _, version = api_version.rpartition("/")
    return f"{group.split('.')[0]}.{version}"


# Bodies a request may carry beside the served kinds: subresource and options bodies.
EXTRA_ROOTS = {
    "v1": ["Binding"],
    "autoscaling/v1": ["Scale"],
    "policy/v1": ["Eviction"],
    "meta.k8s.io/v1": ["DeleteOptions"],
    # serviceaccounts/token (kubectl create token)
    "authentication.k8s.io/v1": ["TokenRequest"],
    "authorization.k8s.io/v1": ["SelfSubjectRulesReview"],
}


def roots() -> dict[str, list[str]]:
    """The kinds a request body may carry, by apiVersion: every built-in kind the server
    serves (orchestrator.api.kinds.BUILTIN_TYPES, so a new kind needs no line here) and
    EXTRA_ROOTS."""
    repository = str(Path(__file__).resolve().parent.parent)
    if repository not in sys.path:  # run as `python tools/gen_protobuf_schema.py`
        sys.path.insert(0, repository)
    from orchestrator.api.kinds import BUILTIN_TYPES

    out: dict[str, list[str]] = {}
    for rt in BUILTIN_TYPES:
        out.setdefault(rt.api_version, []).append(rt.kind)
    for api_version, kinds in EXTRA_ROOTS.items():
        out.setdefault(api_version, []).extend(kinds)
    return out


# Messages the decoder always needs, whether or not a root reaches them.
ALWAYS = ("runtime.Unknown", "runtime.TypeMeta")

SCALARS = {"string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "sint32",
           "sint64", "fixed32", "fixed64", "sfixed32", "sfixed64", "double", "float"}

_PACKAGE = re.compile(r"^\s*package\s+([\w.]+)\s*;", re.M)
_MESSAGE = re.compile(r"^message\s+(\w+)\s*\{(.*?)^\}", re.M | re.S)
_FIELD = re.compile(
    r"^\s*(optional|repeated|required)?\s*"
    r"(map\s*<\s*([\w.]+)\s*,\s*([\w.]+)\s*>|[\w.]+)\s+(\w+)\s*=\s*(\d+)\s*(?:\[[^\]]*\])?\s*;",
    re.M,
)
_GO_STRUCT = re.compile(r"^type\s+(\w+)\s+struct\s*\{(.*?)^\}", re.M | re.S)
_GO_FIELD = re.compile(r"^\s*(?:(\w+)\s+)?(\S+)\s+`([^`]*)`", re.M)
_GO_TAG = re.compile(r'(\w+):"([^"]*)"')


def short(full: str) -> str:
    for prefix in PACKAGE_PREFIXES:
        if full.startswith(prefix):
            return full[len(prefix):]
    return full


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def resolve(type_name: str, package: str) -> str:
    if type_name in SCALARS:
        return type_name
    if type_name.startswith("."):
        return short(type_name[1:])
    return short(f"{package}.{type_name}")


def go_tags(directory: Path) -> dict[str, dict[int, tuple[str, int, bool]]]:
    """Go struct name -> protobuf field number -> (json name, JSON flags, omitempty).

    `omitempty` only drops a zero *scalar* that is not a pointer (Go never drops a struct
    for it, and a present pointer is sent even when it points at zero), which `parse`
    decides once it knows the field's protobuf type.
    """
    out: dict[str, dict[int, tuple[str, int, bool]]] = {}
    for path in sorted(directory.glob("*.go")):
        if path.name.endswith("_test.go") or path.name.startswith(("zz_", "generated.")):
            continue
        for struct, body in _GO_STRUCT.findall(path.read_text()):
            fields = out.setdefault(struct, {})
            for name, go_type, tag in _GO_FIELD.findall(strip_comments(body)):
                tags = dict(_GO_TAG.findall(tag))
                if "protobuf" not in tags or "json" not in tags:
                    continue
                number = int(tags["protobuf"].split(",")[1])
                json_name, *options = tags["json"].split(",")
                flags = 0
                if not name and not json_name:
                    flags |= INLINE  # an embedded struct: its fields join the parent's
                if "omitzero" in options:
                    flags |= OMIT_ZERO
                omitempty = "omitempty" in options and not go_type.startswith("*")
                fields[number] = (json_name, flags, omitempty)
    return out


def parse(paths: list[Path]) -> dict[str, dict[str, list[Any]]]:
    messages: dict[str, dict[str, list[Any]]] = {}
    for path in paths:
        text = strip_comments(path.read_text())
        package = _PACKAGE.search(text)
        if package is None:
            raise SystemExit(f"{path}: no package line")
        tags = go_tags(path.parent)
        for name, body in _MESSAGE.findall(text):
            full = short(f"{package.group(1)}.{name}")
            go = tags.get(name, {})
            fields: dict[str, list[Any]] = {}
            for label, type_name, key, value, field_name, number in _FIELD.findall(body):
                kind: Any
                flags = 0
                if key:
                    kind = [resolve(key, package.group(1)), resolve(value, package.group(1))]
                else:
                    kind = resolve(type_name, package.group(1))
                    if label == "repeated":
                        flags |= REPEATED
                json_name, json_flags, omitempty = go.get(int(number), (field_name, 0, False))
                if omitempty and not flags & REPEATED and not isinstance(kind, list) \
                        and kind in SCALARS:
                    json_flags |= OMIT_ZERO
                if int(number) not in go and go:
                    print(f"warning: {full}.{field_name}: no Go tag", file=sys.stderr)
                if not json_name and not json_flags & INLINE:
                    json_name = field_name
                fields[number] = [json_name, kind, flags | json_flags]
            messages[full] = fields
    return messages


def reachable(messages: dict[str, dict[str, list[Any]]], roots: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name not in messages:
            raise SystemExit(f"message {name} is not defined in the given .proto files")
        seen.add(name)
        for _, kind, _ in messages[name].values():
            for k in kind if isinstance(kind, list) else [kind]:
                if k not in SCALARS:
                    todo.append(k)
    return seen


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("protos", nargs="+", type=Path, help="generated.proto files")
    parser.add_argument("--source", action="append", required=True,
                        help="repository@commit the files came from (repeatable)")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent.parent
                        / "orchestrator/api/data/protobuf_schema.json")
    args = parser.parse_args(argv)
    messages = parse(args.protos)
    kinds = {f"{av}/{kind}": f"{package_of(av)}.{kind}"
             for av, names in roots().items() for kind in names}
    keep = reachable(messages, list(kinds.values()) + list(ALWAYS))
    data = {
        "_source": {
            "generated_by": "tools/gen_protobuf_schema.py",
            "from": "generated.proto files and Go struct tags of " + ", ".join(args.source),
            "license": "Apache-2.0 (derived from the Kubernetes Authors' API definitions)",
            "format": "see the docstring of tools/gen_protobuf_schema.py",
        },
        "kinds": kinds,
        "messages": {name: messages[name] for name in sorted(keep)},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, separators=(",", ":"), sort_keys=False) + "\n")
    print(f"wrote {args.out}: {len(keep)} messages, {args.out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
