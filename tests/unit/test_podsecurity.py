"""Pod Security Standards as pure functions: every baseline and restricted check, which checks
each level and version run, the namespace labels, and the admission decisions."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.api.podsecurity import config, decisions, templates
from orchestrator.api.podsecurity.levels import (
    BASELINE,
    DEFAULT_POLICY,
    LATEST,
    PRIVILEGED,
    RESTRICTED,
    LevelVersion,
    Policy,
    policy_to_evaluate,
    v1,
)
from orchestrator.api.podsecurity.registry import DEFAULT_EVALUATOR, NEWEST, aggregate

RESTRICTED_SC = {"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                 "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


def container(name: str = "c", **sc: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "securityContext": {**RESTRICTED_SC, **sc}}


def spec(*containers: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"containers": list(containers) or [container()], **fields}


def detail(level: str, pod_spec: dict[str, Any], meta: dict[str, Any] | None = None,
           version: Any = LATEST) -> str:
    return aggregate(LevelVersion(level, version), meta or {}, pod_spec).detail()


def baseline(pod_spec: dict[str, Any], meta: dict[str, Any] | None = None,
             version: Any = LATEST) -> str:
    return detail(BASELINE, pod_spec, meta, version)


def restricted(pod_spec: dict[str, Any], meta: dict[str, Any] | None = None,
               version: Any = LATEST) -> str:
    return detail(RESTRICTED, pod_spec, meta, version)


# -- a compliant pod ------------------------------------------------------------------------


def test_a_hardened_pod_passes_every_level() -> None:
    for level in (PRIVILEGED, BASELINE, RESTRICTED):
        assert aggregate(LevelVersion(level, LATEST), {}, spec()).allowed


def test_privileged_runs_no_checks() -> None:
    anything = spec({"name": "c", "securityContext": {"privileged": True}}, hostPID=True)
    assert aggregate(LevelVersion(PRIVILEGED, LATEST), {}, anything).allowed


# -- baseline -------------------------------------------------------------------------------


def test_privileged_containers_are_named_in_order_init_first() -> None:
    s = spec(container("b", privileged=True), container("ok"),
             initContainers=[container("a", privileged=True)])
    assert baseline(s) == ('privileged (containers "a", "b" must not set '
                           "securityContext.privileged=true)")
    assert baseline(spec(container(privileged=False))) == ""


def test_host_namespaces() -> None:
    assert baseline(spec(hostNetwork=True, hostPID=True, hostIPC=True)) == (
        "host namespaces (hostNetwork=true, hostPID=true, hostIPC=true)")
    assert baseline(spec(hostNetwork=False)) == ""


def test_host_path_volumes() -> None:
    volumes = [{"name": "a", "hostPath": {"path": "/"}}, {"name": "b", "emptyDir": {}},
               {"name": "c", "hostPath": {"path": "/var"}}]
    assert baseline(spec(volumes=volumes)) == 'hostPath volumes (volumes "a", "c")'
    assert baseline(spec(volumes=volumes[:1])) == 'hostPath volumes (volume "a")'


def test_host_ports_are_listed_as_sorted_strings() -> None:
    one = container("web")
    one["ports"] = [{"containerPort": 80, "hostPort": 80}, {"containerPort": 9, "hostPort": 9}]
    two = container("db")
    two["ports"] = [{"containerPort": 5432, "hostPort": 0}]
    assert baseline(spec(one, two)) == 'hostPort (container "web" uses hostPorts 80, 9)'
    two["ports"][0]["hostPort"] = 5432
    assert baseline(spec(one, two)) == (
        'hostPort (containers "web", "db" use hostPorts 5432, 80, 9)')


def test_probe_and_lifecycle_hosts_from_1_34() -> None:
    c = container("web")
    c["livenessProbe"] = {"httpGet": {"host": "10.0.0.1", "port": 80}}
    c["lifecycle"] = {"preStop": {"tcpSocket": {"host": "example.com", "port": 1}}}
    c2 = container("api")
    c2["readinessProbe"] = {"tcpSocket": {"host": "", "port": 1}}
    s = spec(c, c2)
    assert baseline(s) == ('probe or lifecycle host (container "web" uses probe or lifecycle '
                           'hosts "10.0.0.1", "example.com")')
    assert baseline(s, version=v1(33)) == ""


def test_baseline_capabilities() -> None:
    s = spec(container("a", capabilities={"add": ["NET_RAW", "CHOWN", "SYS_ADMIN"]}),
             container("b", capabilities={"add": ["NET_BIND_SERVICE", "KILL"]}))
    assert baseline(s) == ('non-default capabilities (container "a" must not include '
                           '"NET_RAW", "SYS_ADMIN" in securityContext.capabilities.add)')


def test_app_armor_fields_and_annotations() -> None:
    s = spec(container("a", appArmorProfile={"type": "Unconfined"}),
             container("b", appArmorProfile={"type": "Localhost", "localhostProfile": "x"}),
             securityContext={"appArmorProfile": {"type": "Unconfined"}})
    assert baseline(s) == ('forbidden AppArmor profile (pod and container "a" must not set '
                           'AppArmor profile type to "Unconfined")')
    meta = {"annotations": {
        "container.apparmor.security.beta.kubernetes.io/a": "unconfined",
        "container.apparmor.security.beta.kubernetes.io/b": "localhost/mine",
        "container.apparmor.security.beta.kubernetes.io/c": "runtime/default"}}
    assert baseline(spec(), meta) == (
        'forbidden AppArmor profile (annotation must not set AppArmor profile type to '
        '"container.apparmor.security.beta.kubernetes.io/a="unconfined"")')


def test_selinux_options_and_the_1_31_engine_type() -> None:
    s = spec(container("a", seLinuxOptions={"type": "spc_t", "user": "root"}),
             securityContext={"seLinuxOptions": {"role": "sysadm_r"}})
    assert baseline(s) == ('seLinuxOptions (pod and container "a" set forbidden '
                           'securityContext.seLinuxOptions: type "spc_t"; user may not be set; '
                           "role may not be set)")
    engine = spec(container(seLinuxOptions={"type": "container_engine_t"}))
    assert baseline(engine) == ""
    assert baseline(engine, version=v1(30)) == (
        'seLinuxOptions (container "c" set forbidden securityContext.seLinuxOptions: type '
        '"container_engine_t")')


def test_proc_mount_and_user_namespaces_from_1_35() -> None:
    s = spec(container(procMount="Unmasked"), container("d", procMount="Default"))
    assert baseline(s) == ('procMount (container "c" must not set securityContext.procMount '
                           'to "Unmasked")')
    in_userns = {**s, "hostUsers": False}
    assert baseline(in_userns) == ""
    assert baseline(in_userns, version=v1(34)) != ""
    # restricted keeps the unconditional check
    assert restricted(in_userns).startswith("procMount (")


def test_seccomp_baseline_fields_and_pre_1_19_annotations() -> None:
    s = spec(container(seccompProfile={"type": "Unconfined"}))
    assert baseline(s) == ('seccompProfile (container "c" must not set '
                           'securityContext.seccompProfile.type to "Unconfined")')
    meta = {"annotations": {"seccomp.security.alpha.kubernetes.io/pod": "unconfined",
                            "container.seccomp.security.alpha.kubernetes.io/c": "docker/default"}}
    assert baseline(spec(), meta, version=v1(18)) == (
        'seccompProfile (forbidden annotation '
        'seccomp.security.alpha.kubernetes.io/pod="unconfined")')
    assert baseline(spec(), meta) == ""  # 1.19 on reads the fields only


def test_sysctls_grow_with_versions() -> None:
    s = spec(securityContext={"sysctls": [{"name": "net.ipv4.tcp_rmem", "value": "1"},
                                          {"name": "kernel.msgmax", "value": "1"},
                                          {"name": "net.ipv4.tcp_notsent_lowat", "value": "1"}]})
    assert baseline(s) == "forbidden sysctls (kernel.msgmax)"
    assert baseline(s, version=v1(36)) == (
        "forbidden sysctls (kernel.msgmax, net.ipv4.tcp_notsent_lowat)")
    assert baseline(s, version=v1(31)) == (
        "forbidden sysctls (net.ipv4.tcp_rmem, kernel.msgmax, net.ipv4.tcp_notsent_lowat)")


def test_windows_host_process() -> None:
    s = spec(container(windowsOptions={"hostProcess": True}),
             securityContext={"windowsOptions": {"hostProcess": True}})
    assert baseline(s) == ('hostProcess (pod and container "c" must not set '
                           "securityContext.windowsOptions.hostProcess=true)")


# -- restricted ----------------------------------------------------------------------------


def test_a_bare_pod_misses_four_restricted_settings() -> None:
    assert restricted({"containers": [{"name": "c", "image": "x"}]}) == (
        'allowPrivilegeEscalation != false (container "c" must set '
        "securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "
        '"c" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or '
        'container "c" must set securityContext.runAsNonRoot=true), seccompProfile (pod or '
        'container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or '
        '"Localhost")')


def test_restricted_capabilities_allow_only_net_bind_service() -> None:
    s = spec(container("a", capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}),
             container("b", capabilities={"drop": ["NET_RAW"], "add": ["CHOWN"]}))
    assert restricted(s) == (
        'unrestricted capabilities (container "b" must set '
        'securityContext.capabilities.drop=["ALL"]; container "b" must not include "CHOWN" in '
        "securityContext.capabilities.add)")
    # restricted replaces baseline's capability check, so SYS_ADMIN is reported once
    assert restricted(spec(container(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]}))
                      ).count("SYS_ADMIN") == 1


def test_restricted_volume_types_replace_the_host_path_check() -> None:
    volumes = [{"name": "cfg", "configMap": {"name": "x"}}, {"name": "h", "hostPath": {}},
               {"name": "n", "nfs": {"server": "s", "path": "/"}}, {"name": "odd"},
               {"name": "claim", "persistentVolumeClaim": {"claimName": "c"}}]
    assert restricted(spec(volumes=volumes)) == (
        'restricted volume types (volumes "h", "n", "odd" use restricted volume types '
        '"hostPath", "nfs", "unknown")')


def test_run_as_non_root_pod_level_and_container_overrides() -> None:
    bare = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    s = spec({"name": "a", "securityContext": bare},
             {"name": "b", "securityContext": {**bare, "runAsNonRoot": False}},
             securityContext={"runAsNonRoot": True, "seccompProfile": {"type": "Localhost"}})
    assert restricted(s) == ('runAsNonRoot != true (container "b" must not set '
                             "securityContext.runAsNonRoot=false)")
    s["securityContext"]["runAsNonRoot"] = False
    assert restricted(s) == ('runAsNonRoot != true (pod and container "b" must not set '
                             "securityContext.runAsNonRoot=false)")
    assert restricted({**s, "hostUsers": False}) == ""


def test_run_as_user_zero_from_1_23() -> None:
    s = spec(container(runAsUser=0), container("d", runAsUser=1000),
             securityContext={"runAsUser": 0})
    assert restricted(s) == 'runAsUser=0 (pod and container "c" must not set runAsUser=0)'
    assert restricted(s, version=v1(22)) == ""
    assert restricted({**s, "hostUsers": False}) == ""


def test_seccomp_restricted_needs_a_profile_somewhere() -> None:
    plain = {k: v for k, v in RESTRICTED_SC.items() if k != "seccompProfile"}
    s = spec({"name": "a", "securityContext": plain})
    assert restricted(s) == ('seccompProfile (pod or container "a" must set '
                             'securityContext.seccompProfile.type to "RuntimeDefault" or '
                             '"Localhost")')
    assert restricted({**s, "securityContext": {"seccompProfile": {"type": "Localhost"}}}) == ""


def test_windows_pods_skip_the_linux_only_restricted_checks() -> None:
    bare = {"os": {"name": "windows"}, "securityContext": {"runAsNonRoot": True},
            "containers": [{"name": "c", "image": "x"}]}
    assert restricted(bare) == ""
    assert restricted(bare, version=v1(24)) != ""


def test_allow_privilege_escalation_appears_from_1_8() -> None:
    s = spec({"name": "c", "securityContext": {**RESTRICTED_SC,
                                               "allowPrivilegeEscalation": True}})
    assert restricted(s).startswith("allowPrivilegeEscalation != false")
    assert restricted(s, version=v1(7)) == ""


def test_old_versions_use_baseline_checks_that_restricted_later_replaced() -> None:
    s = spec(container(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]}))
    assert restricted(s, version=v1(21)).startswith("non-default capabilities")


def test_versions_newer_than_the_newest_check_evaluate_as_latest() -> None:
    future = LevelVersion(RESTRICTED, v1(NEWEST.minor + 5))
    assert DEFAULT_EVALUATOR.checks_for(future) == DEFAULT_EVALUATOR.checks_for(
        LevelVersion(RESTRICTED, LATEST))


def test_the_checks_tolerate_mistyped_fields() -> None:
    odd = {"containers": ["not a container", {"name": "c", "securityContext": "x",
                                               "ports": "y"}],
           "volumes": [None], "securityContext": {"sysctls": "z"}}
    assert restricted(odd).startswith("allowPrivilegeEscalation != false")


# -- labels and policy ---------------------------------------------------------------------


def test_labels_choose_levels_and_versions() -> None:
    policy, causes = policy_to_evaluate({
        "pod-security.kubernetes.io/enforce": "baseline",
        "pod-security.kubernetes.io/enforce-version": "v1.29",
        "pod-security.kubernetes.io/audit": "restricted"})
    assert causes == []
    assert str(policy.enforce) == "baseline:v1.29"
    assert str(policy.audit) == "restricted:latest"
    # warn follows a stricter enforce level, with its version
    assert str(policy.warn) == "baseline:v1.29"


def test_an_explicit_warn_level_is_kept() -> None:
    policy, _ = policy_to_evaluate({"pod-security.kubernetes.io/enforce": "restricted",
                                    "pod-security.kubernetes.io/warn": "privileged"})
    assert policy.warn.level == PRIVILEGED


def test_bad_labels_fail_closed_for_enforce_and_open_for_audit_and_warn() -> None:
    policy, causes = policy_to_evaluate({
        "pod-security.kubernetes.io/enforce": "strict",
        "pod-security.kubernetes.io/audit": "loud",
        "pod-security.kubernetes.io/warn-version": "1.30"})
    assert str(policy.enforce) == "restricted:latest"
    assert policy.audit.level == PRIVILEGED and policy.warn.level == PRIVILEGED
    assert [(c.field, c.message) for c in causes] == [
        ("metadata.labels[pod-security.kubernetes.io/enforce]",
         'Invalid value: "strict": must be one of privileged, baseline, restricted'),
        ("metadata.labels[pod-security.kubernetes.io/audit]",
         'Invalid value: "loud": must be one of privileged, baseline, restricted'),
        ("metadata.labels[pod-security.kubernetes.io/warn-version]",
         'Invalid value: "1.30": must be "latest" or "v1.x"')]


def test_no_labels_means_the_defaults() -> None:
    assert policy_to_evaluate({}) == (DEFAULT_POLICY, [])
    assert policy_to_evaluate(None)[0].fully_privileged()


# -- decisions -----------------------------------------------------------------------------

NONE_EXEMPT = config.Exemptions()


def _policy(enforce: str, audit: str = PRIVILEGED, warn: str = PRIVILEGED) -> Policy:
    return Policy(LevelVersion(enforce, LATEST), LevelVersion(audit, LATEST),
                  LevelVersion(warn, LATEST))


def test_enforce_denies_and_then_sends_no_warning() -> None:
    pod = spec(hostPID=True)
    d = decisions.evaluate_pod(_policy(BASELINE, audit=RESTRICTED, warn=RESTRICTED), [], {},
                               pod, enforce=True, exemptions=NONE_EXEMPT)
    assert d.denied == 'violates PodSecurity "baseline:latest": host namespaces (hostPID=true)'
    assert d.warnings == []
    assert d.annotations == {
        "enforce-policy": "baseline:latest",
        "audit-violations": 'would violate PodSecurity "restricted:latest": host namespaces '
                            "(hostPID=true)"}


def test_templates_are_warned_never_denied() -> None:
    d = decisions.evaluate_pod(_policy(RESTRICTED, warn=RESTRICTED), [], {}, spec(hostPID=True),
                               enforce=False, exemptions=NONE_EXEMPT)
    assert d.denied is None
    assert d.warnings == ['would violate PodSecurity "restricted:latest": host namespaces '
                          "(hostPID=true)"]


def test_an_exempt_runtime_class_skips_evaluation() -> None:
    d = decisions.evaluate_pod(_policy(RESTRICTED), [], {},
                               spec(hostPID=True, runtimeClassName="kata"), enforce=True,
                               exemptions=config.Exemptions(runtime_classes=frozenset({"kata"})))
    assert d.denied is None and d.annotations == {"exempt": "runtimeClass"}


def test_label_errors_are_audited() -> None:
    _, causes = policy_to_evaluate({"pod-security.kubernetes.io/enforce": "x"})
    d = decisions.evaluate_pod(_policy(PRIVILEGED), causes, {}, spec(), enforce=True,
                               exemptions=NONE_EXEMPT)
    assert d.annotations["error"] == (
        "Failed to parse policy: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid "
        'value: "x": must be one of privileged, baseline, restricted')


def _named(name: str, pod_spec: dict[str, Any], owner: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if owner:
        meta["ownerReferences"] = [{"uid": owner, "controller": True, "kind": "ReplicaSet",
                                    "name": owner, "apiVersion": "apps/v1"}]
    return {"metadata": meta, "spec": pod_spec}


def test_existing_pod_warnings_group_pods_by_reason() -> None:
    pods = [_named("web-2", spec(hostNetwork=True), "rs"),
            _named("web-1", spec(hostNetwork=True), "rs"),
            _named("priv", spec(container(privileged=True))),
            _named("fine", spec()),
            _named("web-3", spec(hostNetwork=True), "rs")]
    assert decisions.existing_pod_warnings("ns", pods, LevelVersion(BASELINE, LATEST),
                                           NONE_EXEMPT) == [
        'existing pods in namespace "ns" violate the new PodSecurity enforce level '
        '"baseline:latest"',
        "priv: privileged",
        "web-1 (and 2 other pods): host namespaces"]
    assert decisions.existing_pod_warnings("ns", pods, LevelVersion(BASELINE, LATEST),
                                           NONE_EXEMPT, limit=2) == [
        "new PodSecurity enforce level only checked against the first 2 of 5 existing pods",
        'existing pods in namespace "ns" violate the new PodSecurity enforce level '
        '"baseline:latest"',
        "priv: privileged",
        "web-2: host namespaces"]


def test_exempt_namespace_warning_names_the_modes_labelled() -> None:
    labels = {"pod-security.kubernetes.io/enforce": "restricted",
              "pod-security.kubernetes.io/warn": "baseline"}
    policy, _ = policy_to_evaluate(labels)
    assert decisions.exempt_namespace_warning("ns", policy, labels, DEFAULT_POLICY) == (
        'namespace "ns" is exempt from Pod Security, and the policy '
        "(enforce=restricted:latest, warn=baseline:latest) will be ignored")
    assert decisions.exempt_namespace_warning("ns", DEFAULT_POLICY, {}, DEFAULT_POLICY) == ""


def test_only_image_changes_make_a_pod_update_significant() -> None:
    old = {"spec": spec(container("a"))}
    relabelled = {"metadata": {"labels": {"x": "y"}}, "spec": spec(container("a"))}
    assert not decisions.significant_pod_update(relabelled, old)
    new_image = {"spec": spec({**container("a"), "image": "other"})}
    assert decisions.significant_pod_update(new_image, old)
    debug = {"spec": {**spec(container("a")), "ephemeralContainers": [container("dbg")]}}
    assert decisions.significant_pod_update(debug, old)


# -- templates and configuration -----------------------------------------------------------


@pytest.mark.parametrize("key,obj", [
    ("/pods", {"metadata": {"name": "p"}, "spec": {"hostPID": True}}),
    ("apps/deployments", {"spec": {"template": {"metadata": {"name": "p"},
                                                "spec": {"hostPID": True}}}}),
    ("batch/cronjobs", {"spec": {"jobTemplate": {"spec": {"template": {
        "metadata": {"name": "p"}, "spec": {"hostPID": True}}}}}}),
    ("/podtemplates", {"template": {"metadata": {"name": "p"}, "spec": {"hostPID": True}}}),
])
def test_pod_specs_are_found_in_each_kind(key: str, obj: dict[str, Any]) -> None:
    assert templates.pod_spec_of(key, obj) == ({"name": "p"}, {"hostPID": True})


def test_kinds_without_a_template_have_no_pod_spec() -> None:
    assert templates.pod_spec_of("apps/deployments", {"spec": {}}) is None
    assert templates.pod_spec_of("/configmaps", {"data": {}}) is None


def test_configuration_defaults_and_exemptions() -> None:
    parsed = config.parse({
        "apiVersion": "pod-security.admission.config.k8s.io/v1",
        "kind": "PodSecurityConfiguration",
        "defaults": {"enforce": "baseline", "enforce-version": "v1.30", "warn": "restricted"},
        "exemptions": {"usernames": ["admin"], "namespaces": ["kube-system"],
                       "runtimeClasses": ["kata.io"]}})
    assert str(parsed.defaults.enforce) == "baseline:v1.30"
    assert str(parsed.defaults.warn) == "restricted:latest"
    assert parsed.defaults.audit.level == PRIVILEGED
    assert parsed.exemptions == config.Exemptions(
        frozenset({"admin"}), frozenset({"kube-system"}), frozenset({"kata.io"}))
    assert config.parse(None) == config.PodSecurityConfig()


@pytest.mark.parametrize("raw,message", [
    ("text", "must be an object, got str"),
    ({"kind": "Other"}, "apiVersion/kind must be"),
    ({"defaults": {"warn-version": "1.2"}},
     'defaults.warn-version: Invalid value: "1.2": must be "latest" or "v1.x"'),
    ({"defaults": {"loud": "yes"}}, "defaults.loud: unknown field"),
    ({"exemptions": {"usernames": [""]}},
     'exemptions.usernames[0]: Invalid value: "": username must not be empty'),
    ({"exemptions": {"runtimeClasses": "kata"}},
     'exemptions.runtimeClasses: Invalid value: "kata": must be a list of strings'),
    ({"exemptions": {"namespaces": ["a", "a"]}},
     'exemptions.namespaces[1]: Duplicate value: "a"'),
])
def test_bad_configuration_is_one_clear_line(raw: Any, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        config.parse(raw)
    assert message in str(raised.value) and "\n" not in str(raised.value)
