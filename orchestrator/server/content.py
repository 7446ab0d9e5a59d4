"""Request bodies in, responses out: content types, decoding, JSON rendering."""

from __future__ import annotations

import json
from typing import Any

import yaml
from aiohttp import web

from orchestrator.api import errors, jsonio, protobuf

MAX_BODY_BYTES = 3 * 1024 * 1024  # kube-apiserver's limit for a request body

JSON = "application/json"
YAML = "application/yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"


class DecodedBody:
    def __init__(self, value: Any, duplicates: list[str]) -> None:
        self.value = value
        self.duplicates = duplicates


def media_type(request: web.Request) -> str:
    return (request.headers.get("Content-Type") or JSON).split(";", 1)[0].strip().lower()


async def read_body(request: web.Request, *, allowed: tuple[str, ...] = ()) -> DecodedBody:
    """Decode a JSON, YAML or Kubernetes protobuf body; unknown types are refused with 415."""
    ctype = media_type(request)
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _too_large() from None
    if len(raw) > MAX_BODY_BYTES:
        raise _too_large()
    accepted = allowed or (JSON, YAML, "application/x-yaml", "text/yaml", PROTOBUF, "*/*")
    if ctype not in accepted:
        raise errors.UnsupportedMediaType(
            f'the body of the request was in an unknown format - accepted media types '
            f'include: {", ".join(a for a in accepted if a != "*/*")}'
        )
    if ctype == PROTOBUF:
        # client-go's encoding of built-in kinds; transcoded to the JSON form (api/protobuf.py)
        return DecodedBody(protobuf.decode(raw) if raw else None, [])
    if not raw.strip():
        return DecodedBody(None, [])
    text = _text(raw)
    if "yaml" in ctype:
        return DecodedBody(_yaml(text), [])
    return _json(text)


def _too_large() -> errors.APIError:
    # kube-apiserver's own words (`NewRequestEntityTooLargeError("limit is N")`)
    return errors.RequestEntityTooLarge(f"Request entity too large: limit is {MAX_BODY_BYTES}")


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.BadRequest(f"the body of the request is not valid UTF-8: {exc}") from None


def _json(text: str) -> DecodedBody:
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                duplicates.append(key)
            out[key] = value
        return out

    try:
        value = json.loads(text, object_pairs_hook=pairs, parse_constant=_no_constants)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise errors.BadRequest(
            f"the body of the request could not be decoded as JSON: {exc}"
        ) from None
    return DecodedBody(value, duplicates)


def _no_constants(name: str) -> Any:
    # Python's parser accepts NaN and Infinity; JSON (and Go's decoder) does not.
    raise json.JSONDecodeError(f"invalid literal {name}", name, 0)


def _yaml(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as exc:
        raise errors.BadRequest(
            f"the body of the request could not be decoded as YAML: {exc}"
        ) from None
    except ValueError as exc:  # e.g. out-of-range timestamps in YAML
        raise errors.BadRequest(f"the body of the request is invalid YAML: {exc}") from None


def accept_params(request: web.Request) -> dict[str, str]:
    """The first Accept entry's parameters (`as`, `g`, `v`), as kubectl negotiates them."""
    accept = request.headers.get("Accept", "")
    for entry in accept.split(","):
        parts = [p.strip() for p in entry.split(";")]
        params = {}
        for p in parts[1:]:
            if "=" in p:
                k, v = p.split("=", 1)
                params[k.strip()] = v.strip()
        if params.get("as"):
            return params
    return {}


def wants_table(request: web.Request) -> bool:
    params = accept_params(request)
    return params.get("as") == "Table" and params.get("g") == "meta.k8s.io"


def wants_metadata(request: web.Request) -> bool:
    params = accept_params(request)
    return params.get("as", "").startswith("PartialObjectMetadata") and params.get(
        "g"
    ) == "meta.k8s.io"


def respond(
    obj: Any, status: int = 200, warnings: list[str] | None = None,
    content_type: str = JSON,
) -> web.Response:
    # Byte for byte what kube-apiserver's JSON serializer writes (escapes, final newline).
    resp = web.Response(body=jsonio.go_encode(obj), status=status,
                        content_type="application/json", charset="utf-8")
    if content_type != JSON:
        resp.headers["Content-Type"] = content_type
    for w in warnings or []:
        resp.headers.add("Warning", '299 - "' + w.replace('"', '\\"') + '"')
    return resp
