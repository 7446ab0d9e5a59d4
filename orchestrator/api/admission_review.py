"""AdmissionReview: what an admission webhook is sent and how its answer is read, as
kube-apiserver does it (k8s.io/apiserver/pkg/admission/plugin/webhook/request,
webhook/errors and the dispatchers' handling of answers).

`review(...)` builds the request (v1 or v1beta1, whichever the webhook lists first);
`verify(...)` checks the answer (`admission.k8s.io/v1, Kind=AdmissionReview`, the request's
uid, patch and patchType together, no patch from a validating webhook) and raises
`InvalidResponse` with kube's message otherwise; `denial(...)` is the Status of a refusal:
`admission webhook "<name>" denied the request: <message>`, the webhook's code (400 at
least) and reason. `call_failure(...)` is the 500 a failed call becomes under
`failurePolicy: Fail`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from orchestrator.api import errors

Obj = dict[str, Any]


class InvalidResponse(Exception):
    """The webhook answered something kube-apiserver would not accept; the message is the
    reason as kube words it after `failed calling webhook "<name>": `."""


@dataclass(frozen=True)
class Answer:
    """A verified webhook response."""

    allowed: bool
    result: Mapping[str, Any] | None = None
    patch: list[Any] | None = None  # decoded JSON patch operations
    warnings: tuple[str, ...] = ()
    audit_annotations: Mapping[str, str] = field(default_factory=dict)


def user_info(name: str, uid: str, groups: tuple[str, ...],
              extra: Mapping[str, tuple[str, ...]]) -> Obj:
    """authentication/v1 UserInfo, its empty fields left out."""
    out: Obj = {"username": name}
    if uid:
        out["uid"] = uid
    if groups:
        out["groups"] = list(groups)
    if extra:
        out["extra"] = {k: list(v) for k, v in extra.items()}
    return out


def review(version: str, uid: str, *, kind: Obj, resource: Obj, subresource: str,
           request_kind: Obj, request_resource: Obj, name: str, namespace: str,
           operation: str, user: Obj, obj: Obj | None, old: Obj | None, dry_run: bool,
           options: Obj | None) -> Obj:
    """The AdmissionReview sent to a webhook (AdmissionRequest's fields in Go's order)."""
    request: Obj = {"uid": uid, "kind": kind, "resource": resource}
    if subresource:
        request["subResource"] = subresource
    request["requestKind"] = request_kind
    request["requestResource"] = request_resource
    if subresource:
        request["requestSubResource"] = subresource
    if name:
        request["name"] = name
    if namespace:
        request["namespace"] = namespace
    request.update({"operation": operation, "userInfo": user, "object": obj,
                    "oldObject": old, "dryRun": dry_run, "options": options})
    return {"kind": "AdmissionReview", "apiVersion": f"admission.k8s.io/{version}",
            "request": request}


def operation_options(operation: str, *, patch: bool, field_manager: str, dry_run: bool,
                      delete_options: Obj | None = None) -> Obj | None:
    """`request.options`: the CreateOptions, UpdateOptions, PatchOptions or DeleteOptions
    the request was made with."""
    if operation == "DELETE":
        out: Obj = {"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1"}
        out.update(delete_options or {})
    else:
        kind = ("CreateOptions" if operation == "CREATE" else
                "PatchOptions" if patch else "UpdateOptions")
        out = {"kind": kind, "apiVersion": "meta.k8s.io/v1"}
        if field_manager:
            out["fieldManager"] = field_manager
    if dry_run:
        out["dryRun"] = ["All"]
    return out


def _gvk(api_version: Any, kind: Any) -> str:
    group, _, version = str(api_version or "").rpartition("/")
    return f"{group}/{version}, Kind={kind or ''}"


def verify(body: Any, uid: str, version: str, mutating: bool) -> Answer:
    """Check a webhook's answer as VerifyAdmissionResponse does."""
    if not isinstance(body, Mapping):
        raise _invalid("webhook response was absent")
    response = body.get("response")
    if not isinstance(response, Mapping):
        raise _invalid("webhook response was absent")
    if version == "v1":
        if str(response.get("uid") or "") != uid:
            raise _invalid(f'expected response.uid="{uid}", got '
                           f'"{response.get("uid") or ""}"')
        if (body.get("apiVersion"), body.get("kind")) != ("admission.k8s.io/v1",
                                                          "AdmissionReview"):
            raise _invalid("expected webhook response of admission.k8s.io/v1, "
                           "Kind=AdmissionReview, got "
                           + _gvk(body.get("apiVersion"), body.get("kind")))
    raw_patch, patch_type = response.get("patch"), response.get("patchType")
    patch: list[Any] | None = None
    if mutating:
        if version == "v1":
            if raw_patch and patch_type is None:
                raise _invalid("webhook returned response.patch but not response.patchType")
            if not raw_patch and patch_type is not None:
                raise _invalid("webhook returned response.patchType but not response.patch")
            if patch_type is not None and not patch_type:
                raise _invalid('webhook returned invalid response.patchType of ""')
        elif raw_patch:
            patch_type = "JSONPatch"  # v1beta1 never checked it
        if raw_patch and response.get("allowed") is True:  # a refusal's patch is moot
            patch = _decode_patch(raw_patch)
            if patch and patch_type != "JSONPatch":
                raise InvalidResponse(f'unsupported patch type "{patch_type}"')
    elif version == "v1":
        if raw_patch:
            raise _invalid("validating webhook may not return response.patch")
        if patch_type is not None:
            raise _invalid("validating webhook may not return response.patchType")
    warnings = response.get("warnings")
    annotations = response.get("auditAnnotations")
    result = response.get("status")
    return Answer(
        allowed=response.get("allowed") is True,
        result=result if isinstance(result, Mapping) else None,
        patch=patch,
        warnings=tuple(str(w) for w in warnings) if isinstance(warnings, list) else (),
        audit_annotations={str(k): str(v) for k, v in annotations.items()}
        if isinstance(annotations, Mapping) else {})


def _invalid(message: str) -> InvalidResponse:
    return InvalidResponse(f"received invalid webhook response: {message}")


def _decode_patch(raw: Any) -> list[Any]:
    if not isinstance(raw, str):
        raise _invalid("response.patch must be base64-encoded JSON")
    try:
        operations = json.loads(base64.b64decode(raw, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise InvalidResponse(f"received undecodable patch in webhook response: {exc}"
                              ) from None
    if not isinstance(operations, list):
        raise InvalidResponse("received undecodable patch in webhook response: json: "
                              "cannot unmarshal object into Go value of type jsonpatch.Patch")
    return operations


class StatusError(errors.APIError):
    """An error whose whole Status body is given (a webhook's refusal passes on its code,
    reason and details)."""

    def __init__(self, status: Mapping[str, Any]) -> None:
        super().__init__(str(status.get("message") or ""))
        self.code = int(status.get("code") or 400)
        self.reason = str(status.get("reason") or "")
        self._status = dict(status)

    def status(self) -> dict[str, Any]:
        return dict(self._status)


def denial(webhook: str, result: Mapping[str, Any] | None) -> StatusError:
    """ToStatusErr: the Status a refusal by `webhook` is answered with."""
    result = dict(result or {})
    denied_by = f'admission webhook "{webhook}" denied the request'
    code = result.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) and code >= 400 \
        else 400
    status = result.get("status")
    if status in (None, "", "Success"):
        status = "Failure"
    message, reason = str(result.get("message") or ""), str(result.get("reason") or "")
    if message:
        message = f"{denied_by}: {message}"
    elif reason:
        message = f"{denied_by}: {reason}"
    else:
        message = f"{denied_by} without explanation"
    body: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": status,
                 "message": message}
    if reason:
        body["reason"] = reason
    details = result.get("details")
    if isinstance(details, Mapping) and details:
        body["details"] = dict(details)
    body["code"] = code
    return StatusError(body)


def call_failure(webhook: str, reason: str) -> errors.InternalError:
    """A call that failed (or an answer that could not be used) under failurePolicy Fail:
    `Internal error occurred: failed calling webhook "<name>": <reason>`."""
    text = f'failed calling webhook "{webhook}": {reason}'
    return errors.InternalError(f"Internal error occurred: {text}",
                                causes=[errors.Cause("", text)])


def dry_run_unsupported(webhook: str) -> errors.BadRequest:
    return errors.BadRequest(f'admission webhook "{webhook}" does not support dry run')
