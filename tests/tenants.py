"""A tenant of a shared cluster, as DaskHub makes one: a namespace, a service account bound to
`edit` there only, and kubectl / kubeconfig holding that account's token (what a user's notebook
server holds). Security tests attack the API with it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from orchestrator import ControlPlane
from tests.conftest import Kubectl

_SETUP = """
apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: {account}, namespace: {ns}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: {account}-{role}, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {role}}}
subjects: [{{kind: ServiceAccount, name: {account}, namespace: {ns}}}]
"""


@dataclass
class Tenant:
    namespace: str
    token: str
    kubeconfig: str
    kubectl: Kubectl


def kubeconfig_with_token(cp: ControlPlane, token: str, path: Path) -> str:
    """The admin kubeconfig with its credentials replaced by `token` (same server, same CA)."""
    config = yaml.safe_load(Path(cp.kubeconfig).read_text())
    for user in config["users"]:
        user["user"] = {"token": token}
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return str(path)


def make_tenant(cp: ControlPlane, admin: Kubectl, namespace: str, tmp: Path,
                role: str = "edit", account: str = "jupyter") -> Tenant:
    """Create the namespace, the account and its binding with the admin's kubectl; return the
    tenant's own kubectl (its own discovery cache) and token."""
    admin.run("apply", "-f", "-",
              input=_SETUP.format(ns=namespace, account=account, role=role))
    token = admin.run("create", "token", account, "-n", namespace,
                      "--duration", "1h").stdout.strip()
    folder = tmp / f"tenant-{namespace}"
    folder.mkdir(parents=True, exist_ok=True)
    kubeconfig = kubeconfig_with_token(cp, token, folder / "kubeconfig")

    class _AsTenant:
        pass

    view = _AsTenant()
    view.kubeconfig = kubeconfig  # type: ignore[attr-defined]
    user_kubectl = Kubectl(view, folder / "kubectl-cache")  # type: ignore[arg-type]
    return Tenant(namespace, token, kubeconfig, user_kubectl)
