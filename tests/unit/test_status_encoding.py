"""Status bodies as metav1.Status encodes them, and JSON bytes as Go's json.Encoder writes."""

from __future__ import annotations

from orchestrator.api import errors, jsonio


def test_status_keeps_go_field_order_and_omits_empty_fields() -> None:
    err = errors.NotFound('pods "p" not found', name="p", kind="pods")
    assert list(err.status()) == ["kind", "apiVersion", "metadata", "status", "message",
                                  "reason", "details", "code"]
    bare = errors.BadRequest("")
    assert bare.status() == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                             "status": "Failure", "reason": "BadRequest", "code": 400}


def test_causes_and_retry_after_are_omitempty() -> None:
    assert errors.Cause("", "", "spec").to_dict() == {"field": "spec"}
    assert errors.Cause("FieldValueRequired", "Required value").to_dict() == {
        "reason": "FieldValueRequired", "message": "Required value"}
    assert "details" not in errors.TooManyRequests("slow down", retry_after=0).status()
    assert errors.TooManyRequests("slow down", retry_after=1).status()["details"] == {
        "retryAfterSeconds": 1}


def test_go_encode_escapes_html_and_line_separators_and_ends_with_newline() -> None:
    assert jsonio.go_encode({"m": "a<b>&c\u2028\u2029é\n"}) == \
        b'{"m":"a\\u003cb\\u003e\\u0026c\\u2028\\u2029\xc3\xa9\\n"}\n'


def test_go_encode_writes_a_lone_surrogate_as_the_replacement_character() -> None:
    assert jsonio.go_encode({"m": "x\ud800", "big": 2 ** 70}) == \
        b'{"m":"x\\ufffd","big":1180591620717411303424}\n'
