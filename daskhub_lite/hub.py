"""`daskhub-lite up --hub` (wired in `up.py`): DaskHub installed on the new cluster, then
the hub's address and how to log in (the generated admin password is shown this once; it
stays in the `<release>-hub` Secret).

The user layer owns this flag: the control plane knows nothing of charts. The install runs
the ordinary `install` command in this process (Helm's engine), so `helm ls` shows the release.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import yaml

from daskhub_lite.errors import UserError

RELEASE = "daskhub"
NAMESPACE = "daskhub"


class HubError(UserError):
    """One line on stderr, as every CLI error."""


def install_hub(kubeconfig: str, timeout: int = 300) -> int:
    print(f"installing DaskHub (release {RELEASE}, namespace {NAMESPACE}) ...", flush=True)
    from daskhub_lite.charts import cli as charts_cli
    from daskhub_lite.charts.errors import ChartError

    try:
        charts_cli.install([RELEASE, "daskhub", "-n", NAMESPACE, "--create-namespace",
                            "--wait", "--timeout", f"{timeout}s", "--kubeconfig", kubeconfig])
    except ChartError as err:
        raise HubError(str(err) or "installing daskhub failed") from err
    secret = _read(kubeconfig, "secret", f"{RELEASE}-hub")
    password = base64.b64decode(secret["data"]["admin-password"]).decode()
    print(f"DaskHub is ready at {_url(kubeconfig)}")
    print(f"log in as: admin\npassword:  {password}")
    print("(shown once; it is kept in the Secret "
          f"{NAMESPACE}/{RELEASE}-hub, key admin-password)")
    return 0


def _url(kubeconfig: str) -> str:
    deadline = time.monotonic() + 30
    while True:
        ingress = _read(kubeconfig, "ingress", RELEASE)
        lb = ((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if lb or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if not lb:
        return "(the Ingress has no address yet: kubectl get ingress -n daskhub)"
    host = lb[0].get("ip") or lb[0].get("hostname") or "127.0.0.1"
    port = (lb[0].get("ports") or [{}])[0].get("port", 80)
    return f"http://{host}/" if port == 80 else f"http://{host}:{port}/"


def _read(kubeconfig: str, kind: str, name: str) -> dict[str, Any]:
    """One object of the hub's namespace, as a dict (the `kubernetes` client, no kubectl)."""
    from kubernetes import client, config

    with config.new_client_from_config(config_file=kubeconfig) as api_client:
        if kind == "secret":
            raw = client.CoreV1Api(api_client).read_namespaced_secret(
                name, NAMESPACE, _preload_content=False)
        else:
            raw = client.NetworkingV1Api(api_client).read_namespaced_ingress(
                name, NAMESPACE, _preload_content=False)
        return dict(yaml.safe_load(raw.data))
