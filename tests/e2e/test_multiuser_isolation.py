"""A shared cluster keeps its users apart at the API (issue 14): what a tenant holding only a
namespace `edit` token sends to climb out of its pod's folder. Each attack goes through the
tenant's own kubectl; the API answers with Kubernetes' own 422 (or 413) and nothing is written.
The runtime's own guard for objects the API never checked is unit-tested
(tests/unit/test_runtime_pod_paths.py)."""

from __future__ import annotations

import json
import sys
from typing import Any, Iterator

import pytest
import requests

from orchestrator import ControlPlane
from tests.conftest import Kubectl
from tests.e2e.runtime_harness import control_plane, node_name
from tests.tenants import Tenant, make_tenant

ALICE, BOB = "daskhub-alice", "daskhub-bob"
LABEL_MSG = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters"
SUBDOMAIN_MSG = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric"


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with control_plane(tmp_path_factory.mktemp("isolation")) as plane:
        yield plane


@pytest.fixture(scope="module")
def admin(cp: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(cp, tmp_path_factory.mktemp("admin-cache"))


@pytest.fixture(scope="module")
def alice(cp: ControlPlane, admin: Kubectl, tmp_path_factory: pytest.TempPathFactory) -> Tenant:
    return make_tenant(cp, admin, ALICE, tmp_path_factory.mktemp("alice"))


@pytest.fixture(scope="module")
def bob(cp: ControlPlane, admin: Kubectl, tmp_path_factory: pytest.TempPathFactory) -> Tenant:
    return make_tenant(cp, admin, BOB, tmp_path_factory.mktemp("bob"))


def pod_spec(volumes: list[dict[str, Any]], mounts: list[dict[str, Any]],
             command: list[str] | None = None) -> dict[str, Any]:
    return {"restartPolicy": "Never", "volumes": volumes,
            "containers": [{"name": "main", "image": "python:3.11",
                            "command": command or [sys.executable, "-c", "pass"],
                            "volumeMounts": mounts}]}


def pod(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def apply(tenant: Tenant, obj: dict[str, Any]) -> None:
    tenant.kubectl.run("apply", "-n", tenant.namespace, "-f", "-", input=json.dumps(obj))


def refused(tenant: Tenant, obj: dict[str, Any]) -> str:
    """Apply `obj` as the tenant, expect the API to refuse it, and check nothing was stored;
    returns kubectl's error output."""
    proc = tenant.kubectl.run("apply", "-n", tenant.namespace, "-f", "-",
                              input=json.dumps(obj), check=False)
    assert proc.returncode != 0, f"the API accepted it: {proc.stdout}"
    kind, name = obj["kind"].lower(), obj["metadata"]["name"]
    lookup = tenant.kubectl.run("get", kind, name, "-n", tenant.namespace, check=False)
    assert lookup.returncode != 0 and "NotFound" in lookup.stderr, lookup.stdout
    return proc.stderr


def test_configmap_volume_named_to_climb_out_cannot_overwrite_the_admin_token(
        cp: ControlPlane, alice: Tenant) -> None:
    token_file = cp.data_dir / "token"
    before = token_file.read_bytes()
    apply(alice, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "evil"},
                  "data": {"token": "owned"}})
    volume = {"name": "../../../..", "configMap": {"name": "evil"}}
    err = refused(alice, pod("climb", pod_spec([volume], [{"name": "../../../..",
                                                           "mountPath": "/evil"}])))
    assert 'The Pod "climb" is invalid' in err
    assert f'spec.volumes[0].name: Invalid value: "../../../..": {LABEL_MSG}' in err
    assert 'spec.containers[0].volumeMounts[0].name: Not found: "../../../.."' in err
    assert token_file.read_bytes() == before
    # The admin's own token still works: nothing replaced it.
    health = requests.get(f"{cp.url}/api/v1/namespaces", verify=cp.ca_file,
                          headers={"Authorization": f"Bearer {before.decode().strip()}"})
    assert health.status_code == 200


def test_claim_name_cannot_reach_another_users_volume(cp: ControlPlane, admin: Kubectl,
                                                      alice: Tenant, bob: Tenant) -> None:
    node = node_name(admin)
    apply(bob, {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "bobdata"},
                "spec": {"accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "1Mi"}}}})
    writer = pod_spec([{"name": "data", "persistentVolumeClaim": {"claimName": "bobdata"}}],
                      [{"name": "data", "mountPath": "/bobdata"}],
                      [sys.executable, "-c",
                       "open('/bobdata/secret.txt', 'w').write('bob only')"])
    apply(bob, pod("writer", {**writer, "nodeName": node}))
    bob.kubectl.run("wait", "-n", BOB, "--for=jsonpath={.status.phase}=Succeeded",
                    "pod/writer", "--timeout=60s")
    stolen = pod_spec([{"name": "loot",
                        "persistentVolumeClaim": {"claimName": "../daskhub-bob/bobdata"}}],
                      [{"name": "loot", "mountPath": "/loot"}],
                      [sys.executable, "-c", "print(open('/loot/secret.txt').read())"])
    err = refused(alice, pod("steal", {**stolen, "nodeName": node}))
    assert ('spec.volumes[0].persistentVolumeClaim.claimName: Invalid value: '
            f'"../daskhub-bob/bobdata": {SUBDOMAIN_MSG}') in err
    secret = cp.data_dir / "volumes" / "pvc" / BOB / "bobdata" / "secret.txt"
    assert secret.read_text() == "bob only"


SUB_PATH = {"name": "scratch", "mountPath": "/scratch", "subPath": "../../../../tmp"}
SCRATCH = [{"name": "scratch", "emptyDir": {}}]


def _template(restart: str = "Always") -> dict[str, Any]:
    spec = pod_spec(SCRATCH, [SUB_PATH])
    spec["restartPolicy"] = restart
    return {"metadata": {"labels": {"app": "climb"}}, "spec": spec}


SELECTOR = {"matchLabels": {"app": "climb"}}
WORKLOADS: list[tuple[dict[str, Any], str]] = [
    (pod("climb-pod", pod_spec(SCRATCH, [SUB_PATH])), "spec"),
    ({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "climb-deploy"},
      "spec": {"selector": SELECTOR, "template": _template()}}, "spec.template.spec"),
    ({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "climb-rs"},
      "spec": {"selector": SELECTOR, "template": _template()}}, "spec.template.spec"),
    ({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "climb-sts"},
      "spec": {"selector": SELECTOR, "serviceName": "climb", "template": _template()}},
     "spec.template.spec"),
    ({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "climb-ds"},
      "spec": {"selector": SELECTOR, "template": _template()}}, "spec.template.spec"),
    ({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "climb-job"},
      "spec": {"template": _template("Never")}}, "spec.template.spec"),
    ({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "climb-cron"},
      "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": _template("Never")}}}},
     "spec.jobTemplate.spec.template.spec"),
]


@pytest.mark.parametrize("obj,prefix", WORKLOADS, ids=[w[0]["kind"] for w in WORKLOADS])
def test_sub_path_that_climbs_out_is_refused_in_pods_and_every_template(
        alice: Tenant, obj: dict[str, Any], prefix: str) -> None:
    err = refused(alice, obj)
    # Kubernetes reports subPath problems on the list, not the indexed mount (its own quirk).
    assert (f'{prefix}.containers[0].volumeMounts.subPath: Invalid value: "../../../../tmp": '
            "must not contain '..'") in err


def test_item_paths_and_token_paths_that_climb_out_are_refused(alice: Tenant) -> None:
    volumes = [
        {"name": "conf", "configMap": {"name": "evil", "items": [
            {"key": "token", "path": "../../../../token"}]}},
        {"name": "creds", "secret": {"secretName": "evil", "items": [
            {"key": "token", "path": "/etc/cron.d/evil"}]}},
        {"name": "meta", "downwardAPI": {"items": [
            {"path": "..data", "fieldRef": {"fieldPath": "metadata.name"}}]}},
        {"name": "mixed", "projected": {"sources": [
            {"serviceAccountToken": {"path": "../../token"}},
            {"configMap": {"name": "evil", "items": [{"key": "token", "path": "a/../../b"}]}}]}},
        {"name": "scratch", "emptyDir": {}},
    ]
    mounts = [{"name": "scratch", "mountPath": "/a", "subPathExpr": "/$(HOME)"}]
    err = refused(alice, pod("items", pod_spec(volumes, mounts)))
    expected = [
        'spec.volumes[0].configMap.items[0].path: Invalid value: "../../../../token": '
        "must not contain '..'",
        'spec.volumes[1].secret.items[0].path: Invalid value: "/etc/cron.d/evil": '
        "must be a relative path",
        "spec.volumes[2].downwardAPI.path: Invalid value: \"..data\": must not start with '..'",
        "spec.volumes[3].projected.path: Invalid value: \"../../token\": must not contain '..'",
        'spec.volumes[3].projected.sources[1].configMap.items[0].path: Invalid value: '
        "\"a/../../b\": must not contain '..'",
        'spec.containers[0].volumeMounts.subPathExpr: Invalid value: "/$(HOME)": '
        "must be a relative path",
    ]
    for line in expected:
        assert line in err, f"{line!r} not in {err}"


def test_secret_string_data_keys_are_config_keys(alice: Tenant) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "climb-keys"},
              "stringData": {"../../../../token": "owned"}}
    err = refused(alice, secret)
    assert ('data[../../../../token]: Invalid value: "../../../../token": a valid config key '
            "must consist of alphanumeric characters") in err


@pytest.mark.parametrize("kind,field", [("ConfigMap", "[]"), ("Secret", "data")])
def test_configmap_and_secret_data_over_one_mib_is_refused(alice: Tenant, kind: str,
                                                           field: str) -> None:
    body = "x" * (1024 * 1024 + 1)  # fits the 3 MiB request limit, not the 1 MiB object one
    section = "data" if kind == "ConfigMap" else "stringData"
    obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": "too-big"},
           section: {"blob": body}}
    proc = alice.kubectl.run("create", "-n", ALICE, "-f", "-", input=json.dumps(obj),
                             check=False)
    assert proc.returncode != 0
    assert f'{kind} "too-big" is invalid: {field}: Too long: must have at most 1048576 bytes' \
        in proc.stderr
    lookup = alice.kubectl.run("get", kind.lower(), "too-big", "-n", ALICE, check=False)
    assert "NotFound" in lookup.stderr


def test_request_body_over_three_mib_is_413(cp: ControlPlane, alice: Tenant) -> None:
    big = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "huge"},
           "data": {"blob": "x" * (3 * 1024 * 1024)}}
    resp = requests.post(f"{cp.url}/api/v1/namespaces/{ALICE}/configmaps", json=big,
                         verify=cp.ca_file, headers={"Authorization": f"Bearer {alice.token}"})
    assert resp.status_code == 413
    status = resp.json()
    assert status["reason"] == "RequestEntityTooLarge"
    assert status["message"] == "Request entity too large: limit is 3145728"
    lookup = alice.kubectl.run("get", "configmap", "huge", "-n", ALICE, check=False)
    assert "NotFound" in lookup.stderr


def test_a_well_formed_pod_with_volumes_items_and_sub_paths_still_runs(admin: Kubectl,
                                                                     alice: Tenant) -> None:
    node = node_name(admin)
    apply(alice, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "good"},
                  "data": {"a.txt": "from configmap"}})
    volumes = [{"name": "conf", "configMap": {"name": "good",
                                              "items": [{"key": "a.txt", "path": "sub/a.txt"}]}},
               {"name": "scratch", "emptyDir": {}}]
    mounts = [{"name": "conf", "mountPath": "/conf"},
              {"name": "scratch", "mountPath": "/scratch", "subPath": "nested/dir"}]
    code = ("print(open('/conf/sub/a.txt').read()); "
            "open('/scratch/x', 'w').write('ok'); print('wrote')")
    apply(alice, pod("good", {**pod_spec(volumes, mounts, [sys.executable, "-c", code]),
                              "nodeName": node}))
    alice.kubectl.run("wait", "-n", ALICE, "--for=jsonpath={.status.phase}=Succeeded",
                      "pod/good", "--timeout=60s")
    log = alice.kubectl.run("logs", "good", "-n", ALICE).stdout
    assert "from configmap" in log and "wrote" in log
