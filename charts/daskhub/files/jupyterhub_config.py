# JupyterHub configuration for the daskhub chart. Values come from the chart (mounted JSON);
# secrets come from the environment (the <release>-hub Secret). Written for both a real cluster
# and daskhub-lite's embedded control plane: nothing here depends on the image.
import json
import os
from pathlib import Path

values = json.loads(Path(os.environ["DASKHUB_VALUES"]).read_text())
hub, proxy, singleuser = values["hub"], values["proxy"], values["singleuser"]
namespace = os.environ["POD_NAMESPACE"]

c.JupyterHub.hub_ip = "0.0.0.0"
c.JupyterHub.port = proxy["port"]
c.JupyterHub.hub_port = hub["port"]
# `<service>.<namespace>`: user servers may run in their own namespaces.
c.JupyterHub.hub_connect_ip = "{}.{}".format(os.environ["HUB_SERVICE_HOST_NAME"], namespace)
c.JupyterHub.cleanup_servers = False
c.JupyterHub.db_url = "sqlite:///" + os.path.join(os.environ["HUB_DATA_DIR"], "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = os.path.join(os.environ["HUB_DATA_DIR"], "cookie_secret")
c.ConfigurableHTTPProxy.should_start = False
# A restarted proxy pod starts with no routes: the hub puts them back at this interval.
c.JupyterHub.last_activity_interval = int(proxy.get("routeCheckSeconds", 300))
c.ConfigurableHTTPProxy.api_url = "http://{}:{}".format(os.environ["PROXY_API_HOST_NAME"],
                                                        proxy["apiPort"])

auth = hub["authenticator"]
if auth["class"] == "shared-password":
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.admin_password = os.environ["HUB_ADMIN_PASSWORD"]
    if os.environ.get("HUB_USER_PASSWORD"):
        c.SharedPasswordAuthenticator.user_password = os.environ["HUB_USER_PASSWORD"]
    # The passwords are the gate: admins need the admin password, anyone else the user
    # password (none by default, so only admins get in).
    c.Authenticator.allow_all = True
else:
    c.JupyterHub.authenticator_class = auth["class"]
c.Authenticator.admin_users = set(auth.get("adminUsers") or [])

c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
c.KubeSpawner.namespace = namespace
user_namespaces = singleuser["userNamespaces"]
c.KubeSpawner.image = "{}:{}".format(singleuser["image"]["repository"], singleuser["image"]["tag"])
c.KubeSpawner.image_pull_policy = singleuser["image"]["pullPolicy"]
c.KubeSpawner.cmd = singleuser["cmd"]
# Images run as jovyan; on the embedded control plane the server runs as whoever runs it.
c.KubeSpawner.args = ["--ServerApp.allow_root=True",
                      # jupyter-server-proxy may reach the user's own Services (dashboards).
                      "--ServerApp.jpserver_extensions=daskhub_lite.serverext=True"]
c.KubeSpawner.http_timeout = 90
c.KubeSpawner.default_url = singleuser["defaultUrl"]
c.KubeSpawner.start_timeout = singleuser["startTimeout"]
c.KubeSpawner.cpu_guarantee = singleuser["cpu"]["guarantee"]
c.KubeSpawner.cpu_limit = singleuser["cpu"]["limit"]
c.KubeSpawner.mem_guarantee = singleuser["memory"]["guarantee"]
c.KubeSpawner.mem_limit = singleuser["memory"]["limit"]
c.KubeSpawner.profile_list = singleuser["profileList"]
# What the user namespaces' Pod Security level (restricted by default) asks of a pod.
c.KubeSpawner.pod_security_context = singleuser.get("podSecurityContext") or {}
c.KubeSpawner.container_security_context = singleuser.get("containerSecurityContext") or {}
# A pod that cannot start should say why at once, not after start_timeout.
c.KubeSpawner.events_enabled = True
# Every user server can launch Dask clusters in its own namespace (the launcher reads these).
c.KubeSpawner.environment = {
    "DASKHUB_LITE_DASK_IMAGE": singleuser["daskImage"],
    # Dashboards through the user's own server (behind the hub's login), also for the
    # sidebar's panes: {host} is the scheduler Service, allowed by daskhub_lite.serverext.
    "DASK_DISTRIBUTED__DASHBOARD__LINK":
        "{{JUPYTERHUB_SERVICE_PREFIX}}proxy/{{host}}:{{port}}/status",
    # dask-labextension's sidebar (and its /dask/clusters API) makes daskhub_lite clusters.
    "DASK_LABEXTENSION__FACTORY__MODULE": "daskhub_lite",
    "DASK_LABEXTENSION__FACTORY__CLASS": "DaskCluster",
    **singleuser.get("extraEnv", {}),
}

if user_namespaces["enabled"]:
    # Each user gets a namespace of their own and a service account bound there (only there)
    # to `user_namespaces.clusterRole`: Dask clusters and training Jobs, no one else's pods.
    # KubeSpawner's own template would read the hub namespace from a file that only exists
    # where service-account volumes are mounted, so the hub namespace is spelled out here.
    c.KubeSpawner.enable_user_namespaces = True
    c.KubeSpawner.user_namespace_template = namespace + "-{username}"
    # Pod Security admission holds every pod in the namespace to this level: what a user
    # runs there (servers, Dask clusters, Jobs) gets no host access, whatever it asks for.
    pod_security = {"pod-security.kubernetes.io/" + mode: user_namespaces.get(
        "podSecurity", "restricted") for mode in ("enforce", "warn", "audit")}
    pod_security.update({"pod-security.kubernetes.io/" + mode + "-version": "latest"
                         for mode in ("enforce", "warn", "audit")})
    c.KubeSpawner.user_namespace_labels = {
        "app.kubernetes.io/managed-by": "daskhub",
        "hub.jupyter.org/hub-namespace": namespace,
        "hub.jupyter.org/username": "{username}",
        **pod_security,
    }
    c.KubeSpawner.service_account = user_namespaces["serviceAccountName"]

    async def _prepare_user_namespace(spawner):
        from kubernetes_asyncio import client as k8s
        from kubernetes_asyncio.client.rest import ApiException

        ns = spawner.namespace
        core = spawner.api
        rbac = k8s.RbacAuthorizationV1Api(core.api_client)
        account = user_namespaces["serviceAccountName"]
        labels = {"app.kubernetes.io/managed-by": "daskhub",
                  "hub.jupyter.org/hub-namespace": namespace}
        creations = [
            (core.create_namespace, ({"apiVersion": "v1", "kind": "Namespace", "metadata": {
                "name": ns, "labels": {**labels, **pod_security, "hub.jupyter.org/username":
                                       spawner._expand_user_properties("{username}")}}},)),
            (core.create_namespaced_service_account, (ns, {
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": account, "labels": labels}})),
            (rbac.create_namespaced_role_binding, (ns, {
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": account, "labels": labels},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": user_namespaces["clusterRole"]},
                "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": ns}]})),
        ]
        for create, args in creations:
            try:
                await create(*args)
            except ApiException as exc:
                if exc.status != 409:  # already there from an earlier spawn
                    raise
        await _user_limits(core, ns, labels)
        spawner.environment = {**spawner.environment, "DASKHUB_LITE_NAMESPACE": ns,
                               "DASK_KUBERNETES__NAMESPACE": ns}

    async def _user_limits(core, ns, labels):
        """The user's LimitRange and ResourceQuota, as the values say now (an admin's change
        reaches each user at their next spawn). The server pod comes next and counts in the
        quota, so wait until the quota controller has taken the quota up: until then
        Kubernetes enforces nothing."""
        import asyncio
        import time

        from kubernetes_asyncio.client.rest import ApiException

        wanted = [("user-limits", "limitRange", core.read_namespaced_limit_range,
                   core.create_namespaced_limit_range, core.replace_namespaced_limit_range,
                   "LimitRange", lambda v: {"limits": v}),
                  ("user-quota", "quota", core.read_namespaced_resource_quota,
                   core.create_namespaced_resource_quota, core.replace_namespaced_resource_quota,
                   "ResourceQuota", lambda v: {"hard": v})]
        for name, key, read, create, replace, kind, spec_of in wanted:
            value = user_namespaces.get(key)
            if not value:
                continue
            body = {"apiVersion": "v1", "kind": kind, "spec": spec_of(value),
                    "metadata": {"name": name, "labels": labels}}
            try:
                await create(ns, body)
            except ApiException as exc:
                if exc.status != 409:
                    raise
                current = await read(name, ns)
                body["metadata"]["resourceVersion"] = current.metadata.resource_version
                await replace(name, ns, body)
        if not user_namespaces.get("quota"):
            return
        hard = {str(k) for k in user_namespaces["quota"]}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = (await core.read_namespaced_resource_quota("user-quota", ns)).status
            if status is not None and set((status.hard or {})) == hard and \
                    set((status.used or {})) >= hard:
                return
            await asyncio.sleep(0.2)

    c.KubeSpawner.pre_spawn_hook = _prepare_user_namespace
else:
    c.KubeSpawner.service_account = os.environ["SINGLEUSER_SERVICE_ACCOUNT"]
    c.KubeSpawner.environment.update({"DASKHUB_LITE_NAMESPACE": namespace,
                                      "DASK_KUBERNETES__NAMESPACE": namespace})

cull = values.get("cull") or {}
if cull.get("enabled"):
    # jupyterhub-idle-culler as a hub-managed service (the hub starts it in its own pod, with
    # its API URL and a token), with only the scopes it needs: see servers' activity and stop
    # them. A service gets a bare environment; it keeps the pod's (its network settings, so
    # the hub's Service name resolves everywhere), less the hub's secrets.
    import sys

    _secrets = {"HUB_ADMIN_PASSWORD", "HUB_USER_PASSWORD", "CONFIGPROXY_AUTH_TOKEN"}
    c.JupyterHub.services.append({
        "name": "idle-culler",
        "environment": {k: v for k, v in os.environ.items()
                        if k not in _secrets and not k.startswith("JUPYTERHUB_")},
        "command": [sys.executable, "-m", "jupyterhub_idle_culler",
                    "--timeout={}".format(cull["timeout"]),
                    "--cull-every={}".format(cull["every"]),
                    "--max-age={}".format(cull.get("maxAge", 0)),
                    "--concurrency={}".format(cull.get("concurrency", 10))],
    })
    c.JupyterHub.load_roles.append({
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    })

for class_name, traits in (hub.get("config") or {}).items():
    for trait, value in traits.items():
        setattr(c[class_name], trait, value)

for _key, snippet in sorted((hub.get("extraConfig") or {}).items()):
    exec(compile(snippet, "hub.extraConfig." + _key, "exec"))
