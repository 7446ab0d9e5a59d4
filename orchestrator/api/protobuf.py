"""Kubernetes protobuf request bodies, transcoded to the JSON a client would have sent.

kubectl and Helm (client-go) send built-in kinds as `application/vnd.kubernetes.protobuf`:
the magic bytes `k8s\\x00`, then a `runtime.Unknown` envelope naming apiVersion and kind
around the object's own protobuf encoding. `decode` returns the same dict the server would
get from the JSON encoding of that object, so nothing after the body decoder knows the
difference.

Field numbers, types and JSON names come from `data/protobuf_schema.json`, generated from the
Kubernetes `.proto` files and Go struct tags by `tools/gen_protobuf_schema.py`. The JSON
rules that the wire format alone does not tell (Go's encoding/json over the API types):

- client-go writes every non-pointer scalar, zero or not; `omitempty` drops the zero ones
  again (flag OMIT_ZERO), while a present pointer field stays even when zero (`replicas: 0`);
- non-pointer structs are always present in both forms (`"status": {}`), except where the
  Go tag says `omitzero` (a zero `creationTimestamp` vanishes instead of becoming null);
- embedded Go structs (Volume's VolumeSource, Probe's ProbeHandler) are inlined;
- a few messages have a JSON form of their own: see `_SPECIAL`.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from orchestrator.api import protobuf_wire as wire
from orchestrator.api.errors import BadRequest

MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
REPEATED, OMIT_ZERO, INLINE = 1, 2, 4
MAX_DEPTH = 100  # nested messages; real objects stay far below, garbage must not recurse
SCHEMA_PATH = Path(__file__).parent / "data" / "protobuf_schema.json"

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_GO_ZERO_TIME = -62135596800  # 0001-01-01T00:00:00Z, Go's zero time.Time, in Unix seconds

Fields = dict[int, list[tuple[int, wire.Raw]]]


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    with SCHEMA_PATH.open() as f:
        data: dict[str, Any] = json.load(f)
    return data


def decode(body: bytes) -> dict[str, Any]:
    """The JSON object for a Kubernetes protobuf request body; BadRequest if malformed."""
    try:
        return _envelope(body, 0)
    except RecursionError:  # a safety net: MAX_DEPTH should stop any nesting first
        raise wire.bad("the body is nested too deeply") from None


def _envelope(body: bytes, depth: int) -> dict[str, Any]:
    if not body.startswith(MAGIC):
        raise wire.bad("the body does not start with the magic bytes 'k8s\\x00'")
    envelope = _group(wire.fields(body[len(MAGIC):]))
    type_meta = _group(wire.fields(_last_bytes(envelope, 1, "typeMeta")))
    api_version = _text(type_meta, 1, "apiVersion")
    kind = _text(type_meta, 2, "kind")
    raw = _last_bytes(envelope, 2, "raw")
    encoding = _text(envelope, 3, "contentEncoding")
    content_type = _text(envelope, 4, "contentType")
    if encoding:
        raise wire.bad(f"content encoding {encoding!r} is not supported")
    if content_type not in ("", MEDIA_TYPE):
        raise wire.bad(f"the envelope holds {content_type!r}, not {MEDIA_TYPE}")
    if not api_version or not kind:
        raise wire.bad("the envelope does not name the object's apiVersion and kind")
    message = message_for(api_version, kind)
    if message is None:
        raise BadRequest(
            f"{kind} in {api_version} cannot be sent as {MEDIA_TYPE} to this server; "
            "send it as application/json"
        )
    obj = {"kind": kind, "apiVersion": api_version}
    decoded = _Decoder().message(message, raw, depth)
    if not isinstance(decoded, dict):
        raise wire.bad(f"{kind} did not decode to an object")
    obj.update(decoded)
    return obj


def message_for(api_version: str, kind: str) -> str | None:
    """The schema message of a kind, or None if it has no protobuf form here."""
    kinds: dict[str, str] = _schema()["kinds"]
    found = kinds.get(f"{api_version}/{kind}")
    if found is None and kind == "DeleteOptions":
        # client-go registers DeleteOptions in every group version and names the target's.
        found = kinds.get("meta.k8s.io/v1/DeleteOptions")
    return found


class _Decoder:
    def message(self, name: str, data: bytes, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise wire.bad(f"messages nested deeper than {MAX_DEPTH} levels")
        fields = _group(wire.fields(data))
        special = _SPECIAL.get(name)
        if special is not None:
            return special(self, fields, depth)
        schema: dict[str, list[Any]] | None = _schema()["messages"].get(name)
        if schema is None:
            raise wire.bad(f"no schema for message {name}")
        out: dict[str, Any] = {}
        for number, occurrences in fields.items():
            entry = schema.get(str(number))
            if entry is None:
                continue  # an unknown field, as Go's decoder skips it
            json_name, kind, flags = entry
            where = f"{name}.{json_name or kind}"
            value = self.field(kind, flags, occurrences, depth, where)
            if flags & OMIT_ZERO and not flags & REPEATED and _is_zero(value):
                continue
            if flags & INLINE:
                if isinstance(value, dict):
                    out.update(value)
                continue
            out[json_name] = value
        return out

    def field(self, kind: Any, flags: int, occurrences: list[tuple[int, wire.Raw]],
              depth: int, where: str) -> Any:
        if isinstance(kind, list):
            return self.map(kind[0], kind[1], occurrences, depth, where)
        if flags & REPEATED:
            if kind in wire.SCALARS:
                return self.repeated_scalar(kind, occurrences, where)
            return [self.message(kind, _payload(w, v, where), depth + 1) for w, v in occurrences]
        if kind in wire.SCALARS:
            wire_type, raw = occurrences[-1]  # the last one wins, as in every protobuf decoder
            return wire.scalar(kind, _expect(kind, wire_type, raw, where))
        # Repeated occurrences of one message field merge, which concatenation achieves.
        data = b"".join(_payload(w, v, where) for w, v in occurrences)
        return self.message(kind, data, depth + 1)

    def repeated_scalar(self, kind: str, occurrences: list[tuple[int, wire.Raw]],
                        where: str) -> list[Any]:
        values: list[Any] = []
        for wire_type, raw in occurrences:
            if wire_type == wire.LENGTH and wire.wire_type(kind) != wire.LENGTH:
                assert isinstance(raw, bytes)
                values.extend(wire.scalar(kind, v) for v in wire.unpack(kind, raw))
            else:
                values.append(wire.scalar(kind, _expect(kind, wire_type, raw, where)))
        return values

    def map(self, key_kind: str, value_kind: str, occurrences: list[tuple[int, wire.Raw]],
            depth: int, where: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for wire_type, raw in occurrences:
            entry = _group(wire.fields(_payload(wire_type, raw, where)))
            key = (self.field(key_kind, 0, entry[1], depth, where) if 1 in entry
                   else _zero(key_kind))
            if value_kind not in wire.SCALARS:
                data = b"".join(_payload(w, v, where) for w, v in entry.get(2, []))
                value = self.message(value_kind, data, depth + 1)
            elif 2 in entry:
                value = self.field(value_kind, 0, entry[2], depth, where)
            else:
                value = _zero(value_kind)
            out[str(key)] = value
        return dict(sorted(out.items()))  # Go's encoding/json sorts map keys


# -- messages with a JSON form of their own ------------------------------------------------


def _time(micro: bool) -> Callable[[_Decoder, Fields, int], str | None]:
    def convert(_: _Decoder, fields: Fields, depth: int) -> str | None:
        if not fields:
            return None  # metav1.Time marshals the zero time as an empty message: null
        seconds = _int(fields, 1, "int64", "Time.seconds")
        nanos = _int(fields, 2, "int32", "Time.nanos")
        seconds, nanos = seconds + nanos // 10**9, nanos % 10**9
        if seconds == _GO_ZERO_TIME and nanos == 0:
            return None
        try:
            moment = _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)
        except OverflowError:
            raise wire.bad(f"time {seconds}s is outside years 1-9999") from None
        text = (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
                f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}")
        return text + (f".{moment.microsecond:06d}Z" if micro else "Z")

    return convert


def _duration(_: _Decoder, fields: Fields, depth: int) -> str:
    return go_duration(_int(fields, 1, "int64", "Duration.duration"))


def go_duration(ns: int) -> str:
    """Go's `time.Duration.String()`: `1h2m3.5s`, `150ms`, `0s`."""
    if ns == 0:
        return "0s"
    sign, u = ("-" if ns < 0 else ""), abs(ns)
    if u < 10**9:
        for unit, scale in (("ns", 1), ("µs", 10**3), ("ms", 10**6)):
            if u < scale * 1000:
                return sign + _decimal(u, scale) + unit
    seconds, frac = divmod(u, 10**9)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    out = _decimal(secs * 10**9 + frac, 10**9) + "s"
    if seconds >= 60:
        out = f"{minutes}m" + out
    if seconds >= 3600:
        out = f"{hours}h" + out
    return sign + out


def _decimal(value: int, scale: int) -> str:
    whole, frac = divmod(value, scale)
    digits = str(frac).rjust(len(str(scale)) - 1, "0").rstrip("0") if frac else ""
    return f"{whole}.{digits}" if digits else str(whole)


def _quantity(_: _Decoder, fields: Fields, depth: int) -> str:
    # The wire carries the canonical string; an absent one is the zero Quantity, "0".
    return _text(fields, 1, "Quantity.string") or "0"


def _int_or_string(_: _Decoder, fields: Fields, depth: int) -> int | str:
    kind = _int(fields, 1, "int64", "IntOrString.type")
    if kind == 0:
        return _int(fields, 2, "int32", "IntOrString.intVal")
    if kind == 1:
        return _text(fields, 3, "IntOrString.strVal")
    raise wire.bad(f"IntOrString has impossible type {kind}")


def _raw_json(_: _Decoder, fields: Fields, depth: int) -> Any:
    """RawExtension, FieldsV1, apiextensions JSON: JSON bytes embedded as they are."""
    if 1 not in fields:
        return None
    raw = _last_bytes(fields, 1, "raw")
    if not raw:
        return None
    if raw.startswith(MAGIC):
        return _envelope(raw, depth + 1)  # an object its client encoded as protobuf too
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise wire.bad(f"embedded raw JSON is invalid: {exc}") from None


def _schema_or(second: str) -> Callable[[_Decoder, Fields, int], Any]:
    """JSONSchemaPropsOrArray/OrStringArray: the list when it has items, else the schema."""

    def convert(d: _Decoder, fields: Fields, depth: int) -> Any:
        if fields.get(2):
            return d.field(second, REPEATED, fields[2], depth, "JSONSchemaPropsOr.items")
        if 1 in fields:
            return d.field(_PROPS, 0, fields[1], depth, "JSONSchemaPropsOr.schema")
        return None

    return convert


def _schema_or_bool(d: _Decoder, fields: Fields, depth: int) -> Any:
    if 2 in fields:
        return d.field(_PROPS, 0, fields[2], depth, "JSONSchemaPropsOrBool.schema")
    return bool(_int(fields, 1, "bool", "JSONSchemaPropsOrBool.allows"))


_PROPS = "apiextensions.v1.JSONSchemaProps"
_SPECIAL: dict[str, Callable[[_Decoder, Fields, int], Any]] = {
    "meta.v1.Time": _time(micro=False),
    "meta.v1.MicroTime": _time(micro=True),
    "meta.v1.Duration": _duration,
    "resource.Quantity": _quantity,
    "intstr.IntOrString": _int_or_string,
    "runtime.RawExtension": _raw_json,
    "meta.v1.FieldsV1": _raw_json,
    "apiextensions.v1.JSON": _raw_json,
    "apiextensions.v1.JSONSchemaPropsOrArray": _schema_or(_PROPS),
    "apiextensions.v1.JSONSchemaPropsOrStringArray": _schema_or("string"),
    "apiextensions.v1.JSONSchemaPropsOrBool": _schema_or_bool,
}


# -- small helpers ---------------------------------------------------------------------------


def _group(fields: list[wire.Field]) -> Fields:
    out: Fields = {}
    for number, wire_type, value in fields:
        out.setdefault(number, []).append((wire_type, value))
    return out


def _expect(kind: str, wire_type: int, raw: wire.Raw, where: str) -> wire.Raw:
    if wire_type != wire.wire_type(kind):
        raise wire.bad(f"{where}: wire type {wire_type} is not valid for {kind}")
    return raw


def _payload(wire_type: int, raw: wire.Raw, where: str) -> bytes:
    if wire_type != wire.LENGTH or not isinstance(raw, bytes):
        raise wire.bad(f"{where}: wire type {wire_type} is not valid for a message")
    return raw


def _last_bytes(fields: Fields, number: int, where: str) -> bytes:
    if number not in fields:
        return b""
    return _payload(*fields[number][-1], where)


def _text(fields: Fields, number: int, where: str) -> str:
    if number not in fields:
        return ""
    value = wire.scalar("string", _expect("string", *fields[number][-1], where))
    assert isinstance(value, str)
    return value


def _int(fields: Fields, number: int, kind: str, where: str) -> int:
    if number not in fields:
        return 0
    value = wire.scalar(kind, _expect(kind, *fields[number][-1], where))
    return int(value)


def _zero(kind: str) -> Any:
    return {"string": "", "bytes": "", "bool": False, "double": 0.0, "float": 0.0}.get(kind, 0)


def _is_zero(value: Any) -> bool:
    return value is None or value == "" or value == {} or (
        not isinstance(value, (list, dict, str)) and not value
    )
