"""Ingress routing rules (pure)."""

from orchestrator.network.ingress_routes import Backend, build_table, is_ours


def ing(name: str, created: str, rules: list, **spec: object) -> dict:
    return {"metadata": {"name": name, "namespace": "ns", "creationTimestamp": created},
            "spec": {"rules": rules, **spec}}


def rule(host: str, *paths: tuple[str, str, str]) -> dict:
    return {"host": host, "http": {"paths": [
        {"path": p, "pathType": t, "backend": {"service": {"name": s, "port": {"number": 80}}}}
        for p, t, s in paths]}}


def test_prefix_exact_longest_and_host_rules() -> None:
    table = build_table([ing("i", "2024-01-01T00:00:00Z", [
        rule("", ("/", "Prefix", "root"), ("/a", "Prefix", "a"), ("/a/b", "Exact", "ab")),
        rule("h.test", ("/", "Prefix", "host")),
        rule("*.wild.test", ("/", "ImplementationSpecific", "wild")),
    ])])
    svc = lambda host, path: table.match(host, path).service  # noqa: E731
    assert svc("x", "/a") == "a" and svc("x", "/a/") == "a" and svc("x", "/a/c") == "a"
    assert svc("x", "/ab") == "root"
    assert svc("x", "/a/b") == "ab" and svc("x", "/a/b/c") == "a"
    assert svc("h.test:8080", "/a") == "host"
    assert svc("one.wild.test", "/") == "wild" and svc("two.one.wild.test", "/") == "root"


def test_default_backend_and_no_match() -> None:
    table = build_table([ing("i", "t", [rule("h", ("/x", "Exact", "x"))],
                             defaultBackend={"service": {"name": "d", "port": {"name": "web"}}})])
    assert table.match("h", "/y") == Backend("ns", "d", "web")
    assert build_table([]).match("h", "/") is None


def test_older_ingress_wins_a_conflict() -> None:
    old = ing("old", "2024-01-01T00:00:00Z", [rule("h", ("/", "Prefix", "old"))])
    new = ing("new", "2024-02-01T00:00:00Z", [rule("h", ("/", "Prefix", "new"))])
    table = build_table([new, old])
    assert table.match("h", "/").service == "old"
    assert list(table.conflicts) == [("ns", "new")]
    assert "ns/old" in table.conflicts[("ns", "new")][0]


def test_class_ownership() -> None:
    assert is_ours({"spec": {"ingressClassName": "daskhub-lite"}}, False)
    assert is_ours({"spec": {}}, True) and not is_ours({"spec": {}}, False)
    assert not is_ours({"spec": {"ingressClassName": "nginx"}}, True)
