"""Kubernetes fidelity, as clients see it: what DELETE answers (the typed client decodes it as
the kind), Status bodies byte for byte, `/openapi/v2` for kubectl's List validation, the
defaults kube-apiserver fills in on create, and []byte fields decoded as Go decodes them."""

from __future__ import annotations

import base64
import json
import sys
from typing import Any, Iterator

import pytest
import requests
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from orchestrator import ControlPlane
from tests.conftest import Kubectl


@pytest.fixture(scope="module")
def api(control_plane: ControlPlane) -> k8s.ApiClient:
    return k8s_config.new_client_from_config(config_file=control_plane.kubeconfig)


@pytest.fixture(scope="module")
def session(control_plane: ControlPlane) -> Iterator[requests.Session]:
    token = yaml.safe_load(open(control_plane.kubeconfig))["users"][0]["user"]["token"]
    s = requests.Session()
    s.verify = control_plane.ca_file
    s.trust_env = False
    s.headers["Authorization"] = f"Bearer {token}"
    yield s
    s.close()


def _url(cp: ControlPlane, path: str) -> str:
    return cp.url + path


def _unscheduled_pod(name: str) -> k8s.V1Pod:
    # No scheduler of that name: the pod stays Pending on no node, so it is deleted at once.
    return k8s.V1Pod(metadata=k8s.V1ObjectMeta(name=name), spec=k8s.V1PodSpec(
        scheduler_name="nobody", containers=[k8s.V1Container(name="c", image="i")]))


# --- DELETE -------------------------------------------------------------------------------
def test_delete_of_a_service_decodes_as_a_service(api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    created = core.create_namespaced_service("default", k8s.V1Service(
        metadata=k8s.V1ObjectMeta(name="gone-svc"),
        spec=k8s.V1ServiceSpec(ports=[k8s.V1ServicePort(port=80)])))
    deleted = core.delete_namespaced_service("gone-svc", "default")
    assert isinstance(deleted, k8s.V1Service)
    assert deleted.metadata.uid == created.metadata.uid
    assert deleted.spec.cluster_ip == created.spec.cluster_ip


def test_delete_of_an_unscheduled_pod_decodes_as_a_pod(api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    created = core.create_namespaced_pod("default", _unscheduled_pod("gone-pod"))
    deleted = core.delete_namespaced_pod("gone-pod", "default")
    assert isinstance(deleted, k8s.V1Pod)
    assert deleted.metadata.uid == created.metadata.uid
    assert deleted.metadata.deletion_timestamp is None  # gone at once, not graceful


def test_delete_of_a_configmap_or_deployment_is_a_status_success(api: k8s.ApiClient) -> None:
    core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
    cm = core.create_namespaced_config_map("default", k8s.V1ConfigMap(
        metadata=k8s.V1ObjectMeta(name="gone-cm")))
    status = core.delete_namespaced_config_map("gone-cm", "default")
    assert status == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                      "details": {"name": "gone-cm", "kind": "configmaps",
                                  "uid": cm.metadata.uid}}
    deploy = apps.create_namespaced_deployment("default", k8s.V1Deployment(
        metadata=k8s.V1ObjectMeta(name="gone-deploy"),
        spec=k8s.V1DeploymentSpec(
            replicas=0, selector=k8s.V1LabelSelector(match_labels={"app": "gone"}),
            template=k8s.V1PodTemplateSpec(
                metadata=k8s.V1ObjectMeta(labels={"app": "gone"}),
                spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="c", image="i")])))))
    status = apps.delete_namespaced_deployment("gone-deploy", "default",
                                               propagation_policy="Background")
    assert status["status"] == "Success"
    assert status["details"] == {"name": "gone-deploy", "group": "apps",
                                 "kind": "deployments", "uid": deploy.metadata.uid}


def test_delete_still_in_progress_answers_the_object(control_plane: ControlPlane,
                                                     session: requests.Session) -> None:
    base = _url(control_plane, "/api/v1/namespaces/default/configmaps")
    session.post(base, json={"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    # orphanDependents: false, sent explicitly, is the one case of 202 Accepted.
    resp = session.delete(f"{base}/held", json={"orphanDependents": False})
    assert resp.status_code == 202, resp.text
    assert resp.json()["kind"] == "ConfigMap" and resp.json()["metadata"]["deletionTimestamp"]
    again = session.delete(f"{base}/held")
    assert again.status_code == 200 and again.json()["kind"] == "ConfigMap"
    session.patch(f"{base}/held", json={"metadata": {"finalizers": None}},
                  headers={"Content-Type": "application/merge-patch+json"})
    assert session.get(f"{base}/held").status_code == 404


def test_kubectl_delete_output_is_unchanged(kubectl: Kubectl) -> None:
    kubectl.run("create", "service", "clusterip", "kd-svc", "--tcp=80:80")
    kubectl.run("create", "configmap", "kd-cm")
    out = kubectl.run("delete", "service/kd-svc", "configmap/kd-cm").stdout
    # kubectl waits for each uid the answer names (from the object or the Status details).
    assert out.splitlines() == ['service "kd-svc" deleted from default namespace',
                                'configmap "kd-cm" deleted from default namespace']


# --- Status bytes -------------------------------------------------------------------------
def test_not_found_status_bytes_are_kube_apiservers(control_plane: ControlPlane,
                                                    session: requests.Session) -> None:
    # Built by hand from metav1.Status: Go's field order, omitempty, <>& escaped, newline.
    resp = session.get(_url(control_plane, "/api/v1/namespaces/default/configmaps/a%26b%3Cc%3E"))
    assert resp.status_code == 404
    assert resp.content == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"configmaps \\"a\\u0026b\\u003cc\\u003e\\" not found","reason":"NotFound",'
        b'"details":{"name":"a\\u0026b\\u003cc\\u003e","kind":"configmaps"},"code":404}\n')


def test_conflict_status_bytes_are_kube_apiservers(control_plane: ControlPlane,
                                                   session: requests.Session) -> None:
    base = _url(control_plane, "/apis/apps/v1/namespaces/default/deployments")
    body = {"metadata": {"name": "conflicted"}, "spec": {
        "replicas": 0, "selector": {"matchLabels": {"a": "c"}},
        "template": {"metadata": {"labels": {"a": "c"}},
                     "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    created = session.post(base, json=body).json()
    stale = dict(body, metadata={"name": "conflicted", "resourceVersion": "1"})
    resp = session.put(f"{base}/conflicted", json=stale)
    assert resp.status_code == 409 and created["metadata"]["resourceVersion"] != "1"
    assert resp.content == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"Operation cannot be fulfilled on deployments.apps \\"conflicted\\": the '
        b'object has been modified; please apply your changes to the latest version and try '
        b'again","reason":"Conflict","details":{"name":"conflicted","group":"apps",'
        b'"kind":"deployments"},"code":409}\n')


# --- /openapi/v2 --------------------------------------------------------------------------
GOOD_LIST = """
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: listed-cm}
  data: {a: "1"}
- apiVersion: v1
  kind: Service
  metadata: {name: listed-svc}
  spec:
    ports: [{port: 80}]
"""

BAD_LIST = """
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: refused-cm}
  datta: {a: "1"}
- apiVersion: v1
  kind: Service
  metadata: {name: refused-svc}
  spec:
    ports: [{port: 80}]
"""


def test_kubectl_applies_a_list_with_default_validation(kubectl: Kubectl) -> None:
    out = kubectl.run("apply", "-f", "-", input=GOOD_LIST).stdout
    assert out.splitlines() == ["configmap/listed-cm created", "service/listed-svc created"]
    assert kubectl.json("get", "configmap", "listed-cm")["data"] == {"a": "1"}
    again = kubectl.run("apply", "-f", "-", input=GOOD_LIST).stdout
    assert again.splitlines() == ["configmap/listed-cm unchanged", "service/listed-svc unchanged"]


def test_kubectl_refuses_a_list_with_an_unknown_field(kubectl: Kubectl) -> None:
    proc = kubectl.run("apply", "-f", "-", input=BAD_LIST, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        'error: error validating "STDIN": error validating data: ValidationError(ConfigMap): '
        'unknown field "datta" in io.k8s.api.core.v1.ConfigMap; if you choose to ignore these '
        "errors, turn validation off with --validate=false")
    # Client-side validation refused the whole file: nothing of it was sent.
    names = {i["metadata"]["name"] for i in kubectl.json("get", "configmaps,services")["items"]}
    assert not names & {"refused-cm", "refused-svc"}


def test_openapi_v2_json_has_the_served_kinds(control_plane: ControlPlane,
                                              session: requests.Session) -> None:
    resp = session.get(_url(control_plane, "/openapi/v2"), headers={"Accept": "application/json"})
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json"
    doc = resp.json()
    assert doc["swagger"] == "2.0"
    deployment = doc["definitions"]["io.k8s.api.apps.v1.Deployment"]
    assert deployment["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}]
    assert deployment["properties"]["metadata"]["$ref"] == (
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
    assert "io.k8s.api.certificates.v1.CertificateSigningRequest" in doc["definitions"]
    again = session.get(_url(control_plane, "/openapi/v2"),
                        headers={"Accept": "application/json", "If-None-Match": resp.headers["ETag"]})
    assert again.status_code == 304


# --- defaults on create -------------------------------------------------------------------
def _statefulset(name: str, replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "serviceName": name,
                     "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "containers": [{"name": "main", "image": "v1", "command": [
                             sys.executable, "-c", "import time; time.sleep(600)"]}]}}}}


def test_new_workloads_carry_their_non_omitempty_status(control_plane: ControlPlane,
                                                        session: requests.Session) -> None:
    sts = session.post(_url(control_plane, "/apis/apps/v1/namespaces/default/statefulsets"),
                       json=_statefulset("zero-sts", 0)).json()
    assert sts["status"] == {"replicas": 0, "availableReplicas": 0}
    ds = session.post(_url(control_plane, "/apis/apps/v1/namespaces/default/daemonsets"), json={
        "metadata": {"name": "fresh-ds"}, "spec": {
            "selector": {"matchLabels": {"a": "ds"}}, "template": {
                "metadata": {"labels": {"a": "ds"}}, "spec": {
                    "nodeSelector": {"no-such-node": "x"},
                    "containers": [{"name": "c", "image": "i"}]}}}}).json()
    assert ds["status"] == {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                            "desiredNumberScheduled": 0, "numberReady": 0}


def test_kubectl_wait_finds_available_replicas_before_any_controller(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    # The API server alone: only the create strategy can have set the field.
    with ControlPlane(data_dir=tmp_path_factory.mktemp("api-only"), components=()) as cp:
        kubectl = Kubectl(cp, tmp_path_factory.mktemp("api-only-cache"))
        kubectl.run("apply", "-f", "-", input=json.dumps(_statefulset("idle", 0)))
        kubectl.run("wait", "--for=jsonpath={.status.availableReplicas}=0", "statefulset/idle",
                    "--timeout=5s", timeout=30)


def test_kubectl_waits_for_statefulset_available_replicas(kubectl: Kubectl) -> None:
    # The user's story end to end (the controller brings the pods up; it passed before the
    # create-time status too, and must keep passing).
    kubectl.run("apply", "-f", "-", input=json.dumps(_statefulset("avail", 3)))
    kubectl.run("wait", "--for=jsonpath={.status.availableReplicas}=3", "statefulset/avail",
                "--timeout=90s", timeout=100)
    kubectl.run("delete", "statefulset/avail", "--wait=false")


def test_pods_tolerate_unready_nodes_for_five_minutes(api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    plain = core.create_namespaced_pod("default", _unscheduled_pod("tolerating"))
    assert [(t.key, t.operator, t.effect, t.toleration_seconds)
            for t in plain.spec.tolerations] == [
        ("node.kubernetes.io/not-ready", "Exists", "NoExecute", 300),
        ("node.kubernetes.io/unreachable", "Exists", "NoExecute", 300)]
    own = _unscheduled_pod("own-toleration")
    own.spec.tolerations = [k8s.V1Toleration(key="node.kubernetes.io/not-ready",
                                             operator="Exists", effect="NoExecute",
                                             toleration_seconds=60)]
    mine = core.create_namespaced_pod("default", own)
    assert [(t.key, t.toleration_seconds) for t in mine.spec.tolerations] == [
        ("node.kubernetes.io/not-ready", 60), ("node.kubernetes.io/unreachable", 300)]
    everything = _unscheduled_pod("tolerates-all")
    everything.spec.tolerations = [k8s.V1Toleration(operator="Exists")]
    assert len(core.create_namespaced_pod("default", everything).spec.tolerations) == 1
    for name in ("tolerating", "own-toleration", "tolerates-all"):
        core.delete_namespaced_pod(name, "default")


# --- []byte fields ------------------------------------------------------------------------
def test_wrapped_base64_is_accepted_and_served_canonical(control_plane: ControlPlane,
                                                         session: requests.Session) -> None:
    payload = bytes(range(256)) * 2
    wrapped = base64.encodebytes(payload).decode()  # 76 columns, "\n" after each line
    assert "\n" in wrapped.rstrip("\n")
    canonical = base64.b64encode(payload).decode()
    secret = session.post(_url(control_plane, "/api/v1/namespaces/default/secrets"), json={
        "metadata": {"name": "wrapped"}, "data": {"key": wrapped.replace("\n", "\r\n")}})
    assert secret.status_code == 201, secret.text
    assert secret.json()["data"] == {"key": canonical}
    cm = session.post(_url(control_plane, "/api/v1/namespaces/default/configmaps"), json={
        "metadata": {"name": "wrapped-bin"}, "binaryData": {"blob": wrapped}})
    assert cm.status_code == 201, cm.text
    stored = session.get(_url(control_plane, "/api/v1/namespaces/default/configmaps/wrapped-bin"))
    assert stored.json()["binaryData"] == {"blob": canonical}


def test_bad_base64_is_still_refused(control_plane: ControlPlane,
                                     session: requests.Session) -> None:
    resp = session.post(_url(control_plane, "/api/v1/namespaces/default/secrets"), json={
        "metadata": {"name": "bad-b64"}, "data": {"key": "not*base64"}})
    assert resp.status_code == 400
    assert "illegal base64 data at input byte 3" in resp.json()["message"]
    assert session.get(_url(control_plane,
                            "/api/v1/namespaces/default/secrets/bad-b64")).status_code == 404
