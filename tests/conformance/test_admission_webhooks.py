"""Admission webhooks called as kube-apiserver calls them: AdmissionReview v1 (or v1beta1)
over HTTPS to a Service in the cluster or to a URL, verified with the configuration's
caBundle; rules, selectors, failurePolicy, timeouts, dry runs, JSONPatch mutations and
their reinvocation, warnings, and refusals rendered as kube renders them.

The webhook is tests/conformance/webhook_server.py with a CA of its own: once as a pod
behind a Service (reached through the service network), otherwise as a process this module
starts on the loopback."""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, Iterator

import pytest

from orchestrator import ControlPlane
from tests.conftest import Kubectl, wait_for
from tests.conformance.webhook_harness import (
    SERVER,
    LoopbackWebhook,
    WebhookCA,
    configuration,
    webhook,
)

MUTATING = "MutatingWebhookConfiguration"
VALIDATING = "ValidatingWebhookConfiguration"
DENIED = ('admission webhook "validate.webhooks.test" denied the request: objects labelled '
          'forbidden=true are not allowed here')


@pytest.fixture(scope="module")
def ca() -> WebhookCA:
    return WebhookCA()


@pytest.fixture(scope="module")
def hook(ca: WebhookCA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackWebhook]:
    server = LoopbackWebhook(ca, tmp_path_factory.mktemp("webhook"))
    yield server
    server.stop()


@pytest.fixture
def configs(kubectl: Kubectl) -> Iterator[list[tuple[str, str]]]:
    """Configurations a test applies: removed afterwards."""
    made: list[tuple[str, str]] = []
    yield made
    for kind, name in made:
        kubectl.run("delete", kind.lower(), name, "--ignore-not-found")


def apply_config(kubectl: Kubectl, made: list[tuple[str, str]], kind: str, name: str,
                 *hooks: dict[str, Any]) -> None:
    kubectl.run("apply", "-f", "-", input=json.dumps(configuration(kind, name, *hooks)))
    made.append((kind, name))


def url(hook: LoopbackWebhook, ca: WebhookCA, path: str) -> dict[str, Any]:
    return {"url": hook.url(path), "caBundle": ca.bundle}


def configmap(name: str, labels: dict[str, str] | None = None, namespace: str = "default"
              ) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": name, "namespace": namespace,
                                    "labels": labels or {}}, "data": {"k": "v"}})


def exists(kubectl: Kubectl, *args: str) -> bool:
    return kubectl.run("get", *args, check=False).returncode == 0


# -- a webhook served by a pod, through its Service -------------------------------------------


@pytest.fixture(scope="module")
def pod_webhook(kubectl: Kubectl, ca: WebhookCA, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[str]:
    """webhook_server.py as a pod in `webhook-system` behind the Service `wh` (443 ->
    8443), its certificate for wh.webhook-system.svc in a Secret."""
    crt, key = ca.serving(tmp_path_factory.mktemp("pod-cert"), ["wh.webhook-system.svc"])
    kubectl.run("create", "namespace", "webhook-system")
    kubectl.run("create", "secret", "tls", "wh-tls", "-n", "webhook-system",
                f"--cert={crt}", f"--key={key}")
    manifest = {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "wh", "namespace": "webhook-system", "labels": {"app": "wh"}},
         "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
             "name": "server", "image": "python:3.11",
             "command": [sys.executable, "-u", SERVER, "/etc/wh/tls.crt", "/etc/wh/tls.key",
                         "0.0.0.0", "8443"],
             "ports": [{"containerPort": 8443}],
             "readinessProbe": {"tcpSocket": {"port": 8443}, "periodSeconds": 1},
             "volumeMounts": [{"name": "tls", "mountPath": "/etc/wh", "readOnly": True}]}],
             "volumes": [{"name": "tls", "secret": {"secretName": "wh-tls"}}]}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "wh", "namespace": "webhook-system"},
         "spec": {"selector": {"app": "wh"},
                  "ports": [{"port": 443, "targetPort": 8443}]}}]}
    kubectl.run("apply", "-f", "-", input=json.dumps(manifest))
    kubectl.run("wait", "-n", "webhook-system", "--for=condition=Ready", "pod/wh",
                "--timeout=60s", timeout=90)
    yield "webhook-system"
    kubectl.run("delete", "namespace", "webhook-system", "--wait=false")


def test_mutating_webhook_in_a_pod_changes_pods_through_its_service(
        kubectl: Kubectl, ca: WebhookCA, pod_webhook: str,
        configs: list[tuple[str, str]]) -> None:
    service = {"service": {"namespace": pod_webhook, "name": "wh", "path": "/mutate"},
               "caBundle": ca.bundle}
    apply_config(kubectl, configs, MUTATING, "pod-labeller", webhook(
        "label.webhooks.test", service, resources=["pods"],
        namespaceSelector={"matchLabels": {"webhooks": "enabled"}}))
    kubectl.run("create", "namespace", "hooked")
    kubectl.run("label", "namespace", "hooked", "webhooks=enabled")
    kubectl.run("create", "namespace", "plain")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"schedulerName": "nobody", "containers": [{"name": "c",
                                                                "image": "busybox"}]}}
    try:
        created = kubectl.run("create", "-n", "hooked", "-f", "-", input=json.dumps(pod))
        assert "Warning: mutated by the test webhook" in created.stderr
        mutated = kubectl.json("get", "pod", "p", "-n", "hooked")
        assert mutated["metadata"]["labels"] == {"mutated-by": "webhook"}
        assert mutated["metadata"]["annotations"]["seen-version"] == "v1"
        # The mutated pod was validated and defaulted again, like any other.
        assert mutated["spec"]["containers"][0]["terminationMessagePolicy"] == "File"
        # namespaceSelector: a namespace without the label is left alone.
        plain = kubectl.run("create", "-n", "plain", "-f", "-", input=json.dumps(pod))
        assert "Warning" not in plain.stderr
        assert not kubectl.json("get", "pod", "p", "-n", "plain")["metadata"].get("labels")
    finally:
        kubectl.run("delete", "namespace", "hooked", "plain", "--wait=false")


# -- refusals, failures and timeouts ----------------------------------------------------------


def test_validating_webhook_refusal_is_rendered_as_kube_does(
        kubectl: Kubectl, control_plane: ControlPlane, hook: LoopbackWebhook, ca: WebhookCA,
        configs: list[tuple[str, str]]) -> None:
    apply_config(kubectl, configs, VALIDATING, "refuser", webhook(
        "validate.webhooks.test", url(hook, ca, "/validate"), resources=["configmaps"]))
    refused = kubectl.run("create", "-f", "-", input=configmap("bad", {"forbidden": "true"}),
                          check=False)
    assert refused.returncode != 0
    assert f'Error from server (Forbidden): error when creating "STDIN": {DENIED}' \
        in refused.stderr
    assert "Warning: the validating webhook looked at this" in refused.stderr
    assert not exists(kubectl, "configmap", "bad")
    assert "created" in kubectl.run("create", "-f", "-", input=configmap("good")).stdout

    from kubernetes import client as k8s
    from kubernetes import config

    api = config.new_client_from_config(config_file=control_plane.kubeconfig)
    try:
        with pytest.raises(k8s.ApiException) as caught:
            k8s.CoreV1Api(api).create_namespaced_config_map("default", k8s.V1ConfigMap(
                metadata=k8s.V1ObjectMeta(name="bad2", labels={"forbidden": "true"})))
    finally:
        api.close()
    status = json.loads(caught.value.body)
    assert caught.value.status == 403
    assert (status["kind"], status["status"], status["reason"], status["message"]) == (
        "Status", "Failure", "Forbidden", DENIED)
    kubectl.run("delete", "configmap", "good")


def test_validating_webhook_sees_deletes(kubectl: Kubectl, hook: LoopbackWebhook,
                                         ca: WebhookCA, configs: list[tuple[str, str]]) -> None:
    kubectl.run("create", "-f", "-", input=configmap("keep", {"protected": "true"}))
    apply_config(kubectl, configs, VALIDATING, "protector", webhook(
        "protect.webhooks.test", url(hook, ca, "/validate"), resources=["configmaps"],
        operations=["DELETE"]))
    refused = kubectl.run("delete", "configmap", "keep", check=False)
    assert refused.returncode != 0
    # No code and no reason from the webhook: 400, and kubectl shows no reason.
    assert ('Error from server: admission webhook "protect.webhooks.test" denied the request: '
            'protected objects cannot be deleted') in refused.stderr
    assert exists(kubectl, "configmap", "keep")
    review = hook.requests("/validate")[-1]["request"]
    assert review["operation"] == "DELETE" and review["object"] is None
    assert review["oldObject"]["metadata"]["name"] == "keep"
    assert review["options"]["kind"] == "DeleteOptions"
    kubectl.run("delete", "validatingwebhookconfiguration", "protector")
    kubectl.run("delete", "configmap", "keep")


def test_failure_policy_when_the_webhook_is_down(
        kubectl: Kubectl, ca: WebhookCA, configs: list[tuple[str, str]]) -> None:
    down = {"url": "https://127.0.0.1:1/validate", "caBundle": ca.bundle}
    for policy in ("Fail", "Ignore"):
        apply_config(kubectl, configs, VALIDATING, "down", webhook(
            "down.webhooks.test", down, resources=["configmaps"], failurePolicy=policy))
        made = kubectl.run("create", "-f", "-", input=configmap(f"down-{policy.lower()}"),
                           check=False)
        if policy == "Fail":
            assert made.returncode != 0
            assert ('Error from server (InternalError): error when creating "STDIN": Internal '
                    'error occurred: failed calling webhook "down.webhooks.test": failed to '
                    'call webhook: Post "https://127.0.0.1:1/validate?timeout=10s": dial tcp '
                    '127.0.0.1:1: connect: connection refused') in made.stderr
            assert not exists(kubectl, "configmap", "down-fail")
        else:  # the same webhook, failing open
            assert made.returncode == 0, made.stderr
            kubectl.run("delete", "configmap", "down-ignore")


@pytest.mark.parametrize("policy", ["Fail", "Ignore"])
def test_timeout_seconds(kubectl: Kubectl, hook: LoopbackWebhook, ca: WebhookCA,
                         configs: list[tuple[str, str]], policy: str) -> None:
    apply_config(kubectl, configs, VALIDATING, "slow", webhook(
        "slow.webhooks.test", url(hook, ca, "/slow"), resources=["configmaps"],
        timeoutSeconds=1, failurePolicy=policy))
    made = kubectl.run("create", "-f", "-", input=configmap(f"slow-{policy.lower()}"),
                       check=False)
    if policy == "Fail":
        assert made.returncode != 0
        assert (f'failed calling webhook "slow.webhooks.test": failed to call webhook: Post '
                f'"{hook.url("/slow")}?timeout=1s": context deadline exceeded') in made.stderr
        assert not exists(kubectl, "configmap", "slow-fail")
    else:
        assert made.returncode == 0, made.stderr
        kubectl.run("delete", "configmap", "slow-ignore")
    assert "/slow?timeout=1s" in hook.paths()  # it was called, and told its deadline


def test_calls_do_not_hold_up_other_requests(kubectl: Kubectl, hook: LoopbackWebhook,
                                             ca: WebhookCA,
                                             configs: list[tuple[str, str]]) -> None:
    apply_config(kubectl, configs, VALIDATING, "slow", webhook(
        "slow.webhooks.test", url(hook, ca, "/slow"), resources=["configmaps"],
        timeoutSeconds=3, failurePolicy="Ignore"))
    before = len(hook.requests("/slow"))
    done = threading.Event()

    def create() -> None:
        kubectl.run("create", "-f", "-", input=configmap("waiting"), check=False)
        done.set()

    writer = threading.Thread(target=create)
    writer.start()
    try:
        wait_for(lambda: len(hook.requests("/slow")) > before)
        # The create is waiting on the webhook; the server answers others meanwhile.
        assert kubectl.run("get", "namespaces", "-o", "name").stdout
        assert not done.is_set()
    finally:
        writer.join(30)
    kubectl.run("delete", "configmap", "waiting", "--ignore-not-found")


@pytest.mark.parametrize("path,expected", [
    ("/garbage", "failed to call webhook: couldn't get version/kind; json parse error"),
    ("/wrong-uid", 'received invalid webhook response: expected response.uid="'),
    ("untrusted", "tls: failed to verify certificate: x509: certificate signed by unknown "
                  "authority"),
])
def test_bad_answers_fail_closed(kubectl: Kubectl, hook: LoopbackWebhook, ca: WebhookCA,
                                 configs: list[tuple[str, str]], path: str,
                                 expected: str) -> None:
    config = url(hook, ca, path)
    if path == "untrusted":
        config = {"url": hook.url("/validate"), "caBundle": WebhookCA("other").bundle}
    apply_config(kubectl, configs, VALIDATING, "bad-answers", webhook(
        "bad.webhooks.test", config, resources=["configmaps"]))
    name = "bad-" + path.strip("/")
    made = kubectl.run("create", "-f", "-", input=configmap(name), check=False)
    assert made.returncode != 0
    assert 'Internal error occurred: failed calling webhook "bad.webhooks.test": ' in made.stderr
    assert expected in made.stderr
    assert not exists(kubectl, "configmap", name)


def test_webhook_configurations_are_exempt(kubectl: Kubectl, ca: WebhookCA,
                                           configs: list[tuple[str, str]]) -> None:
    # A webhook for everything that is down: it refuses every write it is asked about, but
    # is never asked about webhook configurations, so it can always be removed.
    everything = webhook("all.webhooks.test", {"url": "https://127.0.0.1:1/",
                                               "caBundle": ca.bundle}, resources=["*/*"],
                         operations=["*"])
    everything["rules"][0].update({"apiGroups": ["*"], "apiVersions": ["*"]})
    apply_config(kubectl, configs, VALIDATING, "all", everything)
    assert kubectl.run("create", "configmap", "blocked", check=False).returncode != 0
    kubectl.run("annotate", "validatingwebhookconfiguration", "all", "touched=yes")
    kubectl.run("delete", "validatingwebhookconfiguration", "all")
    kubectl.run("create", "configmap", "blocked")
    kubectl.run("delete", "configmap", "blocked")


# -- what webhooks are sent -------------------------------------------------------------------


def test_selectors_operations_and_scope(kubectl: Kubectl, hook: LoopbackWebhook,
                                        ca: WebhookCA, configs: list[tuple[str, str]]) -> None:
    apply_config(kubectl, configs, MUTATING, "selective", webhook(
        "selective.webhooks.test", url(hook, ca, "/mutate"), resources=["configmaps"],
        operations=["UPDATE"], objectSelector={"matchLabels": {"tier": "web"}}))
    kubectl.run("create", "-f", "-", input=configmap("web", {"tier": "web"}))
    kubectl.run("create", "-f", "-", input=configmap("db", {"tier": "db"}))
    try:
        # CREATE is not in the rule's operations.
        assert "mutated-by" not in kubectl.json("get", "cm", "web")["metadata"]["labels"]
        kubectl.run("label", "cm", "web", "db", "touched=yes")
        assert kubectl.json("get", "cm", "web")["metadata"]["labels"]["mutated-by"] == "webhook"
        assert "mutated-by" not in kubectl.json("get", "cm", "db")["metadata"]["labels"]
        review = hook.requests("/mutate")[-1]["request"]
        assert review["operation"] == "UPDATE" and review["name"] == "web"
        assert review["oldObject"]["metadata"]["labels"] == {"tier": "web"}
        assert review["options"]["kind"] == "PatchOptions"  # kubectl label patches
        assert review["userInfo"]["username"] == "kubernetes-admin"
    finally:
        kubectl.run("delete", "cm", "web", "db")


def test_namespaced_scope_skips_cluster_scoped_objects(
        kubectl: Kubectl, hook: LoopbackWebhook, ca: WebhookCA,
        configs: list[tuple[str, str]]) -> None:
    namespaced = webhook("scoped.webhooks.test", url(hook, ca, "/mutate"),
                         resources=["namespaces", "configmaps"])
    namespaced["rules"][0]["scope"] = "Namespaced"
    apply_config(kubectl, configs, MUTATING, "scoped", namespaced)
    kubectl.run("create", "namespace", "scope-test")
    kubectl.run("create", "configmap", "scoped", "-n", "scope-test")
    try:
        assert not kubectl.json("get", "namespace", "scope-test")["metadata"].get(
            "annotations", {}).get("seen-version")
        assert kubectl.json("get", "cm", "scoped", "-n", "scope-test")["metadata"][
            "labels"] == {"mutated-by": "webhook"}
    finally:
        kubectl.run("delete", "namespace", "scope-test", "--wait=false")


def test_dry_run_is_sent_as_such_and_stores_nothing(
        kubectl: Kubectl, hook: LoopbackWebhook, ca: WebhookCA,
        configs: list[tuple[str, str]]) -> None:
    apply_config(kubectl, configs, MUTATING, "dry", webhook(
        "dry.webhooks.test", url(hook, ca, "/mutate"), resources=["configmaps"],
        sideEffects="NoneOnDryRun"))
    out = kubectl.run("create", "-f", "-", "--dry-run=server", "-o", "json",
                      input=configmap("dry"))
    assert json.loads(out.stdout)["metadata"]["labels"] == {"mutated-by": "webhook"}
    assert not exists(kubectl, "configmap", "dry")
    review = hook.requests("/mutate")[-1]["request"]
    assert review["dryRun"] is True and review["options"]["dryRun"] == ["All"]
    # Mutating webhooks see a new object before the server gives it a uid.
    assert "uid" not in review["object"]["metadata"]


def test_reinvocation_if_needed(kubectl: Kubectl, hook: LoopbackWebhook, ca: WebhookCA,
                                configs: list[tuple[str, str]]) -> None:
    # Configurations are called by name: a-counter runs first, then b-labeller changes the
    # object, so a-counter is called again when it asks for IfNeeded.
    apply_config(kubectl, configs, MUTATING, "b-labeller", webhook(
        "labeller.webhooks.test", url(hook, ca, "/mutate"), resources=["configmaps"]))
    for policy, expected in (("Never", "1"), ("IfNeeded", "2")):
        apply_config(kubectl, configs, MUTATING, "a-counter", webhook(
            "counter.webhooks.test", url(hook, ca, "/mutate-again"), resources=["configmaps"],
            reinvocationPolicy=policy))
        name = f"counted-{policy.lower()}"
        kubectl.run("create", "configmap", name)
        labels = kubectl.json("get", "cm", name)["metadata"]["labels"]
        assert labels == {"reinvoked": expected, "mutated-by": "webhook"}, policy
        kubectl.run("delete", "cm", name)


def test_v1beta1_admission_review(kubectl: Kubectl, hook: LoopbackWebhook, ca: WebhookCA,
                                  configs: list[tuple[str, str]]) -> None:
    apply_config(kubectl, configs, MUTATING, "beta", webhook(
        "beta.webhooks.test", url(hook, ca, "/mutate"), resources=["configmaps"],
        admissionReviewVersions=["v1beta1", "v1"]))
    kubectl.run("create", "configmap", "beta")
    try:
        annotations = kubectl.json("get", "cm", "beta")["metadata"]["annotations"]
        assert annotations["seen-version"] == "v1beta1"
    finally:
        kubectl.run("delete", "cm", "beta")


def test_generated_names_and_uids_stay_what_the_validating_webhook_saw(
        kubectl: Kubectl, hook: LoopbackWebhook, ca: WebhookCA,
        configs: list[tuple[str, str]]) -> None:
    apply_config(kubectl, configs, MUTATING, "m", webhook(
        "m.webhooks.test", url(hook, ca, "/mutate"), resources=["configmaps", "services"]))
    apply_config(kubectl, configs, VALIDATING, "v", webhook(
        "v.webhooks.test", url(hook, ca, "/validate"), resources=["configmaps", "services"]))
    made = json.loads(kubectl.run("create", "-f", "-", "-o", "json", input=json.dumps(
        {"apiVersion": "v1", "kind": "Service", "metadata": {"generateName": "gen-"},
         "spec": {"ports": [{"port": 80}]}})).stdout)
    try:
        seen = [r["request"]["object"] for r in hook.requests("/validate")
                if (r["request"].get("object") or {}).get("kind") == "Service"][-1]
        assert seen["metadata"]["name"] == made["metadata"]["name"]
        assert seen["metadata"]["uid"] == made["metadata"]["uid"]
        assert seen["spec"]["clusterIP"] == made["spec"]["clusterIP"]
        assert made["metadata"]["labels"] == {"mutated-by": "webhook"}
    finally:
        kubectl.run("delete", "service", made["metadata"]["name"])


@pytest.mark.parametrize("path,expected", [
    ("/mutate-invalid", 'The ConfigMap "patched" is invalid: metadata.labels: Invalid value: '
                        '"not a valid label value!"'),
    ("/patch-fails", 'Error from server (InternalError): error when creating "STDIN": Internal '
                     'error occurred: remove operation does not apply'),
])
def test_patches_are_applied_then_validated(kubectl: Kubectl, hook: LoopbackWebhook,
                                            ca: WebhookCA, configs: list[tuple[str, str]],
                                            path: str, expected: str) -> None:
    apply_config(kubectl, configs, MUTATING, "breaker", webhook(
        "breaker.webhooks.test", url(hook, ca, path), resources=["configmaps"]))
    made = kubectl.run("create", "-f", "-", input=configmap("patched"), check=False)
    assert made.returncode != 0
    assert expected in made.stderr
    assert not exists(kubectl, "configmap", "patched")
