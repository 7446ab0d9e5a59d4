"""The protobuf wire format, read only: fields, varints and scalar values.

Everything malformed raises `errors.BadRequest`; the message says where the input broke, so a
client author can find the bad byte.
"""

from __future__ import annotations

import base64
import math
import struct
from typing import Union

from orchestrator.api import errors

VARINT, FIXED64, LENGTH, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5

# A field's raw value: an int for varint/fixed wire types, the bytes for length-delimited.
Raw = Union[int, bytes]
Field = tuple[int, int, Raw]  # (field number, wire type, value)

_VARINT_TYPES = frozenset({"int32", "int64", "uint32", "uint64", "sint32", "sint64", "bool"})
_FIXED64_TYPES = frozenset({"fixed64", "sfixed64", "double"})
_FIXED32_TYPES = frozenset({"fixed32", "sfixed32", "float"})
SCALARS = _VARINT_TYPES | _FIXED64_TYPES | _FIXED32_TYPES | {"string", "bytes"}


def bad(message: str) -> errors.BadRequest:
    return errors.BadRequest(
        f"the body of the request could not be decoded as Kubernetes protobuf: {message}"
    )


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """The varint at `pos` and the position after it (at most 10 bytes, as in Go)."""
    value = shift = 0
    for i in range(pos, min(pos + 10, len(data))):
        byte = data[i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if value >= 1 << 64:
                raise bad(f"varint at byte {pos} overflows 64 bits")
            return value, i + 1
        shift += 7
    if pos + 10 <= len(data):
        raise bad(f"varint at byte {pos} is longer than 10 bytes")
    raise bad(f"truncated varint at byte {pos}")


def fields(data: bytes) -> list[Field]:
    """Split one message into its fields, in wire order."""
    out: list[Field] = []
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0 or number >= 1 << 29:
            raise bad(f"invalid field number {number} at byte {pos}")
        value: Raw
        if wire == VARINT:
            value, pos = read_varint(data, pos)
        elif wire in (FIXED64, FIXED32):
            size = 8 if wire == FIXED64 else 4
            if pos + size > len(data):
                raise bad(f"truncated fixed-width field {number} at byte {pos}")
            value = int.from_bytes(data[pos:pos + size], "little")
            pos += size
        elif wire == LENGTH:
            length, pos = read_varint(data, pos)
            if pos + length > len(data):
                raise bad(f"field {number} claims {length} bytes but only "
                          f"{len(data) - pos} remain")
            value = data[pos:pos + length]
            pos += length
        elif wire in (START_GROUP, END_GROUP):
            raise bad(f"field {number} uses protobuf groups, which the Kubernetes API never does")
        else:
            raise bad(f"field {number} has invalid wire type {wire}")
        out.append((number, wire, value))
    return out


def wire_type(kind: str) -> int:
    """The wire type a non-packed scalar of protobuf type `kind` travels in."""
    if kind in _VARINT_TYPES:
        return VARINT
    if kind in _FIXED64_TYPES:
        return FIXED64
    if kind in _FIXED32_TYPES:
        return FIXED32
    return LENGTH


def unpack(kind: str, data: bytes) -> list[int]:
    """The raw values of a packed repeated numeric field."""
    out: list[int] = []
    pos = 0
    if kind in _VARINT_TYPES:
        while pos < len(data):
            value, pos = read_varint(data, pos)
            out.append(value)
        return out
    size = 8 if kind in _FIXED64_TYPES else 4
    if len(data) % size:
        raise bad(f"packed {kind} field is {len(data)} bytes, not a multiple of {size}")
    return [int.from_bytes(data[i:i + size], "little") for i in range(0, len(data), size)]


def scalar(kind: str, raw: Raw) -> str | int | float | bool:
    """One scalar as JSON would carry it (bytes become base64, as Go's encoding/json does)."""
    if isinstance(raw, bytes):
        if kind == "bytes":
            return base64.b64encode(raw).decode("ascii")
        # Go's JSON encoder replaces invalid UTF-8 with U+FFFD rather than failing.
        return raw.decode("utf-8", errors="replace")
    if kind == "bool":
        return raw != 0
    if kind in ("int64", "sfixed64"):
        return _signed(raw, 64)
    if kind in ("int32", "sfixed32"):
        return _signed(raw & 0xFFFFFFFF, 32)  # Go truncates a 64-bit varint to int32
    if kind == "uint32":
        return raw & 0xFFFFFFFF
    if kind in ("sint32", "sint64"):
        return (raw >> 1) ^ -(raw & 1)
    if kind in ("double", "float"):
        number: float = struct.unpack("<d" if kind == "double" else "<f",
                                      raw.to_bytes(8 if kind == "double" else 4, "little"))[0]
        if not math.isfinite(number):
            raise bad(f"{kind} value {number} has no JSON form")
        return number
    return raw  # uint64, fixed32, fixed64


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >= 1 << (bits - 1) else value
