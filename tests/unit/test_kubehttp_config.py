"""kubehttp's kubeconfig reading (client-go's loading and merging rules) and exec plugin
output, as pure functions over files in a temporary folder."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from daskhub_lite.kubehttp import execplugin, kubeconfig
from daskhub_lite.kubehttp.errors import KubeconfigError, Unsupported

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def write(path: Path, clusters: dict[str, dict], users: dict[str, dict],
          contexts: dict[str, dict], current: str | None = None) -> str:
    doc = {"apiVersion": "v1", "kind": "Config",
           "clusters": [{"name": n, "cluster": c} for n, c in clusters.items()],
           "users": [{"name": n, "user": u} for n, u in users.items()],
           "contexts": [{"name": n, "context": c} for n, c in contexts.items()]}
    if current:
        doc["current-context"] = current
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_current_context_with_token_ca_data_and_namespace(tmp_path: Path) -> None:
    file = write(tmp_path / "config",
                 {"c": {"server": "https://127.0.0.1:6443",
                        "certificate-authority-data": base64.b64encode(CA.encode()).decode()}},
                 {"u": {"token": "secret"}},
                 {"ctx": {"cluster": "c", "user": "u", "namespace": "team"}}, current="ctx")
    ep = kubeconfig.load(file).endpoint()
    assert (ep.server, ep.namespace, ep.context, ep.token, ep.ca_data) == (
        "https://127.0.0.1:6443", "team", "ctx", "secret", CA)


def test_kubeconfig_variable_merges_first_wins_and_skips_missing_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = write(tmp_path / "a" / "config", {"c": {"server": "https://first"}},
                  {"u": {"tokenFile": "token"}}, {"ctx": {"cluster": "c", "user": "u"}})
    second = write(tmp_path / "b" / "config",
                   {"c": {"server": "https://second"}, "d": {"server": "https://d"}},
                   {"u": {"token": "second"}},
                   {"ctx": {"cluster": "d", "user": "u"}, "other": {"cluster": "d"}},
                   current="ctx")
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}:{first}:{second}")
    config = kubeconfig.load()
    assert config.current_context == "ctx"  # only the second file sets one
    assert sorted(config.context_names()) == ["ctx", "other"]
    ep = config.endpoint()
    # The first file's context, cluster and user win; its relative tokenFile is its own.
    assert ep.server == "https://first"
    assert ep.token is None and ep.token_file == str(tmp_path / "a" / "token")
    assert ep.namespace == "default"
    assert config.endpoint("other").server == "https://d"


def test_relative_paths_resolve_against_the_file_that_names_them(tmp_path: Path) -> None:
    file = write(tmp_path / "kube" / "config",
                 {"c": {"server": "https://x", "certificate-authority": "pki/ca.crt"}},
                 {"u": {"client-certificate": "pki/me.crt", "client-key": "/abs/me.key",
                        "exec": {"command": "./bin/get-token", "apiVersion":
                                 "client.authentication.k8s.io/v1", "args": ["a"]}}},
                 {"ctx": {"cluster": "c", "user": "u"}}, current="ctx")
    ep = kubeconfig.load(file).endpoint()
    base = tmp_path / "kube"
    assert ep.ca_file == str(base / "pki" / "ca.crt")
    assert ep.cert_file == str(base / "pki" / "me.crt") and ep.key_file == "/abs/me.key"
    assert ep.exec is not None and ep.exec.command == str(base / "bin" / "get-token")
    assert ep.exec.args == ("a",) and ep.exec.cluster_info is None


def test_exec_command_without_a_slash_is_looked_up_on_path(tmp_path: Path) -> None:
    ca = base64.b64encode(CA.encode()).decode()
    file = write(tmp_path / "config", {"c": {"server": "https://x",
                                             "certificate-authority-data": ca}},
                 {"u": {"exec": {"command": "aws", "apiVersion": "v1beta1",
                                 "provideClusterInfo": True,
                                 "env": [{"name": "AWS_PROFILE", "value": "dev"}]}}},
                 {"ctx": {"cluster": "c", "user": "u"}}, current="ctx")
    ep = kubeconfig.load(file).endpoint()
    assert ep.exec is not None and ep.exec.command == "aws"
    assert ep.exec.env == (("AWS_PROFILE", "dev"),)
    assert ep.exec.cluster_info == {"server": "https://x", "certificate-authority-data": ca}


def test_impersonation_becomes_headers(tmp_path: Path) -> None:
    file = write(tmp_path / "config", {"c": {"server": "https://x"}},
                 {"u": {"token": "t", "as": "jane", "as-groups": ["dev", "ops"],
                        "as-user-extra": {"scopes/x": ["a", "b"]}}},
                 {"ctx": {"cluster": "c", "user": "u"}}, current="ctx")
    assert kubeconfig.load(file).endpoint().impersonate == (
        ("Impersonate-User", "jane"), ("Impersonate-Group", "dev"),
        ("Impersonate-Group", "ops"), ("Impersonate-Extra-scopes%2Fx", "a"),
        ("Impersonate-Extra-scopes%2Fx", "b"))


@pytest.mark.parametrize("cluster, user", [
    ({"server": "https://x", "proxy-url": "http://proxy:3128"}, {"token": "t"}),
    ({"server": "https://x"}, {"auth-provider": {"name": "oidc", "config": {}}}),
])
def test_what_needs_the_full_client_is_unsupported(tmp_path: Path, cluster: dict,
                                                   user: dict) -> None:
    file = write(tmp_path / "config", {"c": cluster}, {"u": user},
                 {"ctx": {"cluster": "c", "user": "u"}}, current="ctx")
    with pytest.raises(Unsupported):
        kubeconfig.load(file).endpoint()


@pytest.mark.parametrize("contexts, current, ask, message", [
    ({"ctx": {"cluster": "c", "user": "u"}}, None, None, "has no current-context"),
    ({"ctx": {"cluster": "c", "user": "u"}}, "ctx", "nope", "has no context 'nope'"),
    ({"ctx": {"cluster": "gone", "user": "u"}}, "ctx", None, "cluster 'gone' is not in"),
    ({"ctx": {"cluster": "c", "user": "gone"}}, "ctx", None, "user 'gone' is not in"),
    ({"ctx": {"cluster": "noserver", "user": "u"}}, "ctx", None, "has no server"),
])
def test_bad_kubeconfigs_are_one_clear_line(tmp_path: Path, contexts: dict,
                                            current: str | None, ask: str | None,
                                            message: str) -> None:
    file = write(tmp_path / "config", {"c": {"server": "https://x"}, "noserver": {}},
                 {"u": {"token": "t"}}, contexts, current=current)
    with pytest.raises(KubeconfigError, match=message) as err:
        kubeconfig.load(file).endpoint(ask)
    assert "\n" not in str(err.value)


def test_unreadable_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_text("clusters: [unclosed\n")
    with pytest.raises(KubeconfigError, match=f"kubeconfig {bad}"):
        kubeconfig.load(str(bad))
    with pytest.raises(KubeconfigError, match="does not exist"):
        kubeconfig.load(str(tmp_path / "absent"))
    (tmp_path / "list").write_text("- 1\n")
    with pytest.raises(KubeconfigError, match="not a mapping"):
        kubeconfig.load(str(tmp_path / "list"))


EXEC = kubeconfig.ExecConfig(command="get-token", args=(), env=(),
                             api_version="client.authentication.k8s.io/v1",
                             interactive_mode="Never", install_hint="", cluster_info=None)


def credential_output(**status: str) -> bytes:
    return json.dumps({"apiVersion": "client.authentication.k8s.io/v1",
                       "kind": "ExecCredential", "status": status}).encode()


def test_exec_credential_token_and_expiry() -> None:
    cred = execplugin.parse(credential_output(token="abc",
                                              expirationTimestamp="2030-01-02T03:04:05Z"),
                            EXEC)
    assert cred.token == "abc" and cred.cert_data is None
    assert cred.expires is not None and cred.expires.year == 2030 and cred.expires.tzinfo


@pytest.mark.parametrize("output, message", [
    (b"not json", "not JSON"),
    (json.dumps({"kind": "Other"}).encode(), "not an ExecCredential"),
    (json.dumps({"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1beta1",
                 "status": {"token": "x"}}).encode(), "asks for"),
    (credential_output(), "neither a token nor a client certificate"),
    (credential_output(clientCertificateData=CA), "without its key"),
    (credential_output(token="x", expirationTimestamp="soon"), "bad expirationTimestamp"),
])
def test_bad_exec_output_is_one_clear_line(output: bytes, message: str) -> None:
    with pytest.raises(KubeconfigError, match=message):
        execplugin.parse(output, EXEC)
