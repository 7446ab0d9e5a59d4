"""Kubernetes protobuf request bodies -> the JSON the same object encodes to.

Bodies are built by hand from wire-format pieces (no protobuf library, no round trip through
our own encoder), plus a few captured verbatim from kubectl 1.37.
"""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.api import protobuf
from orchestrator.api.errors import BadRequest
from orchestrator.api.kinds import BUILTIN_TYPES

# -- wire-format pieces ---------------------------------------------------------------------


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative ints travel as 64-bit two's complement
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def vi(number: int, value: int) -> bytes:
    """A varint field."""
    return varint(number << 3) + varint(value)


def ld(number: int, *payload: bytes | str) -> bytes:
    """A length-delimited field: a string, bytes, or a message made of the given parts."""
    data = b"".join(p.encode() if isinstance(p, str) else p for p in payload)
    return varint(number << 3 | 2) + varint(len(data)) + data


def entry(number: int, key: str, value: bytes | str) -> bytes:
    """One map entry."""
    return ld(number, ld(1, key), ld(2, value))


def envelope(api_version: str, kind: str, *raw: bytes) -> bytes:
    return b"k8s\x00" + ld(1, ld(1, api_version), ld(2, kind)) + ld(2, *raw) + ld(3, "") + ld(4, "")


def meta(name: str, namespace: str = "") -> bytes:
    """ObjectMeta as client-go writes it: every non-pointer field, zero or not."""
    return ld(1, ld(1, name), ld(2, ""), ld(3, namespace), ld(4, ""), ld(5, ""), ld(6, ""),
              vi(7, 0), ld(8))


def quantity(number: int, text: str) -> bytes:
    return ld(number, ld(1, text))


def int_or_string(number: int, value: int | str) -> bytes:
    if isinstance(value, int):
        return ld(number, vi(1, 0), vi(2, value), ld(3, ""))
    return ld(number, vi(1, 1), vi(2, 0), ld(3, value))


def timestamp(number: int, seconds: int, nanos: int = 0) -> bytes:
    """metav1.Time / MicroTime: seconds and nanos, both always written."""
    return ld(number, vi(1, seconds), vi(2, nanos))


# -- kinds ----------------------------------------------------------------------------------


def test_configmap() -> None:
    body = envelope("v1", "ConfigMap", meta("cfg", "team-a"),
                    entry(2, "b", "two"), entry(2, "a", "one"), entry(2, "empty", ""),
                    entry(3, "bin", b"\x00\xff"), vi(4, 1))
    assert protobuf.decode(body) == {
        "kind": "ConfigMap", "apiVersion": "v1",
        "metadata": {"name": "cfg", "namespace": "team-a"},
        "data": {"a": "one", "b": "two", "empty": ""},
        "binaryData": {"bin": "AP8="},
        "immutable": True,
    }


def test_configmap_captured_from_kubectl() -> None:
    # kubectl 1.37: create configmap c1 --from-literal=a=b --from-literal=x=
    body = bytes.fromhex(
        "6b3873000a0f0a0276311209436f6e6669674d617012230a120a02633112001a0022002a003200"
        "3800420012060a016112016212050a017812001a002200"
    )
    assert protobuf.decode(body) == {
        "kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "c1"},
        "data": {"a": "b", "x": ""},
    }


def test_secret_bytes_become_base64() -> None:
    body = envelope("v1", "Secret", meta("creds"), entry(2, "password", b"hunter2"),
                    entry(2, "blob", b"\x80\x81\xfe"), entry(4, "plain", "text"),
                    ld(3, "Opaque"))
    assert protobuf.decode(body) == {
        "kind": "Secret", "apiVersion": "v1", "metadata": {"name": "creds"},
        "data": {"blob": "gIH+", "password": "aHVudGVyMg=="},
        "stringData": {"plain": "text"},
        "type": "Opaque",
    }


def test_secret_empty_type_is_omitted() -> None:
    # Secret.type is a non-pointer string with omitempty: "" on the wire, absent in JSON.
    body = envelope("v1", "Secret", meta("s"), ld(3, ""))
    assert protobuf.decode(body) == {"kind": "Secret", "apiVersion": "v1",
                                     "metadata": {"name": "s"}}


def _container() -> bytes:
    """PodSpec.containers[0] with ports, env, resources and a probe."""
    resources = ld(8, entry(1, "cpu", ld(1, "500m")), entry(1, "memory", ld(1, "1Gi")),
                   entry(2, "cpu", ld(1, "250m")))
    probe = ld(10, ld(1, ld(2, ld(1, "/healthz"), int_or_string(2, "http"))),  # inline handler
               vi(2, 0), vi(3, 5), vi(7, 0))
    return ld(2, ld(1, "web"), ld(2, "python:3.11"),
              ld(3, "python"), ld(3, "-m"), ld(3, "http.server"),
              ld(6, ld(1, "http"), vi(3, 8000), ld(4, "TCP")),
              ld(7, ld(1, "MODE"), ld(2, "first")),
              resources, probe, ld(14, ""), vi(16, 0))


def test_deployment_with_a_container() -> None:
    template = ld(3, ld(1, entry(11, "app", "web")),
                  ld(2, ld(1, ld(1, "cache"), ld(2, ld(2, ld(1, ""), quantity(2, "1Gi")))),
                     _container(), ld(3, "Always")))
    strategy = ld(4, ld(1, "RollingUpdate"),
                  ld(2, int_or_string(1, 1), int_or_string(2, "25%")))
    spec = ld(2, vi(1, 0), ld(2, entry(1, "app", "web")), template, strategy,
              vi(5, 0), vi(7, 0))
    body = envelope("apps/v1", "Deployment", meta("web"), spec, ld(3))
    assert protobuf.decode(body) == {
        "kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 0,  # a pointer: present on the wire, kept although zero
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "volumes": [{"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}}],
                    "containers": [{
                        "name": "web", "image": "python:3.11",
                        "command": ["python", "-m", "http.server"],
                        "ports": [{"name": "http", "containerPort": 8000, "protocol": "TCP"}],
                        "env": [{"name": "MODE", "value": "first"}],
                        "resources": {"limits": {"cpu": "500m", "memory": "1Gi"},
                                      "requests": {"cpu": "250m"}},
                        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                                          "timeoutSeconds": 5,
                                          "terminationGracePeriodSeconds": 0},
                    }],
                    "restartPolicy": "Always",
                },
            },
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}},
        },
        "status": {},
    }


def test_deployment_captured_from_kubectl() -> None:
    # kubectl 1.37: create deployment web --image=python:3.11 --replicas=2 --port=8000 \
    #   -- python -m http.server
    body = bytes.fromhex(
        "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412da010a1f0a0377656212001a00"
        "22002a003200380042005a0a0a03617070120377656212a8010802120c0a0a0a0361707012037765621a"
        "8d010a1c0a0012001a0022002a003200380042005a0a0a036170701203776562126d124f0a06707974"
        "686f6e120b707974686f6e3a332e31311a06707974686f6e1a022d6d1a0b687474702e736572766572"
        "2a00320b0a00100018c03e22002a0042006a007200800100880100900100a201001a0032004200"
        "4a0052005800600068008201008a01009a0100c2010022020a00280038001a0c0800100018002000"
        "280038001a002200"
    )
    assert protobuf.decode(body) == {
        "kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "python", "image": "python:3.11",
                                         "command": ["python", "-m", "http.server"],
                                         "ports": [{"containerPort": 8000}],
                                         "resources": {}}]},
            },
            "strategy": {},
        },
        "status": {},
    }


def test_service_ports_int_or_string() -> None:
    port = ld(1, ld(1, "web"), ld(2, "TCP"), vi(3, 80), int_or_string(4, 8080), vi(5, 0))
    named = ld(1, ld(1, "metrics"), ld(2, "TCP"), vi(3, 9090), int_or_string(4, "metrics"))
    body = envelope("v1", "Service", meta("svc"), ld(2, port, named, ld(4, "ClusterIP")))
    assert protobuf.decode(body)["spec"] == {
        "ports": [{"name": "web", "protocol": "TCP", "port": 80, "targetPort": 8080},
                  {"name": "metrics", "protocol": "TCP", "port": 9090, "targetPort": "metrics"}],
        "type": "ClusterIP",
    }


def test_times_and_micro_times() -> None:
    body = envelope(
        "v1", "Event",
        ld(1, ld(1, "ev"), timestamp(8, 1_700_000_000), ld(9)),  # deletionTimestamp: zero
        timestamp(6, 1_700_000_001), timestamp(7, -1),
        timestamp(10, 1_700_000_002, 123_456_789),
    )
    assert protobuf.decode(body) == {
        "kind": "Event", "apiVersion": "v1",
        "metadata": {"name": "ev", "creationTimestamp": "2023-11-14T22:13:20Z",
                     "deletionTimestamp": None},
        "firstTimestamp": "2023-11-14T22:13:21Z",
        "lastTimestamp": "1969-12-31T23:59:59Z",
        "eventTime": "2023-11-14T22:13:22.123456Z",
    }


def test_go_zero_time_is_null_and_out_of_range_is_refused() -> None:
    zero = envelope("coordination.k8s.io/v1", "Lease", meta("l"),
                    ld(2, timestamp(3, -62135596800), timestamp(4, 0)))
    assert protobuf.decode(zero)["spec"] == {"acquireTime": None,
                                             "renewTime": "1970-01-01T00:00:00.000000Z"}
    with pytest.raises(BadRequest, match="outside years"):
        protobuf.decode(envelope("coordination.k8s.io/v1", "Lease",
                                 ld(2, timestamp(3, 10**12))))


def test_pointers_kept_when_zero_non_pointers_dropped() -> None:
    # JobSpec.parallelism (*int32) stays at 0; PodSpec.hostNetwork (bool, omitempty) goes.
    template = ld(6, ld(2, vi(11, 0), ld(3, "Never")))
    body = envelope("batch/v1", "Job", meta("j"), ld(2, vi(1, 0), template))
    assert protobuf.decode(body)["spec"] == {
        "parallelism": 0, "template": {"spec": {"restartPolicy": "Never"}},
    }


def test_repeated_scalars_packed_and_unpacked() -> None:
    packed = ld(4, varint(1) + varint(2) + varint(2**40))
    body = envelope("v1", "Pod", meta("p"), ld(2, ld(14, vi(4, 7), packed, vi(4, -3))))
    assert protobuf.decode(body)["spec"]["securityContext"] == {
        "supplementalGroups": [7, 1, 2, 2**40, -3],
    }


def test_negative_and_wide_varints() -> None:
    body = envelope("scheduling.k8s.io/v1", "PriorityClass", meta("low"), vi(2, -5))
    assert protobuf.decode(body)["value"] == -5


def test_unknown_fields_are_skipped() -> None:
    body = envelope("v1", "ConfigMap", meta("c"), ld(99, "future"), vi(100, 1))
    assert protobuf.decode(body) == {"kind": "ConfigMap", "apiVersion": "v1",
                                     "metadata": {"name": "c"}}


def test_repeated_message_occurrences_merge() -> None:
    body = envelope("v1", "ConfigMap", ld(1, ld(1, "a")), ld(1, ld(3, "ns")))
    assert protobuf.decode(body)["metadata"] == {"name": "a", "namespace": "ns"}


# -- subresources and options ---------------------------------------------------------------


def test_scale_binding_eviction() -> None:
    scale = envelope("autoscaling/v1", "Scale", meta("web"), ld(2, vi(1, 3)))
    assert protobuf.decode(scale) == {"kind": "Scale", "apiVersion": "autoscaling/v1",
                                      "metadata": {"name": "web"}, "spec": {"replicas": 3}}
    binding = envelope("v1", "Binding", meta("p"), ld(2, ld(1, "Node"), ld(3, "node-1")))
    assert protobuf.decode(binding)["target"] == {"kind": "Node", "name": "node-1"}
    eviction = envelope("policy/v1", "Eviction", meta("p", "ns"),
                        ld(2, vi(1, 0), ld(4, "Foreground")))
    assert protobuf.decode(eviction)["deleteOptions"] == {
        "gracePeriodSeconds": 0, "propagationPolicy": "Foreground"}


def test_delete_options_under_any_group_version() -> None:
    body = envelope("apps/v1", "DeleteOptions", vi(1, 30), ld(2, ld(1, "uid-1")),
                    ld(4, "Background"), ld(5, "All"))
    assert protobuf.decode(body) == {
        "kind": "DeleteOptions", "apiVersion": "apps/v1", "gracePeriodSeconds": 30,
        "preconditions": {"uid": "uid-1"}, "propagationPolicy": "Background",
        "dryRun": ["All"],
    }


def test_raw_extension_embeds_json() -> None:
    body = envelope("apps/v1", "ControllerRevision", meta("rev"),
                    ld(2, ld(1, b'{"spec": {"x": [1, 2]}}')), vi(3, 4))
    assert protobuf.decode(body) == {
        "kind": "ControllerRevision", "apiVersion": "apps/v1", "metadata": {"name": "rev"},
        "data": {"spec": {"x": [1, 2]}}, "revision": 4,
    }


def test_crd_schema_props() -> None:
    leaf = ld(2, ld(5, "string"), ld(20, ld(1, b'"a"')), ld(20, ld(1, b'"b"')),
              ld(8, ld(1, b'"a"')))
    props = b"".join([
               ld(5, "object"),
               ld(29, ld(1, "mode"), leaf),
               ld(29, ld(1, "tags"), ld(2, ld(5, "array"), ld(24, ld(1, ld(5, "string"))))),
               ld(29, ld(1, "extra"), ld(2, ld(5, "object"), ld(30, vi(1, 1)))),
               vi(38, 1), ld(2, ""), varint(9 << 3 | 1) + struct.pack("<d", 1.5)])
    version = ld(7, ld(1, "v1"), vi(2, 1), vi(3, 1), ld(4, ld(1, props)))
    names = ld(3, ld(1, "widgets"), ld(2, "widget"), ld(4, "Widget"))
    body = envelope("apiextensions.k8s.io/v1", "CustomResourceDefinition",
                    meta("widgets.example.com"),
                    ld(2, ld(1, "example.com"), names, ld(4, "Namespaced"), version))
    spec = protobuf.decode(body)["spec"]
    assert spec["names"] == {"plural": "widgets", "singular": "widget", "kind": "Widget"}
    assert spec["versions"][0]["schema"]["openAPIV3Schema"] == {
        "type": "object",
        "maximum": 1.5,
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {
            "extra": {"type": "object", "additionalProperties": True},
            "mode": {"type": "string", "enum": ["a", "b"], "default": "a"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    }


def test_every_served_kind_and_subresource_body_has_a_schema() -> None:
    wanted = [(rt.api_version, rt.kind) for rt in BUILTIN_TYPES] + [
        ("autoscaling/v1", "Scale"), ("v1", "Binding"), ("policy/v1", "Eviction"),
        ("meta.k8s.io/v1", "DeleteOptions"), ("authentication.k8s.io/v1", "TokenRequest")]
    for api_version, kind in wanted:
        assert protobuf.decode(envelope(api_version, kind)) == {
            "kind": kind, "apiVersion": api_version}


def test_schema_file_names_its_source() -> None:
    source = json.loads(protobuf.SCHEMA_PATH.read_text())["_source"]
    assert source["generated_by"] == "tools/gen_protobuf_schema.py"
    assert "Apache-2.0" in source["license"]
    assert "kubernetes/api@" in source["from"]
    assert protobuf.SCHEMA_PATH.stat().st_size < 150_000


@pytest.mark.parametrize("ns, text", [
    (0, "0s"), (1, "1ns"), (1500, "1.5µs"), (2_000_000, "2ms"), (1_500_000_000, "1.5s"),
    (90 * 10**9, "1m30s"), (3600 * 10**9, "1h0m0s"), (-(3723 * 10**9 + 5), "-1h2m3.000000005s"),
])
def test_go_duration(ns: int, text: str) -> None:
    assert protobuf.go_duration(ns) == text


# -- malformed input ------------------------------------------------------------------------


@pytest.mark.parametrize("body, message", [
    (b"{}", "magic"),
    (b"k8s\x00\x0a", "truncated varint"),
    (b"k8s\x00\x0a\x05\x0a\x02v1", "claims 5 bytes"),
    (b"k8s\x00" + b"\x08" + b"\xff" * 11, "longer than 10 bytes"),
    (b"k8s\x00\x0b", "groups"),
    (b"k8s\x00\x0e", "invalid wire type"),
    (envelope("v1", "ConfigMap", vi(1, 5)), "wire type"),
    (envelope("v1", "ConfigMap", ld(1, vi(1, 3))), "wire type 0 is not valid"),
    (envelope("example.com/v1", "Widget"), "cannot be sent as"),
    (envelope("", ""), "apiVersion and kind"),
    (b"k8s\x00" + ld(1, ld(1, "v1"), ld(2, "ConfigMap")) + ld(3, "gzip"), "encoding"),
    (envelope("v1", "Service", ld(2, ld(1, ld(4, vi(1, 7))))), "impossible type"),
    (envelope("apps/v1", "ControllerRevision", ld(2, ld(1, "{nope"))), "raw JSON"),
    (envelope("v1", "Pod", ld(2, ld(14, ld(4, b"\x80")))), "truncated varint"),
])
def test_malformed_bodies_are_bad_requests(body: bytes, message: str) -> None:
    with pytest.raises(BadRequest, match=message) as info:
        protobuf.decode(body)
    assert info.value.code == 400


def test_deep_nesting_is_refused() -> None:
    schema = ld(5, "string")
    for _ in range(200):
        schema = ld(28, schema)  # JSONSchemaProps.not, nested
    version = ld(7, ld(1, "v1"), ld(4, ld(1, schema)))
    body = envelope("apiextensions.k8s.io/v1", "CustomResourceDefinition", ld(2, version))
    with pytest.raises(BadRequest, match="nested deeper"):
        protobuf.decode(body)


def _decodes_or_bad_request(body: bytes) -> None:
    try:
        result = protobuf.decode(body)
    except BadRequest:
        return
    json.dumps(result)  # whatever decodes must be plain JSON


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_after_magic(data: bytes) -> None:
    _decodes_or_bad_request(b"k8s\x00" + data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=100))
def test_garbage(data: bytes) -> None:
    _decodes_or_bad_request(data)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["v1/Pod", "apps/v1/Deployment", "v1/Secret", "batch/v1/CronJob",
                        "apiextensions.k8s.io/v1/CustomResourceDefinition", "v1/Service",
                        "coordination.k8s.io/v1/Lease", "apps/v1/ControllerRevision"]),
       st.binary(max_size=300))
def test_garbage_inside_a_valid_envelope(kind: str, raw: bytes) -> None:
    api_version, name = kind.rsplit("/", 1)
    _decodes_or_bad_request(envelope(api_version, name, raw))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_real_body(data: st.DataObject) -> None:
    spec = ld(2, vi(1, 2), ld(3, ld(2, _container())))
    body = bytearray(envelope("apps/v1", "Deployment", meta("web"), spec))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(4, len(body) - 1))
        body[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(4, len(body)))
    _decodes_or_bad_request(bytes(body[:cut]))
