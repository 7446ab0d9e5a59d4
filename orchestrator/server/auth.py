"""Who is asking, and may they? Authentication by bearer token, authorization by RBAC.

Two kinds of token are accepted: the admin token of the kubeconfig (user
`kubernetes-admin`, group `system:masters`: everything is allowed), and service-account
tokens this server issues through the TokenRequest API — HS256 JWTs naming the account and
its uid, checked against a key in the data dir and the account's current uid, so deleting
the account revokes its tokens. As kube-apiserver's service-account authenticator:

- a token is for its audiences (`aud`); it authenticates to this server only when one of
  them is the server's own (`API_AUDIENCES`, the issuer, as kube-apiserver defaults
  `--api-audiences`), and a TokenReview asking for other audiences gets only those;
- a token bound to a Pod, Secret or Node (`boundObjectRef`) is void once that object is
  gone or re-created (another uid): deleting a pod revokes the tokens it was given.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

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
API_AUDIENCES = (ISSUER,)
EXTRA = "authentication.kubernetes.io/"
# Objects a token may be bound to: kind -> (store key, namespaced).
BOUND_KINDS = {"Pod": ("/pods", True), "Secret": ("/secrets", True), "Node": ("/nodes", False)}
INVALIDATED = "service account token has been invalidated"
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


def _go_quoted(values: Sequence[str]) -> str:
    return "[" + " ".join(json.dumps(v) for v in values) + "]"


@dataclass(frozen=True)
class TokenResult:
    """What authenticating a token found: the user (None: not authenticated), the
    audiences it is good for among those asked, and why it failed."""

    user: UserInfo | None
    audiences: tuple[str, ...] = ()
    error: str = ""


class Auth:
    """Authenticates requests and authorizes them against the RBAC objects in the store."""

    def __init__(self, store: Store, admin_token: str | None, signing_key: bytes,
                 audiences: Sequence[str] = API_AUDIENCES) -> None:
        self.store = store
        self.admin_token = admin_token
        self.key = signing_key
        self.audiences = tuple(audiences)
        self._rbac: RBACState | None = None
        store.subscribe(self._on_change)

    # -- authentication ------------------------------------------------------------------

    def authenticate(self, token: str) -> UserInfo | None:
        """The user a bearer token of a request stands for (for this server's audiences)."""
        return self.review(token).user

    def review(self, token: str, audiences: Sequence[str] = ()) -> TokenResult:
        """Authenticate `token` for `audiences` (default: this server's), as a TokenReview."""
        wanted = tuple(audiences) or self.audiences
        if self.admin_token is not None and hmac.compare_digest(token, self.admin_token):
            # Not a JWT: good for this server's own audiences only.
            granted = tuple(a for a in wanted if a in self.audiences)
            if not granted:
                return TokenResult(None, error=f"token audiences {_go_quoted(self.audiences)} "
                                               f"is invalid for the target audiences "
                                               f"{_go_quoted(wanted)}")
            return TokenResult(ADMIN, granted)
        return self._service_account(token, wanted)

    def issue_token(self, namespace: str, name: str, uid: str, seconds: int,
                    audiences: list[str], bound: Mapping[str, Any] | None = None
                    ) -> tuple[str, int]:
        """A signed service-account token and its expiry (unix seconds). `bound` holds the
        claims of the objects it is bound to (`bound_claims`)."""
        now = int(time.time())
        expires = now + max(600, min(seconds, MAX_TOKEN_SECONDS))
        claims: dict[str, Any] = {
            "iss": ISSUER, "sub": f"system:serviceaccount:{namespace}:{name}",
            "aud": list(audiences) or list(self.audiences), "iat": now, "nbf": now,
            "exp": expires, "jti": str(uuid.uuid4()),
            "kubernetes.io": {"namespace": namespace,
                              "serviceaccount": {"name": name, "uid": uid}, **(bound or {})},
        }
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = _b64(hmac.new(self.key, f"{header}.{body}".encode(), hashlib.sha256).digest())
        return f"{header}.{body}.{signature}", expires

    def bound_claims(self, namespace: str, account: str, ref: Mapping[str, Any]
                     ) -> dict[str, Any]:
        """The claims binding a token to `ref` (a TokenRequest's boundObjectRef), checked as
        kube-apiserver's TokenRequest does: a Pod, Secret or Node that exists (with the uid
        given, if any); a Pod running as `account`. A pod's node is bound too."""
        kind, name = str(ref.get("kind") or ""), str(ref.get("name") or "")
        version = str(ref.get("apiVersion") or "")
        group, _, version_only = version.rpartition("/")
        if kind not in BOUND_KINDS or group:
            raise errors.BadRequest(f"cannot bind token to object of type "
                                    f"{group}/{version_only}, Kind={kind}")
        key, namespaced = BOUND_KINDS[kind]
        obj = self.store.get(key, namespace if namespaced else "", name)
        if obj is None:
            raise errors.NotFound(f'{key.lstrip("/")} "{name}" not found', name=name,
                                  kind=key.lstrip("/"))
        uid = obj["metadata"].get("uid", "")
        if ref.get("uid") and ref["uid"] != uid:
            raise errors.Conflict(
                f'Operation cannot be fulfilled on {kind} "{name}": the UID in the bound object '
                f"reference ({ref['uid']}) does not match the UID in record. The object might "
                "have been deleted and then recreated", name=name, kind=kind)
        claims: dict[str, Any] = {kind.lower(): {"name": name, "uid": uid}}
        if kind == "Pod":
            if ((obj.get("spec") or {}).get("serviceAccountName") or "default") != account:
                raise errors.BadRequest(f'cannot bind token for serviceaccount "{account}" to '
                                        "pod running with different serviceaccount name.")
            node_name = (obj.get("spec") or {}).get("nodeName")
            node = self.store.get("/nodes", "", node_name) if node_name else None
            if node is not None:
                claims["node"] = {"name": node_name, "uid": node["metadata"].get("uid", "")}
        return claims

    def _service_account(self, token: str, wanted: tuple[str, ...]) -> TokenResult:
        parts = token.split(".")
        if len(parts) != 3:
            return TokenResult(None, error="invalid bearer token")
        expected = hmac.new(self.key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(_unb64(parts[2]), expected):
                return TokenResult(None, error="invalid bearer token")
            claims = json.loads(_unb64(parts[1]))
        except (ValueError, TypeError):
            return TokenResult(None, error="invalid bearer token")
        if not isinstance(claims, dict) or claims.get("iss") != ISSUER:
            return TokenResult(None, error="invalid bearer token")
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] < time.time():
            return TokenResult(None, error="service account token has expired")
        aud = claims.get("aud")
        token_audiences = tuple(str(a) for a in (aud if isinstance(aud, list) else [aud]) if a)
        granted = tuple(a for a in token_audiences if a in wanted)
        if not granted:
            return TokenResult(None, error=f"token audiences {_go_quoted(token_audiences)} is "
                                           f"invalid for the target audiences "
                                           f"{_go_quoted(wanted)}")
        k8s = claims.get("kubernetes.io")
        if not isinstance(k8s, dict):
            return TokenResult(None, error="invalid bearer token")
        namespace = str(k8s.get("namespace", ""))
        sa = k8s.get("serviceaccount") or {}
        current = self.store.get("/serviceaccounts", namespace, str(sa.get("name", "")))
        if current is None:
            return TokenResult(None, error=f"service account {namespace}/{sa.get('name')} "
                                           "has been deleted")
        if current["metadata"].get("uid") != sa.get("uid"):
            return TokenResult(None, error=f"service account UID "
                                           f"({current['metadata'].get('uid')}) does not "
                                           f"match claim ({sa.get('uid')})")
        extra: dict[str, tuple[str, ...]] = {}
        for kind, (key, namespaced) in BOUND_KINDS.items():
            ref = k8s.get(kind.lower())
            if not isinstance(ref, dict):
                continue
            # A pod-bound token names the pod's node for TokenReview's extra; only a token
            # bound to the node itself dies with it (as in kube).
            if kind != "Node" or not isinstance(k8s.get("pod"), dict):
                bound = self.store.get(key, namespace if namespaced else "",
                                       str(ref.get("name")))
                if bound is None or bound["metadata"].get("uid") != ref.get("uid"):
                    return TokenResult(None, error=INVALIDATED)
            if kind != "Secret":
                extra[f"{EXTRA}{kind.lower()}-name"] = (str(ref.get("name")),)
                extra[f"{EXTRA}{kind.lower()}-uid"] = (str(ref.get("uid")),)
        if claims.get("jti"):
            extra[f"{EXTRA}credential-id"] = (f"JTI={claims['jti']}",)
        return TokenResult(UserInfo.service_account(namespace, str(sa["name"]),
                                                    str(sa.get("uid", "")), extra), granted)

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
