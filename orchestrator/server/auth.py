"""Who is asking, and may they? Authentication by bearer token, authorization by RBAC.

Two kinds of token are accepted: the admin token of the kubeconfig (user
`kubernetes-admin`, group `system:masters`: everything is allowed), and service-account
tokens this server issues through the TokenRequest API — HS256 JWTs naming the account and
its uid, checked against a key in the data dir and the account's current uid, so deleting
the account revokes its tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from pathlib import Path
from typing import Any

from orchestrator.api import errors
from orchestrator.api.rbac import (
    AUTHENTICATED,
    MASTERS,
    Attributes,
    RBACState,
    UserInfo,
    authorize,
    forbidden_message,
)
from orchestrator.store import Event, Store

ISSUER = "https://kubernetes.default.svc.cluster.local"
ADMIN = UserInfo("kubernetes-admin", (MASTERS, AUTHENTICATED))
RBAC_KEYS = ("rbac.authorization.k8s.io/roles", "rbac.authorization.k8s.io/clusterroles",
             "rbac.authorization.k8s.io/rolebindings",
             "rbac.authorization.k8s.io/clusterrolebindings")
MAX_TOKEN_SECONDS = 48 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_signing_key(directory: Path) -> bytes:
    path = directory / "sa.key"
    if path.exists():
        return path.read_bytes()
    key = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


class Auth:
    """Authenticates requests and authorizes them against the RBAC objects in the store."""

    def __init__(self, store: Store, admin_token: str | None, signing_key: bytes) -> None:
        self.store = store
        self.admin_token = admin_token
        self.key = signing_key
        self._rbac: RBACState | None = None
        store.subscribe(self._on_change)

    # -- authentication ------------------------------------------------------------------

    def authenticate(self, token: str) -> UserInfo | None:
        if self.admin_token is not None and hmac.compare_digest(token, self.admin_token):
            return ADMIN
        return self._service_account(token)

    def issue_token(self, namespace: str, name: str, uid: str, seconds: int,
                    audiences: list[str], bound: dict[str, Any] | None = None
                    ) -> tuple[str, int]:
        """A signed service-account token and its expiry (unix seconds)."""
        now = int(time.time())
        expires = now + max(600, min(seconds, MAX_TOKEN_SECONDS))
        claims: dict[str, Any] = {
            "iss": ISSUER, "sub": f"system:serviceaccount:{namespace}:{name}",
            "aud": audiences or [ISSUER], "iat": now, "nbf": now, "exp": expires,
            "kubernetes.io": {"namespace": namespace,
                              "serviceaccount": {"name": name, "uid": uid}},
        }
        if bound:
            claims["kubernetes.io"][bound.get("kind", "object").lower()] = {
                "name": bound.get("name"), "uid": bound.get("uid")}
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = _b64(hmac.new(self.key, f"{header}.{body}".encode(), hashlib.sha256).digest())
        return f"{header}.{body}.{signature}", expires

    def _service_account(self, token: str) -> UserInfo | None:
        parts = token.split(".")
        if len(parts) != 3:
            return None
        expected = hmac.new(self.key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(_unb64(parts[2]), expected):
                return None
            claims = json.loads(_unb64(parts[1]))
        except (ValueError, TypeError):
            return None
        if not isinstance(claims, dict) or claims.get("exp", 0) < time.time():
            return None
        k8s = claims.get("kubernetes.io") or {}
        namespace = k8s.get("namespace", "")
        sa = k8s.get("serviceaccount") or {}
        current = self.store.get("/serviceaccounts", namespace, sa.get("name", ""))
        if current is None or current["metadata"].get("uid") != sa.get("uid"):
            return None  # the account is gone (or was re-created): its tokens are void
        return UserInfo.service_account(namespace, sa["name"], sa.get("uid", ""))

    def impersonate(self, user: UserInfo, name: str, groups: list[str]) -> UserInfo:
        """`kubectl --as`: act as another user if RBAC allows `impersonate` on it."""
        prefix = "system:serviceaccount:"
        if name.startswith(prefix) and name.count(":") == 3:
            namespace, account = name[len(prefix):].split(":", 1)
            attrs = Attributes("impersonate", namespace, "", "serviceaccounts", name=account)
            target = UserInfo.service_account(namespace, account)
        else:
            attrs = Attributes("impersonate", "", "", "users", name=name)
            target = UserInfo(name, (AUTHENTICATED,))
        self.check(user, attrs)
        for group in groups:
            self.check(user, Attributes("impersonate", "", "", "groups", name=group))
        if groups:
            target = UserInfo(target.name, tuple(groups) + (AUTHENTICATED,), target.uid)
        return target

    # -- authorization -------------------------------------------------------------------

    def _on_change(self, event: Event) -> None:
        if event.resource in RBAC_KEYS:
            self._rbac = None

    def _state(self) -> RBACState:
        if self._rbac is None:
            roles = {(r["metadata"].get("namespace", ""), r["metadata"]["name"]): r
                     for r in self.store.objects(RBAC_KEYS[0])}
            cluster_roles = {r["metadata"]["name"]: r for r in self.store.objects(RBAC_KEYS[1])}
            self._rbac = RBACState(roles, cluster_roles, self.store.objects(RBAC_KEYS[2]),
                                   self.store.objects(RBAC_KEYS[3]))
        return self._rbac

    def allowed(self, user: UserInfo, attrs: Attributes) -> bool:
        if MASTERS in user.groups:
            return True
        return authorize(user, attrs, self._state())[0]

    def check(self, user: UserInfo, attrs: Attributes) -> None:
        """Raise the 403 Status kube-apiserver sends when RBAC allows nothing."""
        if not self.allowed(user, attrs):
            raise errors.Forbidden(forbidden_message(user, attrs), name=attrs.name,
                                   group=attrs.api_group, kind=attrs.resource)
