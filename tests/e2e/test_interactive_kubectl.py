"""Interactive kubectl against a live control plane: exec -it/-i, attach, run -it, cp and
debug, with the real kubectl driven through a real pseudo-terminal (terminal_harness).

One control plane for the module. Pods run the host's `sh`, `cat` and `sleep` (images are
recorded, not pulled), with a prompt of their own (PS1) the tests wait for.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
import yaml

from orchestrator import ControlPlane
from tests.conftest import Kubectl, wait_for
from tests.e2e.runtime_harness import apply, control_plane as runtime_control_plane, get
from tests.e2e.runtime_harness import event_reasons, events, wait_phase
from tests.e2e.terminal_harness import Terminal

PROMPT = "ik> "


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with runtime_control_plane(tmp_path_factory.mktemp("interactive-cp")) as cp:
        yield cp


def pod(name: str, command: list[str], volumes: list[dict[str, Any]] | None = None,
        **container: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{
        "name": "c", "image": "busybox", "command": command,
        "env": [{"name": "PS1", "value": PROMPT}], **container}],
        "terminationGracePeriodSeconds": 2}
    if volumes:
        spec["volumes"] = volumes
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


@pytest.fixture(scope="module")
def sleeper(kubectl: Kubectl) -> str:
    apply(kubectl, pod("sleeper", ["sleep", "3600"]))
    wait_phase(kubectl, "sleeper", "Running")
    return "sleeper"


def terminal(kubectl: Kubectl, *args: str, columns: int = 80, rows: int = 24,
             **env: str) -> Terminal:
    return Terminal(kubectl.base() + list(args),
                    {**os.environ, "HOME": str(kubectl.cache_dir), **env}, columns, rows)


def wait_for_size(term: Terminal, rows: int, columns: int) -> None:
    """`stty size` until the shell sees the new window (kubectl forwards it on SIGWINCH)."""
    def shown() -> bool:
        term.type("stty size\r")
        try:
            term.expect(rf"\r\n{rows} {columns}\r\n", timeout=1)
            return True
        except AssertionError:
            return False
    wait_for(shown, timeout=30)


# -- exec ----------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["websocket", "spdy"])
def test_exec_it_runs_a_shell_on_a_terminal(kubectl: Kubectl, sleeper: str,
                                            transport: str) -> None:
    # kubectl speaks v5.channel.k8s.io over a WebSocket, and SPDY/3.1 (v4) when told not to.
    env = {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false"} if transport == "spdy" else {}
    term = terminal(kubectl, "exec", "-it", sleeper, "--", "sh", columns=91, rows=29, **env)
    try:
        term.expect(PROMPT)
        term.type("tty; echo $((6 * 7))\r")
        term.expect(r"/dev/pts/\d+\r\n42\r\n")
        term.expect(PROMPT)
        term.type("stty size\r")
        term.expect(r"\r\n29 91\r\n")  # the size kubectl found at the start
        term.resize(132, 43)
        wait_for_size(term, 43, 132)
        term.type("exit 3\r")
        assert term.wait() == 3
        assert "command terminated with exit code 3" in term.screen.decode()
    finally:
        term.close()


@pytest.mark.parametrize("transport", ["websocket", "spdy"])
def test_exec_i_passes_stdin(kubectl: Kubectl, sleeper: str, transport: str) -> None:
    env = {**os.environ, "HOME": str(kubectl.cache_dir)}
    if transport == "spdy":
        env["KUBECTL_REMOTE_COMMAND_WEBSOCKETS"] = "false"
    out = subprocess.run(kubectl.base() + ["exec", "-i", sleeper, "--", "cat"],
                         input="x\nsecond line\n", capture_output=True, text=True, env=env,
                         timeout=60)
    assert (out.returncode, out.stdout) == (0, "x\nsecond line\n"), out.stderr
    failed = subprocess.run(kubectl.base() + ["exec", "-i", sleeper, "--", "sh", "-c",
                                              "read line; echo got $line; exit 5"],
                            input="it\n", capture_output=True, text=True, env=env,
                            timeout=60)
    assert (failed.returncode, failed.stdout) == (5, "got it\n"), failed.stderr
    missing = subprocess.run(kubectl.base() + ["exec", "-i", sleeper, "--",
                                               "no-such-command-here"],
                             input="", capture_output=True, text=True, env=env, timeout=60)
    assert missing.returncode == 127 and "no-such-command-here" in missing.stderr


# -- attach and run -it --------------------------------------------------------------------


def test_attach_to_a_container_with_stdin(kubectl: Kubectl) -> None:
    apply(kubectl, pod("reader", ["cat"], stdin=True))
    wait_phase(kubectl, "reader", "Running")
    term = terminal(kubectl, "attach", "-i", "reader")
    try:
        term.expect("If you don't see a command prompt, try pressing enter.")
        term.type("hello through attach\r")
        # The terminal echoes the line, then cat, in the container, writes it back.
        term.expect("hello through attach\r\n(.*\r\n)?hello through attach")
    finally:
        term.close()
    logs = kubectl.run("logs", "reader").stdout
    assert "hello through attach" in logs


def test_attach_to_a_shell_on_a_terminal(kubectl: Kubectl) -> None:
    apply(kubectl, pod("console", ["sh"], stdin=True, tty=True))
    wait_phase(kubectl, "console", "Running")
    term = terminal(kubectl, "attach", "-it", "console", columns=100, rows=31)
    try:
        term.expect("try pressing enter")
        term.type("\r")
        term.expect(PROMPT)
        term.type("echo attached-$((1 + 1))\r")
        term.expect("attached-2")
        wait_for_size(term, 31, 100)
        term.type("exit 0\r")
        assert term.wait() == 0
        assert "Session ended" in term.screen.decode()
    finally:
        term.close()


def test_run_it_rm_gives_a_shell_and_its_exit_code(kubectl: Kubectl) -> None:
    term = terminal(kubectl, "run", "-it", "--rm", "--image=busybox", "--restart=Never",
                    "oneoff", f"--env=PS1={PROMPT}", "--command", "--", "sh")
    try:
        term.expect("try pressing enter")
        term.type("\r")
        term.expect(PROMPT.strip())
        term.type("echo in-oneoff\r")
        term.expect("in-oneoff")
        term.type("exit 4\r")
        assert term.wait(timeout=60) == 4
        assert 'pod "oneoff" deleted' in term.screen.decode()
    finally:
        term.close()
    assert kubectl.run("get", "pod", "oneoff", check=False).returncode == 1


# -- cp ------------------------------------------------------------------------------------


def test_cp_both_ways_keeps_a_10mb_file(kubectl: Kubectl, tmp_path: Path) -> None:
    apply(kubectl, pod("files", ["sleep", "3600"],
                       volumeMounts=[{"name": "data", "mountPath": "/data"}],
                       volumes=[{"name": "data", "emptyDir": {}}]))
    wait_phase(kubectl, "files", "Running")
    blob = tmp_path / "blob.bin"
    blob.write_bytes(os.urandom(10 * 1024 * 1024))
    digest = hashlib.sha256(blob.read_bytes()).hexdigest()
    kubectl.run("cp", str(blob), "files:/data/blob.bin", timeout=120)
    inside = kubectl.run("exec", "files", "--", "sha256sum", "/data/blob.bin").stdout
    assert inside.split()[0] == digest
    back = tmp_path / "back.bin"
    kubectl.run("cp", "files:/data/blob.bin", str(back), timeout=120)
    assert hashlib.sha256(back.read_bytes()).hexdigest() == digest


# -- debug (ephemeral containers) ----------------------------------------------------------


def test_debug_it_targets_a_container(kubectl: Kubectl, sleeper: str) -> None:
    term = terminal(kubectl, "debug", "-it", sleeper, "--image=busybox", "--target=c",
                    "--env=PS1=dbg>", "--", "sh")
    try:
        term.expect("try pressing enter")
        term.type("\r")
        term.expect("dbg>")
        term.type("echo debugging-$HOSTNAME\r")
        term.expect(f"debugging-{sleeper}")
        term.type("exit 0\r")
        assert term.wait() == 0
    finally:
        term.close()
    live = get(kubectl, sleeper)
    (added,) = live["spec"]["ephemeralContainers"]
    assert added["targetContainerName"] == "c" and added["command"] == ["sh"]

    def finished() -> dict[str, Any] | None:
        for status in get(kubectl, sleeper)["status"].get("ephemeralContainerStatuses") or []:
            if status["name"] == added["name"] and "terminated" in status["state"]:
                return dict(status)
        return None
    status = wait_for(finished, timeout=30)
    assert status["state"]["terminated"]["exitCode"] == 0
    assert status["ready"] is False and status["restartCount"] == 0
    notes = [e["message"] for e in events(kubectl, sleeper) if e["reason"] == "RuntimeNotes"]
    assert any(added["name"] in n and "targetContainerName" in n for n in notes), notes
    assert {"Created", "Started"} <= event_reasons(kubectl, sleeper)
    # The main container ran on, untouched.
    assert get(kubectl, sleeper)["status"]["containerStatuses"][0]["restartCount"] == 0


def test_debug_is_held_to_pod_security(kubectl: Kubectl) -> None:
    # A tenant may not use an ephemeral container to get what its namespace forbids pods.
    kubectl.run("create", "namespace", "locked")
    kubectl.run("label", "namespace", "locked", "pod-security.kubernetes.io/enforce=baseline")
    kubectl.run("apply", "-n", "locked", "-f", "-", input=json.dumps(pod("guarded",
                                                                        ["sleep", "3600"])))
    wait_for(lambda: kubectl.json("get", "-n", "locked", "pod", "guarded")["status"].get(
        "phase") == "Running", timeout=30)
    refused = kubectl.run("debug", "-n", "locked", "guarded", "--image=busybox", "--", "true",
                          check=False)
    assert refused.returncode == 1
    assert 'violates PodSecurity "baseline:latest": non-default capabilities' in \
        refused.stderr and "SYS_PTRACE" in refused.stderr
    stored = kubectl.json("get", "-n", "locked", "pod", "guarded")
    assert "ephemeralContainers" not in stored["spec"]
    kubectl.run("debug", "-n", "locked", "guarded", "--image=busybox", "--profile=baseline",
                "--", "true")
    kubectl.run("delete", "namespace", "locked", "--wait=false")


# -- the API underneath --------------------------------------------------------------------


@pytest.fixture(scope="module")
def plain(kubectl: Kubectl) -> str:
    """A running pod that never gets an ephemeral container (refusals write nothing)."""
    apply(kubectl, pod("plain", ["sleep", "3600"]))
    wait_phase(kubectl, "plain", "Running")
    return "plain"


@pytest.fixture(scope="module")
def api(control_plane: ControlPlane) -> requests.Session:
    token = yaml.safe_load(open(control_plane.kubeconfig))["users"][0]["user"]["token"]
    s = requests.Session()
    s.verify = control_plane.ca_file
    s.trust_env = False
    s.headers["Authorization"] = f"Bearer {token}"
    return s


def _ephemeral(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "command": ["sh"], **fields}


def _patch_ephemeral(api: requests.Session, cp: ControlPlane, pod_name: str,
                     containers: list[dict[str, Any]]) -> requests.Response:
    return api.patch(
        f"{cp.url}/api/v1/namespaces/default/pods/{pod_name}/ephemeralcontainers",
        data=json.dumps({"spec": {"ephemeralContainers": containers}}),
        headers={"Content-Type": "application/strategic-merge-patch+json"})


@pytest.mark.parametrize("container, field, message", [
    (_ephemeral("p", ports=[{"containerPort": 80}]), "spec.ephemeralContainers[0].ports",
     "Forbidden: cannot be set for an Ephemeral Container"),
    (_ephemeral("r", readinessProbe={"exec": {"command": ["true"]}}),
     "spec.ephemeralContainers[0].readinessProbe",
     "Forbidden: cannot be set for an Ephemeral Container"),
    (_ephemeral("q", resources={"limits": {"cpu": "1"}}),
     "spec.ephemeralContainers[0].resources",
     "Forbidden: cannot be set for an Ephemeral Container"),
    (_ephemeral("t", targetContainerName="nope"),
     "spec.ephemeralContainers[0].targetContainerName", 'Not found: "nope"'),
    (_ephemeral("c"), "spec.ephemeralContainers[0].name", 'Duplicate value: "c"'),
    ({"name": "noimage"}, "spec.ephemeralContainers[0].image", "Required value"),
    (_ephemeral("Bad_Name"), "spec.ephemeralContainers[0].name", "Invalid value"),
    (_ephemeral("m", volumeMounts=[{"name": "ghost", "mountPath": "/g"}]),
     "spec.ephemeralContainers[0].volumeMounts[0].name", 'Not found: "ghost"'),
])
def test_ephemeral_containers_are_validated(api: requests.Session,
                                            control_plane: ControlPlane, plain: str,
                                            container: dict[str, Any], field: str,
                                            message: str) -> None:
    before = get_pod(api, control_plane, plain)
    resp = _patch_ephemeral(api, control_plane, plain, [container])
    assert resp.status_code == 422, resp.text
    status = resp.json()
    assert status["reason"] == "Invalid"
    assert status["message"].startswith(f'Pod "{plain}" is invalid: {field}: {message}')
    assert "\n" not in status["message"]
    after = get_pod(api, control_plane, plain)
    assert "ephemeralContainers" not in after["spec"]
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def get_pod(api: requests.Session, cp: ControlPlane, name: str) -> dict[str, Any]:
    resp = api.get(f"{cp.url}/api/v1/namespaces/default/pods/{name}/ephemeralcontainers")
    assert resp.status_code == 200, resp.text
    result: dict[str, Any] = resp.json()
    assert result["kind"] == "Pod"
    return result


def unversioned(obj: dict[str, Any]) -> dict[str, Any]:
    obj["metadata"].pop("resourceVersion", None)
    return obj


def test_ephemeral_containers_may_only_be_added(api: requests.Session,
                                                control_plane: ControlPlane,
                                                kubectl: Kubectl) -> None:
    apply(kubectl, pod("adds", ["sleep", "3600"]))
    wait_phase(kubectl, "adds", "Running")
    url = f"{control_plane.url}/api/v1/namespaces/default/pods/adds/ephemeralcontainers"
    added = _patch_ephemeral(api, control_plane, "adds",
                             [_ephemeral("one", command=["sleep", "3600"])])
    assert added.status_code == 200, added.text
    assert [c["name"] for c in added.json()["spec"]["ephemeralContainers"]] == ["one"]
    # Anything else in the body is kept as stored: only ephemeral containers change. The
    # bodies carry no resourceVersion (pods allow unconditional updates): the runtime posts
    # statuses meanwhile.
    current = unversioned(added.json())
    current["spec"]["ephemeralContainers"][0]["image"] = "other"
    changed = api.put(url, json=current)
    assert changed.status_code == 422
    assert changed.json()["message"] == (
        'Pod "adds" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral '
        'containers "one" may not be changed')
    current = unversioned(get_pod(api, control_plane, "adds"))
    current["spec"]["ephemeralContainers"] = []
    current["spec"]["containers"][0]["image"] = "ignored"
    removed = api.put(url, json=current)
    assert removed.status_code == 422
    assert "existing ephemeral containers \"one\" may not be removed" in \
        removed.json()["message"]
    current = unversioned(get_pod(api, control_plane, "adds"))
    current["metadata"]["labels"] = {"ignored": "yes"}
    current["spec"]["containers"][0]["image"] = "ignored"
    current["spec"]["ephemeralContainers"].append(_ephemeral("two", command=["true"]))
    second = api.put(url, json=current)
    assert second.status_code == 200, second.text
    stored = get(kubectl, "adds")
    assert [c["name"] for c in stored["spec"]["ephemeralContainers"]] == ["one", "two"]
    assert stored["spec"]["containers"][0]["image"] == "busybox"
    assert "ignored" not in (stored["metadata"].get("labels") or {})

    def states() -> dict[str, str] | None:
        seen = {s["name"]: next(iter(s["state"])) for s in
                get(kubectl, "adds")["status"].get("ephemeralContainerStatuses") or []}
        return seen if seen == {"one": "running", "two": "terminated"} else None
    wait_for(states, timeout=30)
    # exec reaches a running ephemeral container, as any other.
    out = kubectl.run("exec", "adds", "-c", "one", "--", "sh", "-c", "echo from-one").stdout
    assert out == "from-one\n"
    assert api.delete(url).status_code == 405


def test_streaming_refusals(api: requests.Session, control_plane: ControlPlane,
                            sleeper: str) -> None:
    base = f"{control_plane.url}/api/v1/namespaces/default/pods/{sleeper}"
    cases = [
        (f"{base}/exec?command=true", 400, "Upgrade request required"),
        (f"{base}/exec", 400, "you must specify at least 1 command"),
        (f"{base}/exec?command=true&stdout=false&stderr=false", 400,
         "you must specify at least 1 of stdin, stdout, stderr"),
        (f"{base}/attach?container=ghost", 400, f"container ghost is not valid for pod "
                                                f"{sleeper}"),
        (f"{base}/attach", 400, "Upgrade request required"),
    ]
    for url, code, message in cases:
        resp = api.post(url)
        assert resp.status_code == code, (url, resp.text)
        assert message in resp.json()["message"], (url, resp.text)
    assert api.put(f"{base}/attach").status_code == 405


def test_a_container_that_is_not_running_refuses_the_upgrade(
        api: requests.Session, control_plane: ControlPlane, kubectl: Kubectl) -> None:
    apply(kubectl, {**pod("done", ["true"]), "spec": {
        **pod("done", ["true"])["spec"], "restartPolicy": "Never"}})
    wait_phase(kubectl, "done", "Succeeded")
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
               "Sec-WebSocket-Protocol": "v5.channel.k8s.io"}
    resp = api.get(f"{control_plane.url}/api/v1/namespaces/default/pods/done/attach"
                   "?stdout=true", headers=upgrade)
    assert resp.status_code == 400, resp.text
    assert resp.json()["message"] == 'container not found ("c")'
    unknown = api.get(f"{control_plane.url}/api/v1/namespaces/default/pods/done/attach",
                      headers={**upgrade, "Sec-WebSocket-Protocol": "v9.example"})
    assert unknown.status_code == 400
    assert "requested protocol(s) are not supported" in unknown.json()["message"]
