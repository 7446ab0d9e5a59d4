"""kubectl sends built-in kinds as Kubernetes protobuf; each `kubectl create` must land intact.

kubectl 1.37 posts `Content-Type: application/vnd.kubernetes.protobuf` for every typed
`create` subcommand; the stored object is read back as JSON and compared field by field.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from orchestrator import ControlPlane
from tests.conftest import Kubectl

PROTOBUF = "application/vnd.kubernetes.protobuf"


def create(kubectl: Kubectl, *args: str) -> str:
    return kubectl.run("create", *args).stdout


def test_kubectl_sends_protobuf(kubectl: Kubectl) -> None:
    # Proves this module tests the protobuf path, not a JSON fallback.
    proc = kubectl.run("create", "configmap", "probe", "--from-literal=k=v", "-v=8")
    assert f"Content-Type: {PROTOBUF}" in proc.stderr
    assert kubectl.json("get", "configmap", "probe")["data"] == {"k": "v"}


def test_namespace(kubectl: Kubectl) -> None:
    assert "namespace/team-a created" in create(kubectl, "namespace", "team-a")
    ns = kubectl.json("get", "namespace", "team-a")
    assert ns["metadata"]["labels"]["kubernetes.io/metadata.name"] == "team-a"
    assert ns["status"]["phase"] == "Active"


def test_configmap(kubectl: Kubectl) -> None:
    create(kubectl, "configmap", "settings", "--from-literal=greeting=hello",
           "--from-literal=empty=", "-n", "default")
    cm = kubectl.json("get", "configmap", "settings")
    assert cm["data"] == {"empty": "", "greeting": "hello"}
    meta = cm["metadata"]
    # client-go writes every non-pointer field of ObjectMeta; none may leak in as "" or 0
    # and none may stop the server from filling its own.
    assert meta["uid"] and meta["resourceVersion"] and meta["creationTimestamp"]
    assert "selfLink" not in meta and "generateName" not in meta


def test_secret_generic(kubectl: Kubectl) -> None:
    create(kubectl, "secret", "generic", "creds", "--from-literal=password=s3cr3t!",
           "--from-literal=user=alice")
    secret = kubectl.json("get", "secret", "creds")
    assert secret["type"] == "Opaque"
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert decoded == {"password": "s3cr3t!", "user": "alice"}


def test_secret_from_binary_file(kubectl: Kubectl, tmp_path: Path) -> None:
    blob = bytes(range(256))
    (tmp_path / "blob.bin").write_bytes(blob)
    create(kubectl, "secret", "generic", "binary", f"--from-file={tmp_path / 'blob.bin'}")
    secret = kubectl.json("get", "secret", "binary")
    assert base64.b64decode(secret["data"]["blob.bin"]) == blob


def test_deployment(kubectl: Kubectl) -> None:
    create(kubectl, "deployment", "web", "--image=python:3.11", "--replicas=2", "--port=8000",
           "--", "python", "-m", "http.server")
    dep = kubectl.json("get", "deployment", "web")
    spec = dep["spec"]
    assert spec["replicas"] == 2
    assert spec["selector"] == {"matchLabels": {"app": "web"}}
    container = spec["template"]["spec"]["containers"][0]
    assert container["image"] == "python:3.11"
    assert container["command"] == ["python", "-m", "http.server"]
    assert container["ports"][0]["containerPort"] == 8000
    # Empty strings on the wire must not block the server's defaults.
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["ports"][0]["protocol"] == "TCP"
    assert spec["strategy"]["type"] == "RollingUpdate"


def test_deployment_with_zero_replicas(kubectl: Kubectl) -> None:
    # replicas is a pointer: a present 0 must stay 0, not be defaulted to 1.
    create(kubectl, "deployment", "idle", "--image=python:3.11", "--replicas=0")
    assert kubectl.json("get", "deployment", "idle")["spec"]["replicas"] == 0


def test_service_clusterip(kubectl: Kubectl) -> None:
    create(kubectl, "service", "clusterip", "api", "--tcp=80:8080", "--tcp=9090:metrics")
    svc = kubectl.json("get", "service", "api")
    ports = {p["port"]: p for p in svc["spec"]["ports"]}
    assert ports[80]["targetPort"] == 8080  # int-or-string, as an int
    assert ports[9090]["targetPort"] == "metrics"  # int-or-string, as a string
    assert ports[80]["protocol"] == "TCP"
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["selector"] == {"app": "api"}
    assert svc["spec"]["clusterIP"]


def test_job(kubectl: Kubectl) -> None:
    create(kubectl, "job", "once", "--image=busybox", "--", "echo", "hello")
    job = kubectl.json("get", "job", "once")
    pod_spec = job["spec"]["template"]["spec"]
    assert pod_spec["containers"][0]["command"] == ["echo", "hello"]
    assert pod_spec["restartPolicy"] == "Never"


def test_cronjob(kubectl: Kubectl) -> None:
    create(kubectl, "cronjob", "nightly", "--image=busybox", "--schedule=0 3 * * *",
           "--restart=OnFailure", "--", "date")
    cj = kubectl.json("get", "cronjob", "nightly")
    assert cj["spec"]["schedule"] == "0 3 * * *"
    template = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert template["containers"][0]["command"] == ["date"]
    assert template["restartPolicy"] == "OnFailure"


def test_role_and_rolebinding(kubectl: Kubectl) -> None:
    create(kubectl, "role", "reader", "--verb=get,list,watch", "--resource=pods,deployments.apps")
    role = kubectl.json("get", "role", "reader")
    rules = {tuple(r["apiGroups"]): r for r in role["rules"]}
    assert rules[("",)]["resources"] == ["pods"]
    assert rules[("apps",)]["resources"] == ["deployments"]
    assert rules[("",)]["verbs"] == ["get", "list", "watch"]
    create(kubectl, "rolebinding", "read-pods", "--role=reader", "--user=alice",
           "--serviceaccount=default:robot")
    binding = kubectl.json("get", "rolebinding", "read-pods")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": "reader"}
    assert {(s["kind"], s["name"]) for s in binding["subjects"]} == {
        ("User", "alice"), ("ServiceAccount", "robot")}


def test_priorityclass(kubectl: Kubectl) -> None:
    create(kubectl, "priorityclass", "low", "--value=-10", "--description=batch work",
           "--preemption-policy=Never")
    pc = kubectl.json("get", "priorityclass", "low")
    assert pc["value"] == -10  # a negative int32 travels as a ten-byte varint
    assert pc["description"] == "batch work"
    assert pc["preemptionPolicy"] == "Never"
    assert "globalDefault" not in pc  # false, and omitempty in the JSON form


def test_poddisruptionbudget(kubectl: Kubectl) -> None:
    create(kubectl, "poddisruptionbudget", "web-pdb", "--selector=app=web",
           "--min-available=50%")
    pdb = kubectl.json("get", "poddisruptionbudget", "web-pdb")
    assert pdb["spec"]["minAvailable"] == "50%"
    assert pdb["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    create(kubectl, "poddisruptionbudget", "web-pdb2", "--selector=app=web",
           "--max-unavailable=1")
    assert kubectl.json("get", "pdb", "web-pdb2")["spec"]["maxUnavailable"] == 1


def test_run_pod(kubectl: Kubectl) -> None:
    kubectl.run("run", "sleeper", "--image=x", "--labels=tier=batch", "--env=MODE=fast",
                "--command", "--", "sleep", "1")
    pod = kubectl.json("get", "pod", "sleeper")
    container = pod["spec"]["containers"][0]
    assert container["command"] == ["sleep", "1"]
    assert container["env"] == [{"name": "MODE", "value": "fast"}]
    assert pod["metadata"]["labels"] == {"tier": "batch"}


def test_serviceaccount(kubectl: Kubectl) -> None:
    create(kubectl, "serviceaccount", "robot")
    assert kubectl.json("get", "serviceaccount", "robot")["metadata"]["name"] == "robot"


def test_ingress(kubectl: Kubectl) -> None:
    create(kubectl, "ingress", "site", "--class=nginx", "--rule=example.com/api*=api:80",
           "--annotation=team=web")
    ing = kubectl.json("get", "ingress", "site")
    assert ing["metadata"]["annotations"]["team"] == "web"
    assert ing["spec"]["ingressClassName"] == "nginx"
    rule = ing["spec"]["rules"][0]
    assert rule["host"] == "example.com"  # IngressRuleValue is inlined into the rule
    path = rule["http"]["paths"][0]
    assert path["path"] == "/api" and path["pathType"] == "Prefix"
    assert path["backend"]["service"] == {"name": "api", "port": {"number": 80}}


def test_quota_quantities(kubectl: Kubectl) -> None:
    create(kubectl, "quota", "small", "--hard=cpu=1500m,memory=2Gi,pods=4")
    quota = kubectl.json("get", "resourcequota", "small")
    assert quota["spec"]["hard"] == {"cpu": "1500m", "memory": "2Gi", "pods": "4"}


def test_malformed_protobuf_is_a_400_status(control_plane: ControlPlane) -> None:
    token = yaml.safe_load(open(control_plane.kubeconfig))["users"][0]["user"]["token"]
    url = f"{control_plane.url}/api/v1/namespaces/default/configmaps"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": PROTOBUF}
    for body in (b"k8s\x00\x0a\xff", b"not protobuf", b"k8s\x00\x0a\x03\x0a\x01"):
        resp = requests.post(url, data=body, headers=headers, verify=control_plane.ca_file,
                             timeout=10)
        status: Any = resp.json()
        assert resp.status_code == 400 and status["reason"] == "BadRequest", status
        assert "protobuf" in status["message"]


@pytest.mark.parametrize("kind", ["configmap", "deployment", "job"])
def test_objects_list_cleanly(kubectl: Kubectl, kind: str) -> None:
    # The created objects must render in kubectl's tables like any other.
    kubectl.run("get", kind)
