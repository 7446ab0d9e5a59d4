"""API errors as Kubernetes reports them.

Handlers and pure functions raise these; one translator in the server renders the
`Status` body (see `APIError.status`). Messages follow the API server's wording so that
clients which match on them (kubectl, client-go's `IsNotFound`, Helm) behave as on a real
cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Cause:
    """One entry of `Status.details.causes`: what was wrong, and where."""

    reason: str  # FieldValueInvalid, FieldValueRequired, FieldValueNotSupported, ...
    message: str
    field: str = ""

    def to_dict(self) -> dict[str, str]:
        # metav1.StatusCause: every field is `omitempty`.
        out = {}
        if self.reason:
            out["reason"] = self.reason
        if self.message:
            out["message"] = self.message
        if self.field:
            out["field"] = self.field
        return out


class APIError(Exception):
    """An error with an HTTP code and a Kubernetes `reason`."""

    code: int = 500
    reason: str = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        name: str = "",
        group: str = "",
        kind: str = "",
        causes: list[Cause] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.name = name
        self.group = group
        self.kind = kind
        self.causes = list(causes or [])
        self.retry_after = retry_after

    def status(self) -> dict[str, Any]:
        """The `Status` object a real API server sends for this error: metav1.Status's
        fields in Go's order, `omitempty` ones left out when empty (`metadata`, a struct,
        is always there)."""
        body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                "status": "Failure"}
        if self.message:
            body["message"] = self.message
        if self.reason:
            body["reason"] = self.reason
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [c.to_dict() for c in self.causes]
        if self.retry_after:
            details["retryAfterSeconds"] = self.retry_after
        if details:
            body["details"] = details
        if self.code:
            body["code"] = self.code
        return body


class BadRequest(APIError):
    code, reason = 400, "BadRequest"


class Unauthorized(APIError):
    code, reason = 401, "Unauthorized"


class Forbidden(APIError):
    code, reason = 403, "Forbidden"


class NotFound(APIError):
    code, reason = 404, "NotFound"


class MethodNotAllowed(APIError):
    code, reason = 405, "MethodNotAllowed"


class NotAcceptable(APIError):
    code, reason = 406, "NotAcceptable"


class AlreadyExists(APIError):
    code, reason = 409, "AlreadyExists"


class Conflict(APIError):
    code, reason = 409, "Conflict"


class Gone(APIError):
    """A resourceVersion or continue token older than the history the store keeps."""

    code, reason = 410, "Expired"


class RequestEntityTooLarge(APIError):
    code, reason = 413, "RequestEntityTooLarge"


class UnsupportedMediaType(APIError):
    code, reason = 415, "UnsupportedMediaType"


class Invalid(APIError):
    """422: the object failed validation. Build with `Invalid.of(...)`."""

    code, reason = 422, "Invalid"

    @classmethod
    def of(cls, kind: str, group: str, name: str, causes: list[Cause]) -> "Invalid":
        # `Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be ...`
        qualified = f"{kind}.{group}" if group else kind
        parts = [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
        if len(parts) == 1:
            detail = parts[0]
        else:
            detail = "[" + ", ".join(parts) + "]"
        return cls(
            f'{qualified} "{name}" is invalid: {detail}',
            name=name,
            group=group,
            kind=kind,
            causes=causes,
        )


class TooManyRequests(APIError):
    code, reason = 429, "TooManyRequests"


class InternalError(APIError):
    code, reason = 500, "InternalError"


class ServiceUnavailable(APIError):
    code, reason = 503, "ServiceUnavailable"


# Field-error helpers mirroring apimachinery's field.Invalid / field.Required / ...
def invalid(path: str, value: Any, detail: str) -> Cause:
    return Cause("FieldValueInvalid", f"Invalid value: {_render(value)}: {detail}", path)


def required(path: str, detail: str = "") -> Cause:
    return Cause("FieldValueRequired", "Required value" + (f": {detail}" if detail else ""), path)


def not_supported(path: str, value: Any, supported: list[str]) -> Cause:
    choices = ", ".join(f'"{s}"' for s in supported)
    return Cause(
        "FieldValueNotSupported",
        f"Unsupported value: {_render(value)}: supported values: {choices}",
        path,
    )


def forbidden(path: str, detail: str) -> Cause:
    return Cause("FieldValueForbidden", f"Forbidden: {detail}", path)


def duplicate(path: str, value: Any) -> Cause:
    return Cause("FieldValueDuplicate", f"Duplicate value: {_render(value)}", path)


def unknown_field(path: str) -> Cause:
    return Cause("FieldValueInvalid", f'unknown field "{path}"', path)


def _render(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


__all__ = [
    "APIError",
    "AlreadyExists",
    "BadRequest",
    "Cause",
    "Conflict",
    "Forbidden",
    "Gone",
    "InternalError",
    "Invalid",
    "MethodNotAllowed",
    "NotAcceptable",
    "NotFound",
    "RequestEntityTooLarge",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "UnsupportedMediaType",
    "duplicate",
    "forbidden",
    "invalid",
    "not_supported",
    "required",
    "unknown_field",
]
