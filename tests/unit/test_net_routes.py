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


def in_ns(namespace: str, ingress: dict) -> dict:
    ingress["metadata"]["namespace"] = namespace
    return ingress


HUB = in_ns("hub", ing("hub", "2024-01-01T00:00:00Z", [rule(
    "", ("/", "Prefix", "proxy"), ("/hub", "Prefix", "proxy"), ("/user", "Prefix", "proxy"))]))


def test_another_namespace_cannot_take_a_path_under_an_older_claim() -> None:
    thief = in_ns("bob", ing("login", "2024-02-01T00:00:00Z", [rule(
        "", ("/hub/login", "Exact", "phish"), ("/dask/bob/c", "Prefix", "dashboard"))]))
    table = build_table([thief, HUB])
    assert table.match("127.0.0.1:8080", "/hub/login").service == "proxy"
    assert table.match("127.0.0.1", "/dask/bob/c/status").service == "dashboard"
    [message] = table.conflicts[("bob", "login")]
    assert "/hub/login" in message and "hub/hub" in message


def test_a_host_rule_of_another_namespace_cannot_shadow_an_older_claim() -> None:
    # Host rules beat rules without a host: naming the hub's host must not capture it.
    thief = in_ns("bob", ing("site", "2024-02-01T00:00:00Z", [rule(
        "127.0.0.1", ("/", "Prefix", "phish"), ("/hub", "Prefix", "phish"),
        ("/blog", "Prefix", "blog"))]))
    table = build_table([HUB, thief])
    assert table.match("127.0.0.1", "/hub/login").service == "proxy"
    assert table.match("127.0.0.1", "/user/alice/lab").service == "proxy"
    assert table.match("127.0.0.1", "/").service == "proxy"  # the root is the hub's too
    assert table.match("127.0.0.1", "/blog/post").service == "blog"  # unclaimed: served
    assert len(table.conflicts[("bob", "site")]) == 2  # `/` and `/hub` refused


def test_the_same_namespace_may_route_under_its_own_claim() -> None:
    own = in_ns("hub", ing("api", "2024-02-01T00:00:00Z", [rule(
        "", ("/hub/api", "Prefix", "api"))]))
    table = build_table([HUB, own])
    assert table.match("x", "/hub/api/users").service == "api"
    assert table.match("x", "/hub/login").service == "proxy"
    assert not table.conflicts


def test_an_older_host_claim_leaves_a_newer_any_host_rule_its_other_hosts() -> None:
    alice = in_ns("alice", ing("a", "2024-01-01T00:00:00Z", [rule(
        "alice.test", ("/app", "Prefix", "alice"))]))
    bob = in_ns("bob", ing("b", "2024-02-01T00:00:00Z", [rule("", ("/app", "Prefix", "bob"))]))
    table = build_table([alice, bob])
    assert table.match("alice.test", "/app/x").service == "alice"
    assert table.match("bob.test", "/app/x").service == "bob"
    assert not table.conflicts
