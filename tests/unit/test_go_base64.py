"""[]byte fields decoded as Go decodes them, and stored in canonical form."""

from __future__ import annotations

import base64

import pytest

from orchestrator.api import schemas
from orchestrator.api.errors import BadRequest
from orchestrator.api.kinds import Registry
from orchestrator.api.validation import go_base64_decode, prune, validate_object

DATA = bytes(range(256))


def test_line_breaks_are_skipped_as_go_skips_them() -> None:
    wrapped = base64.encodebytes(DATA).decode()  # 76 columns
    assert go_base64_decode(wrapped) == DATA
    assert go_base64_decode(wrapped.replace("\n", "\r\n")) == DATA


@pytest.mark.parametrize("value", ["abc", "a b=", "YQ", "not*base64", "YQ==\tx"])
def test_anything_else_is_not_base64(value: str) -> None:
    assert go_base64_decode(value) is None


def _secret(value: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"k": value}}


def test_a_wrapped_secret_validates_and_is_stored_canonical() -> None:
    rt = Registry().lookup("", "v1", "secrets")
    assert rt is not None
    schema = schemas.schema_for("", "v1", "Secret")
    wrapped = base64.encodebytes(DATA).decode()
    obj = _secret(wrapped)
    assert validate_object(obj, rt, schema, field_validation="Strict") == []
    assert prune(obj, schema)["data"] == {"k": base64.b64encode(DATA).decode()}
    with pytest.raises(BadRequest, match="illegal base64 data at input byte 3"):
        validate_object(_secret("abc*"), rt, schema, field_validation="Strict")
