"""Strategies of authorization.k8s.io/v1 and authentication.k8s.io/v1: reviews, answered on
create and never stored (orchestrator/server/reviews.py answers them)."""

from __future__ import annotations

from orchestrator.api.strategy import Strategy

_AUTHZ = "authorization.k8s.io"
_AUTHN = "authentication.k8s.io"
_CREATE = ("create",)
STRATEGIES: tuple[Strategy, ...] = (
    Strategy(_AUTHZ, "SelfSubjectAccessReview", "selfsubjectaccessreviews", namespaced=False,
             verbs=_CREATE),
    Strategy(_AUTHZ, "SubjectAccessReview", "subjectaccessreviews", namespaced=False,
             verbs=_CREATE),
    Strategy(_AUTHZ, "LocalSubjectAccessReview", "localsubjectaccessreviews", verbs=_CREATE),
    Strategy(_AUTHN, "SelfSubjectReview", "selfsubjectreviews", namespaced=False,
             verbs=_CREATE),
    Strategy(_AUTHN, "TokenReview", "tokenreviews", namespaced=False, verbs=_CREATE),
)
