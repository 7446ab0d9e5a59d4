"""Review and token APIs: created, answered, never stored.

`kubectl auth can-i` posts a SelfSubjectAccessReview; `kubectl auth whoami` a
SelfSubjectReview; in-cluster components use SubjectAccessReview / TokenReview; and
`kubectl create token` (and the node runtime) use the `serviceaccounts/token` subresource.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from aiohttp import web

from orchestrator.api import errors
from orchestrator.api.rbac import Attributes, UserInfo
from orchestrator.server import content
from orchestrator.server.auth import Auth

AUTH_KEY = "auth"


def _attributes(spec: dict[str, Any], default_ns: str = "") -> Attributes:
    res = spec.get("resourceAttributes")
    if isinstance(res, dict):
        return Attributes(verb=str(res.get("verb", "")),
                          namespace=str(res.get("namespace") or default_ns),
                          api_group=str(res.get("group", "")),
                          resource=str(res.get("resource", "")),
                          subresource=str(res.get("subresource", "")),
                          name=str(res.get("name", "")))
    non = spec.get("nonResourceAttributes")
    if isinstance(non, dict):
        return Attributes(verb=str(non.get("verb", "")), path=str(non.get("path", "")),
                          resource_request=False)
    raise errors.Invalid.of("SubjectAccessReview", "authorization.k8s.io", "", [
        errors.required("spec.resourceAttributes",
                        "exactly one of nonResourceAttributes or resourceAttributes")])


def _user_from_spec(spec: dict[str, Any]) -> UserInfo:
    return UserInfo(str(spec.get("user", "")), tuple(spec.get("groups") or ()),
                    str(spec.get("uid", "")))


def _user_dict(user: UserInfo) -> dict[str, Any]:
    out: dict[str, Any] = {"username": user.name, "groups": list(user.groups)}
    if user.uid:
        out["uid"] = user.uid
    if user.extra:
        out["extra"] = {k: list(v) for k, v in user.extra.items()}
    return out


def _token_review(spec: dict[str, Any], auth: Auth) -> dict[str, Any]:
    """TokenReview as kube-apiserver answers it: the token is tried for `spec.audiences`
    (default: this server's own); `status.audiences` are those it is good for."""
    token = spec.get("token")
    if not isinstance(token, str) or not token:
        raise errors.BadRequest("token is required for TokenReview in authentication")
    audiences = spec.get("audiences") or []
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise errors.BadRequest("spec.audiences must be a list of strings")
    result = auth.review(token, audiences)
    status: dict[str, Any] = {"authenticated": result.user is not None}
    if result.user is not None:
        status["user"] = _user_dict(result.user)
        status["audiences"] = list(result.audiences)
    if result.error:
        status["error"] = result.error
    return status


def _review(request: web.Request, body: dict[str, Any], auth: Auth, kind: str,
            namespace: str) -> dict[str, Any]:
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    if kind == "SelfSubjectReview":
        return {**body, "status": {"userInfo": _user_dict(request["user"])}}
    if kind == "TokenReview":
        return {**body, "status": _token_review(spec, auth)}
    user = request["user"] if kind.startswith("Self") else _user_from_spec(spec)
    attrs = _attributes(spec, namespace)
    allowed = auth.allowed(user, attrs)
    return {**body, "status": {"allowed": allowed,
                               **({} if allowed else {"reason": ""})}}


REVIEW_KINDS = ("SelfSubjectAccessReview", "SubjectAccessReview", "LocalSubjectAccessReview",
                "SelfSubjectReview", "TokenReview")


async def create_review(request: web.Request, kind: str, namespace: str) -> web.Response:
    auth: Auth | None = request.app.get(AUTH_KEY)
    if auth is None:
        raise errors.ServiceUnavailable("authorization is not enabled on this server")
    body = (await content.read_body(request)).value
    if not isinstance(body, dict):
        raise errors.BadRequest(f"the body of the request must be a {kind}")
    return content.respond(_review(request, body, auth, kind, namespace), 201)


async def token_request(request: web.Request, namespace: str, name: str,
                        get_account: Callable[[], dict[str, Any]]) -> web.Response:
    """POST serviceaccounts/{name}/token: a TokenRequest answered with a signed token."""
    auth: Auth | None = request.app.get(AUTH_KEY)
    if auth is None:
        raise errors.ServiceUnavailable("token issuing is not enabled on this server")
    account = get_account()
    body = (await content.read_body(request)).value or {}
    if not isinstance(body, dict):
        raise errors.BadRequest("the body of the request must be a TokenRequest")
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    seconds = spec.get("expirationSeconds", 3600)
    if not isinstance(seconds, int) or seconds < 600:
        raise errors.Invalid.of("TokenRequest", "authentication.k8s.io", name, [
            errors.invalid("spec.expirationSeconds", seconds,
                           "may not specify a duration less than 10 minutes")])
    audiences = spec.get("audiences") or list(auth.audiences)
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise errors.BadRequest("spec.audiences must be a list of strings")
    ref = spec.get("boundObjectRef")
    bound = auth.bound_claims(namespace, name, ref) if isinstance(ref, dict) else None
    token, expires = auth.issue_token(namespace, name, account["metadata"]["uid"], seconds,
                                      audiences, bound)
    spec = {**spec, "audiences": audiences}
    stamp = datetime.fromtimestamp(expires, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return content.respond({
        "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace,
                     "creationTimestamp": datetime.now(timezone.utc).strftime(
                         "%Y-%m-%dT%H:%M:%SZ")},
        "spec": {**spec, "expirationSeconds": expires - int(datetime.now().timestamp())},
        "status": {"token": token, "expirationTimestamp": stamp},
    }, 201)
