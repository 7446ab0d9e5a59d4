"""What aggregated API servers read to trust this API server, as kube-apiserver publishes it:
the ConfigMap kube-system/extension-apiserver-authentication (the client CA, and the
front-proxy CA with the request headers and the allowed client name) and the Role
extension-apiserver-authentication-reader that lets them read it (metrics-server's and
sample-apiserver's manifests bind to it). Kept up to date on every start."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestrator.api import errors
from orchestrator.server.objects import ObjectService, WriteOptions

NAME = "extension-apiserver-authentication"
READER = "extension-apiserver-authentication-reader"
NAMESPACE = "kube-system"
MANAGER = "kube-apiserver"


def configmap(client_ca: Path, front_proxy_ca: Path) -> dict[str, Any]:
    data = {
        "client-ca-file": client_ca.read_text(),
        "requestheader-allowed-names": json.dumps(["front-proxy-client"]),
        "requestheader-client-ca-file": front_proxy_ca.read_text(),
        "requestheader-extra-headers-prefix": json.dumps(["X-Remote-Extra-"]),
        "requestheader-group-headers": json.dumps(["X-Remote-Group"]),
        "requestheader-uid-headers": json.dumps(["X-Remote-Uid"]),
        "requestheader-username-headers": json.dumps(["X-Remote-User"]),
    }
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": NAME, "namespace": NAMESPACE}, "data": data}


def reader_role() -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": READER, "namespace": NAMESPACE,
                         "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                         "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"],
                       "resourceNames": [NAME], "verbs": ["get", "list", "watch"]}]}


def publish(service: ObjectService, client_ca: Path, front_proxy_ca: Path) -> None:
    """Create or refresh both objects (idempotent)."""
    opts = WriteOptions(field_manager=MANAGER)
    for (group, plural), body in ((("", "configmaps"), configmap(client_ca, front_proxy_ca)),
                                  (("rbac.authorization.k8s.io", "roles"), reader_role())):
        rt = service.registry.lookup(group, "v1", plural)
        assert rt is not None
        current = service.store.get(rt.key, NAMESPACE, body["metadata"]["name"])
        if current is None:
            try:
                service.create(rt, NAMESPACE, body, opts)
            except errors.AlreadyExists:
                pass
            continue
        wanted = {**current, **{k: v for k, v in body.items() if k != "metadata"}}
        if wanted != current:
            service.update(rt, NAMESPACE, body["metadata"]["name"], wanted, opts)
