"""API aggregation as kube-apiserver's aggregator does it: an APIService backed by a Service
(here tests/conformance/extension_apiserver.py as a pod) serves its group version through
this API server — discovery merged, requests authenticated and authorized here and passed on
with the front-proxy certificate and X-Remote-* headers, watches streamed — and its
Available condition follows the backend. Local APIServices (metrics.k8s.io) stay local."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from orchestrator import ControlPlane
from tests.conftest import Kubectl, wait_for
from tests.conformance.webhook_harness import WebhookCA

SERVER = str(Path(__file__).parent / "extension_apiserver.py")
NS = "example-system"


def available(kubectl: Kubectl, name: str) -> dict[str, Any]:
    obj = kubectl.json("get", "apiservice", name)
    return next((c for c in (obj.get("status") or {}).get("conditions") or []
                 if c["type"] == "Available"), {})


def backend_pod() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "widgets", "namespace": NS, "labels": {"app": "widgets"}},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                "name": "server", "image": "python:3.11",
                "command": [sys.executable, "-u", SERVER, "/etc/serving/tls.crt",
                            "/etc/serving/tls.key", "/etc/front-proxy/ca.crt", "0.0.0.0",
                            "8443"],
                "ports": [{"containerPort": 8443}],
                "readinessProbe": {"tcpSocket": {"port": 8443}, "periodSeconds": 1},
                "volumeMounts": [
                    {"name": "serving", "mountPath": "/etc/serving", "readOnly": True},
                    {"name": "front-proxy", "mountPath": "/etc/front-proxy",
                     "readOnly": True}]}],
                "volumes": [{"name": "serving", "secret": {"secretName": "widgets-tls"}},
                            {"name": "front-proxy", "configMap": {"name": "front-proxy-ca"}}]}}


def api_service(name: str, group: str, service: str, ca: WebhookCA) -> dict[str, Any]:
    version, _, _ = name.partition(".")
    return {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": name},
            "spec": {"group": group, "version": version, "groupPriorityMinimum": 1000,
                     "versionPriority": 15, "caBundle": ca.bundle,
                     "service": {"namespace": NS, "name": service, "port": 443}}}


@pytest.fixture(scope="module")
def widgets(kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebhookCA]:
    """The extension API server as a pod behind the Service `widgets` (443 -> 8443), the
    front-proxy CA copied from kube-system/extension-apiserver-authentication, and the
    APIService v1.example.test."""
    ca = WebhookCA("extension-ca")
    crt, key = ca.serving(tmp_path_factory.mktemp("ext-cert"), [f"widgets.{NS}.svc"])
    auth = kubectl.json("get", "configmap", "-n", "kube-system",
                        "extension-apiserver-authentication")["data"]
    front_proxy_ca = tmp_path_factory.mktemp("front-proxy") / "ca.crt"
    front_proxy_ca.write_text(auth["requestheader-client-ca-file"])
    kubectl.run("create", "namespace", NS)
    kubectl.run("create", "secret", "tls", "widgets-tls", "-n", NS, f"--cert={crt}",
                f"--key={key}")
    kubectl.run("create", "configmap", "front-proxy-ca", "-n", NS,
                f"--from-file=ca.crt={front_proxy_ca}")
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "widgets",
                                                                   "namespace": NS},
               "spec": {"selector": {"app": "widgets"},
                        "ports": [{"port": 443, "targetPort": 8443}]}}
    kubectl.run("apply", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "List", "items": [backend_pod(), service,
                                                       api_service("v1.example.test",
                                                                   "example.test", "widgets",
                                                                   ca)]}))
    yield ca
    kubectl.run("delete", "apiservice", "v1.example.test", "--ignore-not-found")
    kubectl.run("delete", "namespace", NS, "--wait=false")


def test_extension_api_is_served_through_its_service(kubectl: Kubectl,
                                                     widgets: WebhookCA) -> None:
    condition = wait_for(lambda: available(kubectl, "v1.example.test").get("status") == "True"
                         and available(kubectl, "v1.example.test"), timeout=60)
    assert (condition["reason"], condition["message"]) == ("Passed", "all checks passed")
    row = kubectl.run("get", "apiservice", "v1.example.test").stdout.splitlines()[1].split()
    assert row[:3] == ["v1.example.test", f"{NS}/widgets", "True"]
    served = json.loads(kubectl.run("get", "--raw", "/apis/example.test/v1").stdout)
    assert served["groupVersion"] == "example.test/v1"
    assert [r["name"] for r in served["resources"]] == ["widgets"]
    resources = kubectl.run("api-resources", "--api-group=example.test").stdout
    assert "widgets" in resources and "Widget" in resources and "wd" in resources
    groups = json.loads(kubectl.run("get", "--raw", "/apis").stdout)["groups"]
    assert {"name": "example.test", "versions": [
        {"groupVersion": "example.test/v1", "version": "v1"}],
        "preferredVersion": {"groupVersion": "example.test/v1", "version": "v1"}} in groups
    group = json.loads(kubectl.run("get", "--raw", "/apis/example.test").stdout)
    assert group["kind"] == "APIGroup" and group["preferredVersion"]["version"] == "v1"
    listed = kubectl.json("get", "widgets")["items"]
    assert [w["metadata"]["name"] for w in listed] == ["w1"]
    spec = listed[0]["spec"]
    # The user as this server authenticated it; the credentials themselves stay here.
    assert spec["requestedBy"] == "kubernetes-admin"
    assert "system:masters" in spec["groups"] and spec["sawAuthorization"] is False
    assert kubectl.run("get", "wd", "w1", "-o", "jsonpath={.kind}").stdout == "Widget"
    # A local APIService is still served here.
    metrics = available(kubectl, "v1beta1.metrics.k8s.io")
    assert (metrics["status"], metrics["reason"]) == ("True", "Local")
    assert json.loads(kubectl.run("get", "--raw", "/apis/metrics.k8s.io/v1beta1").stdout)[
        "groupVersion"] == "metrics.k8s.io/v1beta1"


def test_requests_are_authorized_here_and_carry_the_user(kubectl: Kubectl,
                                                         widgets: WebhookCA) -> None:
    wait_for(lambda: available(kubectl, "v1.example.test").get("status") == "True",
             timeout=60)
    denied = kubectl.run("get", "widgets", "--as=wanda", check=False)
    assert denied.returncode != 0
    assert ('widgets.example.test is forbidden: User "wanda" cannot list resource "widgets" '
            'in API group "example.test" in the namespace "default"') in denied.stderr
    kubectl.run("create", "role", "widget-reader", "--verb=get,list",
                "--resource=widgets.example.test")
    kubectl.run("create", "rolebinding", "widget-reader", "--role=widget-reader",
                "--user=wanda")
    try:
        got = wait_for(lambda: kubectl.run("get", "widgets", "--as=wanda", "--as-group=devs",
                                           "-o", "json", check=False))
        spec = json.loads(got.stdout)["items"][0]["spec"]
        assert spec["requestedBy"] == "wanda"
        assert spec["groups"] == ["devs", "system:authenticated"]
    finally:
        kubectl.run("delete", "rolebinding", "widget-reader")
        kubectl.run("delete", "role", "widget-reader")


def test_watches_stream_through(control_plane: ControlPlane, kubectl: Kubectl,
                                widgets: WebhookCA) -> None:
    wait_for(lambda: available(kubectl, "v1.example.test").get("status") == "True",
             timeout=60)
    with requests.get(control_plane.url + "/apis/example.test/v1/namespaces/default/widgets",
                      params={"watch": "1"}, verify=control_plane.ca_file, stream=True,
                      headers={"Authorization": f"Bearer {control_plane.token}"},
                      timeout=30) as response:
        assert response.status_code == 200
        event = json.loads(next(response.iter_lines()))
    assert event["type"] == "ADDED" and event["object"]["metadata"]["name"] == "w1"


def test_availability_follows_the_backend(kubectl: Kubectl, widgets: WebhookCA) -> None:
    wait_for(lambda: available(kubectl, "v1.example.test").get("status") == "True",
             timeout=60)
    kubectl.run("delete", "pod", "widgets", "-n", NS, "--wait=true", timeout=90)
    down = wait_for(lambda: available(kubectl, "v1.example.test").get("status") == "False"
                    and available(kubectl, "v1.example.test"), timeout=60)
    assert down["reason"] in ("MissingEndpoints", "EndpointsNotFound", "FailedDiscoveryCheck")
    refused = kubectl.run("get", "widgets", check=False)
    assert refused.returncode != 0
    assert "the server is currently unable to handle the request" in refused.stderr
    assert kubectl.run("get", "pods", "-n", NS).returncode == 0  # everything else works
    kubectl.run("apply", "-f", "-", input=json.dumps(backend_pod()))
    wait_for(lambda: available(kubectl, "v1.example.test").get("status") == "True",
             timeout=60)
    assert kubectl.json("get", "widgets")["items"]


def test_apiservice_without_its_service(kubectl: Kubectl, widgets: WebhookCA) -> None:
    kubectl.run("apply", "-f", "-", input=json.dumps(
        api_service("v1.gadgets.example.test", "gadgets.example.test", "nope", widgets)))
    try:
        condition = wait_for(lambda: available(kubectl, "v1.gadgets.example.test"))
        assert condition == {**condition, "status": "False", "reason": "ServiceNotFound",
                             "message": f'service/nope in "{NS}" is not present'}
        refused = kubectl.run("get", "--raw", "/apis/gadgets.example.test/v1/gadgets",
                              check=False)
        assert refused.returncode != 0
        assert "ServiceUnavailable" in refused.stderr or "unable to handle" in refused.stderr
    finally:
        kubectl.run("delete", "apiservice", "v1.gadgets.example.test")


def test_extension_apiserver_authentication_is_published(kubectl: Kubectl,
                                                          control_plane: ControlPlane) -> None:
    data = kubectl.json("get", "configmap", "-n", "kube-system",
                        "extension-apiserver-authentication")["data"]
    assert data["client-ca-file"] == Path(control_plane.ca_file).read_text()
    assert json.loads(data["requestheader-allowed-names"]) == ["front-proxy-client"]
    assert json.loads(data["requestheader-username-headers"]) == ["X-Remote-User"]
    assert json.loads(data["requestheader-group-headers"]) == ["X-Remote-Group"]
    assert json.loads(data["requestheader-extra-headers-prefix"]) == ["X-Remote-Extra-"]
    assert "BEGIN CERTIFICATE" in data["requestheader-client-ca-file"]
    role = kubectl.json("get", "role", "-n", "kube-system",
                        "extension-apiserver-authentication-reader")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"],
                              "resourceNames": ["extension-apiserver-authentication"],
                              "verbs": ["get", "list", "watch"]}]
