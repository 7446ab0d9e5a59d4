"""Pod Security admission through kubectl: a tenant (tests/tenants.py) in namespaces labelled
`pod-security.kubernetes.io/...` is refused, warned and audited with kube-apiserver's own
words; workloads are only warned about; exemptions from the AdmissionConfiguration hold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from orchestrator import ControlPlane
from tests.conftest import Kubectl
from tests.tenants import Tenant, make_tenant

EXEMPT_NAMESPACE = "psa-exempt-ns"
EXEMPT_USER_NAMESPACE = "psa-exempt-user"
EXEMPT_USER = f"system:serviceaccount:{EXEMPT_USER_NAMESPACE}:jupyter"
EXEMPT_RUNTIME_CLASS = "sandboxed"

ADMISSION = {
    "apiVersion": "apiserver.config.k8s.io/v1", "kind": "AdmissionConfiguration",
    "plugins": [{"name": "PodSecurity", "configuration": {
        "apiVersion": "pod-security.admission.config.k8s.io/v1",
        "kind": "PodSecurityConfiguration",
        "exemptions": {"usernames": [EXEMPT_USER], "namespaces": [EXEMPT_NAMESPACE],
                       "runtimeClasses": [EXEMPT_RUNTIME_CLASS]}}}],
}

RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False, "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(data_dir=tmp_path_factory.mktemp("cp"), components=(),
                      admission_config=ADMISSION) as cp:
        yield cp


@pytest.fixture(scope="module")
def tmp_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tenants")


def _tenant(cp: ControlPlane, kubectl: Kubectl, tmp: Path, namespace: str,
            **labels: str) -> Tenant:
    tenant = make_tenant(cp, kubectl, namespace, tmp)
    if labels:
        kubectl.run("label", "namespace", namespace, "--overwrite",
                    *[f"pod-security.kubernetes.io/{k.replace('_', '-')}={v}"
                      for k, v in labels.items()])
    return tenant


@pytest.fixture(scope="module")
def baseline(control_plane: ControlPlane, kubectl: Kubectl, tmp_module: Path) -> Tenant:
    return _tenant(control_plane, kubectl, tmp_module, "psa-baseline", enforce="baseline")


@pytest.fixture(scope="module")
def restricted(control_plane: ControlPlane, kubectl: Kubectl, tmp_module: Path) -> Tenant:
    return _tenant(control_plane, kubectl, tmp_module, "psa-restricted", enforce="restricted",
                   audit="restricted")


def _pod(name: str, spec: dict[str, Any] | None = None,
         container: dict[str, Any] | None = None, **meta: Any) -> str:
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **meta},
            "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["true"],
                                     **(container or {})}], **(spec or {})}}
    return json.dumps(body)


def _create(tenant: Tenant, manifest: str, check: bool = False) -> Any:
    return tenant.kubectl.run("create", "-n", tenant.namespace, "-f", "-", input=manifest,
                              check=check)


def _gone(kubectl: Kubectl, namespace: str, name: str) -> bool:
    found = kubectl.run("get", "pod", name, "-n", namespace, "--ignore-not-found", "-o", "name")
    return found.stdout.strip() == ""


BASELINE_REFUSALS = [
    ("privileged", {}, {"securityContext": {"privileged": True}},
     'privileged (container "c" must not set securityContext.privileged=true)'),
    ("host-network", {"hostNetwork": True}, {}, "host namespaces (hostNetwork=true)"),
    ("host-pid", {"hostPID": True}, {}, "host namespaces (hostPID=true)"),
    ("host-ipc", {"hostIPC": True}, {}, "host namespaces (hostIPC=true)"),
    ("host-path", {"volumes": [{"name": "root", "hostPath": {"path": "/"}}]},
     {"volumeMounts": [{"name": "root", "mountPath": "/host"}]},
     'hostPath volumes (volume "root")'),
    ("capabilities", {}, {"securityContext": {"capabilities": {"add": ["SYS_ADMIN", "NET_RAW"]}}},
     'non-default capabilities (container "c" must not include "NET_RAW", "SYS_ADMIN" in '
     "securityContext.capabilities.add)"),
]


@pytest.mark.parametrize("name,spec,container,why", BASELINE_REFUSALS,
                         ids=[r[0] for r in BASELINE_REFUSALS])
def test_baseline_enforce_refuses_each_violation_with_kubes_message(
        baseline: Tenant, kubectl: Kubectl, name: str, spec: dict[str, Any],
        container: dict[str, Any], why: str) -> None:
    refused = _create(baseline, _pod(name, spec, container))
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f'Error from server (Forbidden): error when creating "STDIN": pods "{name}" is '
        f'forbidden: violates PodSecurity "baseline:latest": {why}')
    assert _gone(kubectl, baseline.namespace, name)


def test_restricted_enforce_refuses_run_as_root(restricted: Tenant, kubectl: Kubectl) -> None:
    refused = _create(restricted, _pod("root", container={
        "securityContext": {**RESTRICTED_CONTAINER, "runAsUser": 0}}))
    assert refused.stderr.strip() == (
        'Error from server (Forbidden): error when creating "STDIN": pods "root" is forbidden: '
        'violates PodSecurity "restricted:latest": runAsUser=0 (container "c" must not set '
        "runAsUser=0)")
    assert _gone(kubectl, restricted.namespace, "root")


def test_restricted_enforce_lists_every_missing_setting(restricted: Tenant) -> None:
    refused = _create(restricted, _pod("plain"))
    assert refused.stderr.strip() == (
        'Error from server (Forbidden): error when creating "STDIN": pods "plain" is forbidden: '
        'violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container '
        '"c" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities '
        '(container "c" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true '
        '(pod or container "c" must set securityContext.runAsNonRoot=true), seccompProfile (pod '
        'or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or '
        '"Localhost")')


def test_a_compliant_pod_is_admitted_without_warnings(restricted: Tenant) -> None:
    created = _create(restricted, _pod("hardened", container={
        "securityContext": RESTRICTED_CONTAINER}), check=True)
    assert created.stdout.strip() == "pod/hardened created"
    assert "Warning" not in created.stderr


def test_warn_mode_prints_kubectl_warning_lines(control_plane: ControlPlane, kubectl: Kubectl,
                                                tmp_module: Path) -> None:
    tenant = _tenant(control_plane, kubectl, tmp_module, "psa-warn", warn="baseline",
                     warn_version="v1.30")
    created = _create(tenant, _pod("loud", {"hostNetwork": True},
                                   {"securityContext": {"privileged": True}}), check=True)
    assert created.stdout.strip() == "pod/loud created"
    assert created.stderr.splitlines() == [
        'Warning: would violate PodSecurity "baseline:v1.30": host namespaces '
        '(hostNetwork=true), privileged (container "c" must not set '
        "securityContext.privileged=true)"]


def test_a_violating_deployment_gets_warnings_only_and_is_audited(
        control_plane: ControlPlane, restricted: Tenant) -> None:
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": restricted.namespace},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx",
                                     "securityContext": {"privileged": True}}]}}}}
    created = restricted.kubectl.run("apply", "-n", restricted.namespace, "-f", "-",
                                     input=json.dumps(deployment))
    assert created.stdout.strip() == "deployment.apps/web created"
    # Baseline's checks come first, each level's in the order of their names.
    violations = (
        'would violate PodSecurity "restricted:latest": privileged (container "web" must not '
        'set securityContext.privileged=true), allowPrivilegeEscalation != false (container '
        '"web" must set securityContext.allowPrivilegeEscalation=false), unrestricted '
        'capabilities (container "web" must set securityContext.capabilities.drop=["ALL"]), '
        'runAsNonRoot != true (pod or container "web" must set securityContext.runAsNonRoot=true)'
        ', seccompProfile (pod or container "web" must set securityContext.seccompProfile.type '
        'to "RuntimeDefault" or "Localhost")')
    assert created.stderr.splitlines() == [f"Warning: {violations}"]
    log = Path(control_plane.data_dir) / "audit.log"
    events = [json.loads(line) for line in log.read_text().splitlines()]
    (event,) = [e for e in events if e["objectRef"].get("name") == "web"]
    assert event["annotations"]["pod-security.kubernetes.io/audit-violations"] == violations
    assert event["user"]["username"] == f"system:serviceaccount:{restricted.namespace}:jupyter"
    assert event["objectRef"]["resource"] == "deployments"


def test_labelling_a_namespace_warns_about_its_existing_pods(
        control_plane: ControlPlane, kubectl: Kubectl, tmp_module: Path) -> None:
    tenant = _tenant(control_plane, kubectl, tmp_module, "psa-later")
    for name in ("b-priv", "a-priv"):
        _create(tenant, _pod(name, container={"securityContext": {"privileged": True}}),
                check=True)
    _create(tenant, _pod("net", {"hostNetwork": True}), check=True)
    _create(tenant, _pod("fine"), check=True)
    labelled = kubectl.run("label", "namespace", tenant.namespace,
                           "pod-security.kubernetes.io/enforce=baseline")
    assert labelled.stdout.strip() == f"namespace/{tenant.namespace} labeled"
    assert labelled.stderr.splitlines() == [
        'Warning: existing pods in namespace "psa-later" violate the new PodSecurity enforce '
        'level "baseline:latest"',
        "Warning: a-priv (and 1 other pod): privileged",
        "Warning: net: host namespaces"]
    # The pods stay: enforcement applies to what is created or changed from now on. Relabelling
    # one is no change that matters; a new image is, and is refused.
    assert not _gone(kubectl, tenant.namespace, "a-priv")
    tenant.kubectl.run("label", "pod", "a-priv", "-n", tenant.namespace, "seen=yes")
    refused = tenant.kubectl.run("set", "image", "pod/a-priv", "-n", tenant.namespace,
                                 "c=busybox:2", check=False)
    assert refused.returncode == 1
    assert 'pods "a-priv" is forbidden: violates PodSecurity "baseline:latest": privileged ' \
           '(container "c" must not set securityContext.privileged=true)' in refused.stderr


def test_bad_labels_are_refused(kubectl: Kubectl, baseline: Tenant) -> None:
    refused = kubectl.run("label", "namespace", baseline.namespace, "--overwrite",
                          "pod-security.kubernetes.io/enforce=strict",
                          "pod-security.kubernetes.io/warn-version=1.30", check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        'The Namespace "psa-baseline" is invalid: \n'
        '* metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must '
        "be one of privileged, baseline, restricted\n"
        '* metadata.labels[pod-security.kubernetes.io/warn-version]: Invalid value: "1.30": '
        'must be "latest" or "v1.x"')
    labels = kubectl.json("get", "namespace", baseline.namespace)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"


def test_an_exempt_namespace_is_warned_and_not_enforced(
        control_plane: ControlPlane, kubectl: Kubectl, tmp_module: Path) -> None:
    tenant = make_tenant(control_plane, kubectl, EXEMPT_NAMESPACE, tmp_module)
    labelled = kubectl.run("label", "namespace", EXEMPT_NAMESPACE,
                           "pod-security.kubernetes.io/enforce=restricted")
    assert labelled.stderr.splitlines() == [
        f'Warning: namespace "{EXEMPT_NAMESPACE}" is exempt from Pod Security, and the policy '
        "(enforce=restricted:latest) will be ignored"]
    created = _create(tenant, _pod("priv", container={"securityContext": {"privileged": True}}),
                      check=True)
    assert created.stdout.strip() == "pod/priv created" and created.stderr == ""


def test_an_exempt_user_is_not_enforced(control_plane: ControlPlane, kubectl: Kubectl,
                                        tmp_module: Path) -> None:
    tenant = _tenant(control_plane, kubectl, tmp_module, EXEMPT_USER_NAMESPACE,
                     enforce="restricted")
    created = _create(tenant, _pod("priv", {"hostPID": True}), check=True)
    assert created.stdout.strip() == "pod/priv created" and created.stderr == ""
    # The same pod from the admin (not exempt) is refused.
    refused = kubectl.run("create", "-n", EXEMPT_USER_NAMESPACE, "-f", "-",
                          input=_pod("priv2", {"hostPID": True}), check=False)
    assert 'pods "priv2" is forbidden: violates PodSecurity "restricted:latest": ' \
           "host namespaces (hostPID=true)" in refused.stderr


def test_an_exempt_runtime_class_is_not_enforced(kubectl: Kubectl, baseline: Tenant) -> None:
    created = _create(baseline, _pod("sandboxed", {"runtimeClassName": EXEMPT_RUNTIME_CLASS,
                                                   "hostIPC": True}), check=True)
    assert created.stdout.strip() == "pod/sandboxed created"


BAD_CONFIGS = [
    ({"apiVersion": "v1", "kind": "ConfigMap"},
     "must be apiVersion apiserver.config.k8s.io/v1, kind AdmissionConfiguration"),
    ({**ADMISSION, "plugins": [{"name": "NoSuchPlugin"}]}, "unknown plugin 'NoSuchPlugin'"),
    ({**ADMISSION, "plugins": [{"name": "PodSecurity", "configuration": {
        "defaults": {"enforce": "strict"}}}]},
     'defaults.enforce: Invalid value: "strict": must be one of privileged, baseline, '
     "restricted"),
    ({**ADMISSION, "plugins": [{"name": "PodSecurity", "configuration": {
        "exemptions": {"namespaces": ["Not_A_Namespace"]}}}]},
     'exemptions.namespaces[0]: Invalid value: "Not_A_Namespace"'),
    ({**ADMISSION, "plugins": [{"name": "PodSecurity", "configuration": {
        "exemptions": {"usernames": ["bob", "bob"]}}}]},
     'exemptions.usernames[1]: Duplicate value: "bob"'),
]


@pytest.mark.parametrize("config,message", BAD_CONFIGS)
def test_a_bad_admission_configuration_fails_in_one_line(
        tmp_path: Path, config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        ControlPlane(data_dir=tmp_path, components=(), admission_config=config)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert not (tmp_path / "state.db").exists()


def test_an_unreadable_configuration_file_fails_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "admission.yaml"
    path.write_text("plugins: [unclosed\n")
    with pytest.raises(ValueError, match=f"admission configuration {path}: ") as raised:
        ControlPlane(data_dir=tmp_path / "data", components=(), admission_config=path)
    assert "\n" not in str(raised.value)


def test_an_unknown_plugin_to_disable_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as raised:
        ControlPlane(data_dir=tmp_path, components=(),
                     disable_admission_plugins=("PodSecurity", "PodSecurityPolicy"))
    assert str(raised.value).startswith(
        "disable-admission-plugins plugin 'PodSecurityPolicy' is unknown; known: LimitRanger, ")
    assert not (tmp_path / "state.db").exists()


def test_a_disabled_plugin_admits_what_it_would_refuse(tmp_path: Path) -> None:
    """kube-apiserver's --disable-admission-plugins: the benchmark's baseline is a plane with
    the chain off, so the flag must really take each plugin out (and only it)."""
    with ControlPlane(data_dir=tmp_path / "cp", components=(),
                      disable_admission_plugins=("PodSecurity",)) as cp:
        kubectl = Kubectl(cp, tmp_path / "kube")
        kubectl.run("create", "namespace", "open")
        kubectl.run("label", "namespace", "open", "pod-security.kubernetes.io/enforce=restricted")
        kubectl.run("create", "-n", "open", "-f", "-",
                    input=_pod("root", container={"securityContext": {"privileged": True}}))
        pod = kubectl.json("get", "pod", "-n", "open", "root")
        assert pod["spec"]["containers"][0]["securityContext"]["privileged"] is True
        # The other plugins still run: Priority fills in the pod's priority.
        assert pod["spec"]["priority"] == 0
