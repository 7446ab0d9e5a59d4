"""The baseline checks: what a pod may not do even in a namespace that trusts it somewhat
(host namespaces, privileged containers, host paths and ports, extra capabilities, custom
AppArmor/SELinux/seccomp, unmasked /proc, unsafe sysctls, Windows host processes).

Each check is a pure function `(metadata, spec) -> CheckResult | None`; None allows. Reasons
and details are worded as Kubernetes' pod-security-admission words them, since users and
tools match on them.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from orchestrator.api.podsecurity.podspec import (
    CheckResult,
    containers,
    containers_phrase,
    field_of,
    go_quote,
    in_user_namespace,
    items,
    join_quote,
    name_of,
    obj,
    plural,
)

Meta = Mapping[str, Any]
Spec = Mapping[str, Any]


def privileged(meta: Meta, spec: Spec) -> CheckResult | None:
    bad = [name_of(c) for c in containers(spec) if field_of(c, "privileged") is True]
    if not bad:
        return None
    return CheckResult("privileged",
                       f"{containers_phrase(bad)} must not set securityContext.privileged=true")


def host_namespaces(meta: Meta, spec: Spec) -> CheckResult | None:
    shared = [f"{key}=true" for key in ("hostNetwork", "hostPID", "hostIPC")
              if spec.get(key) is True]
    return CheckResult("host namespaces", ", ".join(shared)) if shared else None


def host_path_volumes(meta: Meta, spec: Spec) -> CheckResult | None:
    bad = [str(obj(v).get("name", "")) for v in items(spec.get("volumes"))
           if obj(v).get("hostPath") is not None]
    if not bad:
        return None
    return CheckResult("hostPath volumes",
                       f'{plural("volume", "volumes", len(bad))} {join_quote(bad)}')


def host_ports(meta: Meta, spec: Spec) -> CheckResult | None:
    bad: list[str] = []
    ports: set[str] = set()
    for c in containers(spec):
        used = [p.get("hostPort") for p in items(c.get("ports"))
                if isinstance(p, dict) and p.get("hostPort") not in (None, 0)]
        if used:
            bad.append(name_of(c))
            ports.update(str(p) for p in used)
    if not bad:
        return None
    return CheckResult("hostPort", (
        f'{containers_phrase(bad)} {plural("uses", "use", len(bad))} '
        f'{plural("hostPort", "hostPorts", len(ports))} {", ".join(sorted(ports))}'))


def _forbidden_hosts(handler: Any) -> list[str]:
    handler = obj(handler)
    return [str(host) for action in ("httpGet", "tcpSocket")
            if (host := obj(handler.get(action)).get("host"))]


def host_probes_and_lifecycle(meta: Meta, spec: Spec) -> CheckResult | None:
    bad: set[str] = set()
    hosts: set[str] = set()
    for c in containers(spec):
        lifecycle = obj(c.get("lifecycle"))
        handlers = [c.get("livenessProbe"), c.get("readinessProbe"), c.get("startupProbe"),
                    lifecycle.get("postStart"), lifecycle.get("preStop")]
        found = [h for handler in handlers for h in _forbidden_hosts(handler)]
        if found:
            bad.add(name_of(c))
            hosts.update(found)
    if not bad:
        return None
    return CheckResult("probe or lifecycle host", (
        f'{containers_phrase(sorted(bad))} {plural("uses", "use", len(bad))} '
        f'{plural("probe or lifecycle host", "probe or lifecycle hosts", len(hosts))} '
        f"{join_quote(sorted(hosts))}"))


_DEFAULT_CAPABILITIES = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})


def capabilities(meta: Meta, spec: Spec) -> CheckResult | None:
    bad: list[str] = []
    added: set[str] = set()
    for c in containers(spec):
        extra = [str(cap) for cap in items(field_of(c, "capabilities", "add"))
                 if str(cap) not in _DEFAULT_CAPABILITIES]
        if extra:
            bad.append(name_of(c))
            added.update(extra)
    if not bad:
        return None
    return CheckResult("non-default capabilities", (
        f"{containers_phrase(bad)} must not include {join_quote(sorted(added))} in "
        "securityContext.capabilities.add"))


_APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
_APPARMOR_TYPES = ("RuntimeDefault", "Localhost")


def _allowed_apparmor_annotation(value: Any) -> bool:
    return value in ("", "runtime/default") or str(value).startswith("localhost/")


def app_armor_profile(meta: Meta, spec: Spec) -> CheckResult | None:
    setters: list[str] = []
    values: set[str] = set()
    pod_profile = field_of(spec, "appArmorProfile")
    if isinstance(pod_profile, dict) and pod_profile.get("type") not in _APPARMOR_TYPES:
        setters.append("pod")
        values.add(str(pod_profile.get("type") or ""))
    bad: list[str] = []
    for c in containers(spec):
        profile = field_of(c, "appArmorProfile")
        if isinstance(profile, dict) and profile.get("type") not in _APPARMOR_TYPES:
            bad.append(name_of(c))
            values.add(str(profile.get("type") or ""))
    if bad:
        setters.append(containers_phrase(bad))
    shown = sorted(values)
    annotations = sorted(
        f"{key}={go_quote(str(value))}" for key, value in obj(meta.get("annotations")).items()
        if str(key).startswith(_APPARMOR_ANNOTATION) and not _allowed_apparmor_annotation(value))
    if annotations:
        shown += annotations
        setters.append(plural("annotation", "annotations", len(annotations)))
    if not setters:
        return None
    return CheckResult(
        plural("forbidden AppArmor profile", "forbidden AppArmor profiles", len(shown)),
        f"{' and '.join(setters)} must not set AppArmor profile type to {join_quote(shown)}")


def _selinux(allowed_types: frozenset[str]) -> Callable[[Meta, Spec], CheckResult | None]:
    def check(meta: Meta, spec: Spec) -> CheckResult | None:
        bad_types: set[str] = set()
        user = role = False

        def valid(options: Any) -> bool:
            nonlocal user, role
            ok = True
            kind = str(options.get("type") or "")
            if kind not in allowed_types:
                ok = False
                bad_types.add(kind)
            if options.get("user"):
                ok, user = False, True
            if options.get("role"):
                ok, role = False, True
            return ok

        setters: list[str] = []
        pod_options = field_of(spec, "seLinuxOptions")
        if isinstance(pod_options, dict) and not valid(pod_options):
            setters.append("pod")
        bad = [name_of(c) for c in containers(spec)
               if isinstance(opts := field_of(c, "seLinuxOptions"), dict)
               and not valid(opts)]
        if bad:
            setters.append(containers_phrase(bad))
        if not setters:
            return None
        what: list[str] = []
        if bad_types:
            what.append(f'{plural("type", "types", len(bad_types))} '
                        f"{join_quote(sorted(bad_types))}")
        if user:
            what.append("user may not be set")
        if role:
            what.append("role may not be set")
        return CheckResult("seLinuxOptions", (
            f"{' and '.join(setters)} set forbidden securityContext.seLinuxOptions: "
            f"{'; '.join(what)}"))

    return check


_SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})
selinux_options_1_0 = _selinux(_SELINUX_TYPES)
selinux_options_1_31 = _selinux(_SELINUX_TYPES | {"container_engine_t"})


def _proc_mount(meta: Meta, spec: Spec) -> CheckResult | None:
    bad: list[str] = []
    kinds: set[str] = set()
    for c in containers(spec):
        mount = field_of(c, "procMount")
        if mount is not None and mount != "Default":
            bad.append(name_of(c))
            kinds.add(str(mount))
    if not bad:
        return None
    return CheckResult("procMount", (
        f"{containers_phrase(bad)} must not set securityContext.procMount to "
        f"{join_quote(sorted(kinds))}"))


proc_mount_1_0 = _proc_mount


def proc_mount_1_35(meta: Meta, spec: Spec) -> CheckResult | None:
    return None if in_user_namespace(spec) else _proc_mount(meta, spec)


_SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
_SECCOMP_CONTAINER_ANNOTATION = "container.seccomp.security.alpha.kubernetes.io/"
SECCOMP_TYPES = ("RuntimeDefault", "Localhost")


def _allowed_seccomp_annotation(value: Any) -> bool:
    return value in ("runtime/default", "docker/default") or str(value).startswith(
        "localhost/")


def seccomp_annotations_1_0(meta: Meta, spec: Spec) -> CheckResult | None:
    """Before 1.19 seccomp was set by annotations."""
    annotations = obj(meta.get("annotations"))
    keys = [_SECCOMP_POD_ANNOTATION] + [_SECCOMP_CONTAINER_ANNOTATION + name_of(c)
                                        for c in containers(spec)]
    bad = {f"{key}={go_quote(str(annotations[key]))}" for key in keys
           if key in annotations and not _allowed_seccomp_annotation(annotations[key])}
    if not bad:
        return None
    return CheckResult("seccompProfile", (
        f'forbidden {plural("annotation", "annotations", len(bad))} '
        f"{', '.join(sorted(bad))}"))


def seccomp_explicitly_bad(spec: Spec) -> tuple[list[str], set[str], bool]:
    """Who sets a seccomp type other than RuntimeDefault/Localhost (setters, values), and
    whether the pod level sets an allowed one."""
    setters: list[str] = []
    values: set[str] = set()
    pod_set = False
    pod_profile = field_of(spec, "seccompProfile")
    if isinstance(pod_profile, dict):
        if pod_profile.get("type") in SECCOMP_TYPES:
            pod_set = True
        else:
            setters.append("pod")
            values.add(str(pod_profile.get("type") or ""))
    bad: list[str] = []
    for c in containers(spec):
        profile = field_of(c, "seccompProfile")
        if isinstance(profile, dict) and profile.get("type") not in SECCOMP_TYPES:
            bad.append(name_of(c))
            values.add(str(profile.get("type") or ""))
    if bad:
        setters.append(containers_phrase(bad))
    return setters, values, pod_set


def seccomp_bad_setters_result(setters: list[str], values: set[str]) -> CheckResult:
    return CheckResult("seccompProfile", (
        f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to "
        f"{join_quote(sorted(values))}"))


def seccomp_profile_1_19(meta: Meta, spec: Spec) -> CheckResult | None:
    setters, values, _ = seccomp_explicitly_bad(spec)
    return seccomp_bad_setters_result(setters, values) if setters else None


def _sysctls(allowed: frozenset[str]) -> Callable[[Meta, Spec], CheckResult | None]:
    def check(meta: Meta, spec: Spec) -> CheckResult | None:
        bad = [str(obj(s).get("name", "")) for s in items(field_of(spec, "sysctls"))
               if obj(s).get("name") not in allowed]
        return CheckResult("forbidden sysctls", ", ".join(bad)) if bad else None

    return check


SAFE_SYSCTLS_1_0 = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start"})
SAFE_SYSCTLS_1_27 = SAFE_SYSCTLS_1_0 | {"net.ipv4.ip_local_reserved_ports"}
SAFE_SYSCTLS_1_29 = SAFE_SYSCTLS_1_27 | {
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes"}
SAFE_SYSCTLS_1_32 = SAFE_SYSCTLS_1_29 | {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}
SAFE_SYSCTLS_1_37 = SAFE_SYSCTLS_1_32 | {"net.ipv4.tcp_slow_start_after_idle",
                                         "net.ipv4.tcp_notsent_lowat"}
sysctls_1_0 = _sysctls(SAFE_SYSCTLS_1_0)
sysctls_1_27 = _sysctls(SAFE_SYSCTLS_1_27)
sysctls_1_29 = _sysctls(SAFE_SYSCTLS_1_29)
sysctls_1_32 = _sysctls(SAFE_SYSCTLS_1_32)
sysctls_1_37 = _sysctls(SAFE_SYSCTLS_1_37)


def windows_host_process(meta: Meta, spec: Spec) -> CheckResult | None:
    setters = ["pod"] if field_of(spec, "windowsOptions", "hostProcess") is True else []
    bad = [name_of(c) for c in containers(spec)
           if field_of(c, "windowsOptions", "hostProcess") is True]
    if bad:
        setters.append(containers_phrase(bad))
    if not setters:
        return None
    return CheckResult("hostProcess", (
        f"{' and '.join(setters)} must not set securityContext.windowsOptions.hostProcess=true"))
