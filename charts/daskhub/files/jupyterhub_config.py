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
c.JupyterHub.hub_connect_ip = os.environ["HUB_SERVICE_HOST_NAME"]
c.JupyterHub.cleanup_servers = False
c.JupyterHub.db_url = "sqlite:///" + os.path.join(os.environ["HUB_DATA_DIR"], "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = os.path.join(os.environ["HUB_DATA_DIR"], "cookie_secret")
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = "http://{}:{}".format(os.environ["PROXY_API_HOST_NAME"],
                                                        proxy["apiPort"])

auth = hub["authenticator"]
if auth["class"] == "shared-password":
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.admin_password = os.environ["HUB_ADMIN_PASSWORD"]
    if os.environ.get("HUB_USER_PASSWORD"):
        c.SharedPasswordAuthenticator.user_password = os.environ["HUB_USER_PASSWORD"]
else:
    c.JupyterHub.authenticator_class = auth["class"]
c.Authenticator.admin_users = set(auth.get("adminUsers") or [])

c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
c.KubeSpawner.namespace = namespace
c.KubeSpawner.image = "{}:{}".format(singleuser["image"]["repository"], singleuser["image"]["tag"])
c.KubeSpawner.image_pull_policy = singleuser["image"]["pullPolicy"]
c.KubeSpawner.cmd = singleuser["cmd"]
c.KubeSpawner.default_url = singleuser["defaultUrl"]
c.KubeSpawner.start_timeout = singleuser["startTimeout"]
c.KubeSpawner.cpu_guarantee = singleuser["cpu"]["guarantee"]
c.KubeSpawner.cpu_limit = singleuser["cpu"]["limit"]
c.KubeSpawner.mem_guarantee = singleuser["memory"]["guarantee"]
c.KubeSpawner.mem_limit = singleuser["memory"]["limit"]
c.KubeSpawner.service_account = os.environ["SINGLEUSER_SERVICE_ACCOUNT"]
c.KubeSpawner.profile_list = singleuser["profileList"]
# Every user server can launch Dask clusters in its own namespace (the launcher reads these).
c.KubeSpawner.environment = {
    "DASKHUB_LITE_NAMESPACE": namespace,
    "DASK_KUBERNETES__NAMESPACE": namespace,
    "DASKHUB_LITE_DASK_IMAGE": singleuser["daskImage"],
    "DASK_DISTRIBUTED__DASHBOARD__LINK": "{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/status",
    **singleuser.get("extraEnv", {}),
}

for class_name, traits in (hub.get("config") or {}).items():
    for trait, value in traits.items():
        setattr(c[class_name], trait, value)

for _key, snippet in sorted((hub.get("extraConfig") or {}).items()):
    exec(compile(snippet, "hub.extraConfig." + _key, "exec"))
