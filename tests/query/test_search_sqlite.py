"""The SQLite SQL really run: a temporary store of ~40 realistic events, one query at a time.

Each query's expected rows come from a Python oracle over the same ECS documents, and each case
names events it must find, so that an oracle that matches nothing cannot pass.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubetrail.query import SqliteDialect, compile_query
from tests.query.corpus import UNPARSABLE_AT, Doc, corpus, create_store, values

CORPUS = corpus()
Oracle = Callable[[Doc, str], bool]


def has(field: str, test: Callable[[Any], bool]) -> Oracle:
    return lambda doc, message: any(test(value) for value in values(doc, field))


def equals(field: str, value: Any) -> Oracle:
    return has(field, lambda found: found == value and type(found) is type(value))


def status(test: Callable[[int], bool]) -> Oracle:
    return has("http.response.status_code", test)


def text(needle: str) -> Oracle:
    return lambda doc, message: needle.lower() in message.lower()


def both(*oracles: Oracle) -> Oracle:
    return lambda doc, message: all(oracle(doc, message) for oracle in oracles)


def either(*oracles: Oracle) -> Oracle:
    return lambda doc, message: any(oracle(doc, message) for oracle in oracles)


def no(oracle: Oracle) -> Oracle:
    return lambda doc, message: not oracle(doc, message)


def start(test: Callable[[datetime], bool]) -> Oracle:
    def oracle(doc: Doc, message: str) -> bool:
        # the store keeps the unparsable event at the time it arrived
        found = values(doc, "event.start") or [UNPARSABLE_AT]
        return test(datetime.fromisoformat(found[0]))

    return oracle


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


EVERYTHING: Oracle = lambda doc, message: True  # noqa: E731

CASES: list[tuple[str, Oracle, set[str]]] = [
    # field matches, case-sensitive
    ("user.name:ci-legacy-admin", equals("user.name", "ci-legacy-admin"), {"demo-439"}),
    ("user.name:Mallory", equals("user.name", "Mallory"), {"denied-secret"}),
    ("user.name:mallory", equals("user.name", "mallory"), set()),
    ("event.code:9a3c1f5e-0000-4000-8000-000000000002", text("000000000002"), {"denied-secret"}),
    ("kubetrail.level:Request", equals("kubetrail.level", "Request"), {"brief-impersonated"}),
    ("user_agent.name:curl", equals("user_agent.name", "curl"), {"denied-secret"}),
    # quoted phrases: spaces, escaped quotes, wildcard characters taken literally
    (
        'user.name:"john.doe@example.org"',
        equals("user.name", "john.doe@example.org"),
        {"brief-impersonated"},
    ),
    (
        'kubernetes.rbacreason:"RBAC: allowed by ClusterRoleBinding \\"legacy-admin\\" of'
        ' ClusterRole \\"cluster-admin\\""',
        has(
            "kubernetes.rbacreason",
            lambda r: r.startswith('RBAC: allowed by ClusterRoleBinding "legacy'),
        ),
        {"demo-439"},
    ),
    (
        'kubernetes.object.name:"weird[1]*name?"',
        equals("kubernetes.object.name", "weird[1]*name?"),
        {"weird-name"},
    ),
    ('kubernetes.object.name:"weird*"', equals("kubernetes.object.name", "weird*"), set()),
    # wildcards
    (
        "user.name:system\\:node\\:*",
        has("user.name", lambda n: n.startswith("system:node:")),
        {"demo-0"},
    ),
    (
        "user.name:?allory",
        has("user.name", lambda n: re.fullmatch(".allory", n) is not None),
        {"denied-secret"},
    ),
    (
        "kubernetes.namespace:kube-*",
        has("kubernetes.namespace", lambda n: n.startswith("kube-")),
        {"demo-439"},
    ),
    (
        "kubernetes.object.name:weird\\[1\\]*",
        has("kubernetes.object.name", lambda n: n.startswith("weird[1]")),
        {"weird-name"},
    ),
    (
        "kubernetes.object.name:weird\\[1\\]\\*name\\?",
        equals("kubernetes.object.name", "weird[1]*name?"),
        {"weird-name"},
    ),
    (
        "kubernetes.object.name:weird?1*",
        has("kubernetes.object.name", lambda n: re.fullmatch(r"weird.1.*", n) is not None),
        {"weird-name"},
    ),
    (
        "url.path:\\/api\\/v1\\/namespaces\\/payments*",
        has("url.path", lambda p: p.startswith("/api/v1/namespaces/payments")),
        {"denied-secret"},
    ),
    ("http.response.status_code:4*", status(lambda c: str(c).startswith("4")), {"denied-secret"}),
    # ranges and comparisons, numbers as numbers
    (
        "http.response.status_code:[200 TO 201]",
        status(lambda c: 200 <= c <= 201),
        {"demo-439", "demo-0"},
    ),
    ("http.response.status_code:{200 TO 403}", status(lambda c: 200 < c < 403), {"demo-439"}),
    ("http.response.status_code:[101 TO 200}", status(lambda c: 101 <= c < 200), {"brief-exec"}),
    ("http.response.status_code:>=400", status(lambda c: c >= 400), {"denied-secret"}),
    ("http.response.status_code:>201", status(lambda c: c > 201), {"denied-secret"}),
    ("http.response.status_code:<200", status(lambda c: c < 200), {"weird-name"}),
    ("http.response.status_code:<=101", status(lambda c: c <= 101), {"brief-exec"}),
    ("http.response.status_code:[400 TO *]", status(lambda c: c >= 400), {"denied-secret"}),
    (
        "kubernetes.spec.containers.ports.containerPort:>=8000",
        has("kubernetes.spec.containers.ports.containerPort", lambda p: p >= 8000),
        {"privileged-pod", "demo-439"},
    ),
    (
        "kubernetes.spec.containers.ports.containerPort:8080",
        equals("kubernetes.spec.containers.ports.containerPort", 8080),
        {"privileged-pod"},
    ),
    # addresses compare as text: a range of a /16 written with full octets works
    (
        "source.ip:[192.168.0.0 TO 192.168.255.255]",
        has("source.ip", lambda ip: "192.168.0.0" <= ip <= "192.168.255.255"),
        {"brief-exec"},
    ),
    (
        "kubernetes.namespace:{kube-system TO *]",
        has("kubernetes.namespace", lambda n: n > "kube-system"),
        {"denied-secret"},
    ),
    (
        "@timestamp:[2025-09-14T09:00:00Z TO 2025-09-14T09:01:00Z}",
        start(lambda s: at("2025-09-14T09:00:00Z") <= s < at("2025-09-14T09:01:00Z")),
        {"demo-0"},
    ),
    (
        "@timestamp:>=2025-09-14T09:03:00Z",
        start(lambda s: s >= at("2025-09-14T09:03:00Z")),
        {"privileged-pod", "unparsable"},
    ),
    (
        '@timestamp:<"2025-09-14T11:00:00+02:00"',
        start(lambda s: s < at("2025-09-14T09:00:00Z")),
        {"brief-exec"},
    ),
    # exists
    (
        "kubernetes.subresource:*",
        has("kubernetes.subresource", bool),
        {"brief-exec", "brief-patch"},
    ),
    ("kubetrail.parse_error:*", has("kubetrail.parse_error", bool), {"unparsable"}),
    ("kubernetes.spec.containers:*", has("kubernetes.spec.containers", bool), {"privileged-pod"}),
    ("user.roles:*", has("user.roles", bool), {"brief-impersonated"}),
    (
        "kubernetes.spec.containers.securityContext:*",
        has("kubernetes.spec.containers.securityContext", bool),
        {"privileged-pod"},
    ),
    ("kubernetes.api.group:[* TO *]", has("kubernetes.api.group", bool), {"brief-patch"}),
    # NOT, OR, parentheses, implicit AND
    ("NOT user.name:*", no(has("user.name", bool)), {"unparsable"}),
    (
        "NOT kubernetes.namespace:kube-system",
        no(equals("kubernetes.namespace", "kube-system")),
        {"unparsable", "demo-0"},
    ),
    (
        "kubernetes.resource:pods AND NOT user.name:system\\:node*",
        both(
            equals("kubernetes.resource", "pods"),
            no(has("user.name", lambda n: n.startswith("system:node"))),
        ),
        {"brief-exec", "privileged-pod"},
    ),
    (
        "-kubernetes.namespace:kube-system kubernetes.resource:pods",
        both(
            no(equals("kubernetes.namespace", "kube-system")), equals("kubernetes.resource", "pods")
        ),
        {"brief-impersonated"},
    ),
    (
        "(kubernetes.resource:secrets OR kubernetes.subresource:exec) AND event.outcome:allow",
        both(
            either(
                equals("kubernetes.resource", "secrets"), equals("kubernetes.subresource", "exec")
            ),
            equals("event.outcome", "allow"),
        ),
        {"brief-exec"},
    ),
    (
        "kubernetes.resource:secrets OR kubernetes.subresource:exec AND event.outcome:forbid",
        either(
            equals("kubernetes.resource", "secrets"),
            both(equals("kubernetes.subresource", "exec"), equals("event.outcome", "forbid")),
        ),
        {"denied-secret"},
    ),
    (
        "kubernetes.resource:pods event.action:create",
        both(equals("kubernetes.resource", "pods"), equals("event.action", "create")),
        {"brief-exec", "privileged-pod", "demo-439"},
    ),
    (
        "kubernetes.resource:(secrets OR configmaps)",
        either(
            equals("kubernetes.resource", "secrets"), equals("kubernetes.resource", "configmaps")
        ),
        {"denied-secret", "weird-name"},
    ),
    (
        "NOT (user.name:system\\:* OR user.name:*@*)",
        no(has("user.name", lambda n: n.startswith("system:") or "@" in n)),
        {"denied-secret", "demo-439", "unparsable"},
    ),
    # bare terms: the raw message, ignoring case
    ("chroot", text("chroot"), {"privileged-pod"}),
    ("KUBECTL", text("kubectl"), {"brief-impersonated"}),
    ('"of ClusterRole"', text("of ClusterRole"), {"demo-439", "brief-exec"}),
    # the raw text is JSON: its quotes are escaped, and a phrase says so with \\ and \"
    ('"legacy-admin\\\\\\" of"', text('legacy-admin\\" of'), {"demo-439"}),
    ('"legacy-admin\\" of"', lambda doc, message: False, set()),
    (
        "sleep*infinity",
        lambda doc, message: re.search("sleep.*infinity", message, re.I) is not None,
        {"demo-439"},
    ),
    ("DROP TABLE", both(text("drop"), text("table")), {"unparsable"}),
    ("message:curl", text("curl"), {"denied-secret"}),
    ("100%", text("100%"), set()),
    # lists: any element matches
    ("user.roles:system\\:masters", equals("user.roles", "system:masters"), {"demo-439"}),
    ("user.roles:admin", equals("user.roles", "admin"), {"brief-impersonated"}),
    (
        "user.roles:system\\:service*",
        has("user.roles", lambda r: r.startswith("system:service")),
        {"demo-15"},
    ),
    ("related.ip:203.0.113.66", equals("related.ip", "203.0.113.66"), {"denied-secret"}),
    ("related.user:Mallory", equals("related.user", "Mallory"), {"denied-secret"}),
    (
        'kubernetes.spec.containers.image:"alpine:3.20"',
        equals("kubernetes.spec.containers.image", "alpine:3.20"),
        {"privileged-pod", "demo-439"},
    ),
    (
        "kubernetes.spec.containers.image:busybox*",
        has("kubernetes.spec.containers.image", lambda i: i.startswith("busybox")),
        {"privileged-pod"},
    ),
    (
        "kubernetes.spec.containers.securityContext.privileged:true",
        equals("kubernetes.spec.containers.securityContext.privileged", True),
        {"privileged-pod"},
    ),
    (
        "kubernetes.spec.containers.securityContext.privileged:false",
        equals("kubernetes.spec.containers.securityContext.privileged", False),
        set(),
    ),
    (
        "kubernetes.spec.containers.command:chroot*",
        has("kubernetes.spec.containers.command", lambda c: c.startswith("chroot")),
        {"privileged-pod"},
    ),
    (
        'kubernetes.spec.volumes.hostPath.path:"/"',
        equals("kubernetes.spec.volumes.hostPath.path", "/"),
        {"privileged-pod", "demo-439"},
    ),
    (
        "kubernetes.spec.host_network:true",
        equals("kubernetes.spec.host_network", True),
        {"privileged-pod"},
    ),
    # injection-shaped values are data
    ('user.name:"x\' OR 1=1 --"', lambda doc, message: False, set()),
    ("user.name:x\\'\\)\\ OR\\ 1=1--", lambda doc, message: False, set()),
    ('"\'; DROP TABLE events; --"', text("'; drop table events; --"), {"unparsable"}),
    # everything
    ("*", EVERYTHING, {"unparsable", "demo-0"}),
    ("", EVERYTHING, {"unparsable"}),
    ("   ", EVERYTHING, {"unparsable"}),
    ("message:*", EVERYTHING, {"unparsable"}),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    path: Path = tmp_path_factory.mktemp("store") / "events.db"
    return create_store(path, CORPUS)


def search(store: sqlite3.Connection, query: str, now: datetime | None = None) -> set[str]:
    compiled = compile_query(query, SqliteDialect(), now)
    assert isinstance(compiled.params, list)
    select = "SELECT k.key FROM events_v e JOIN keys k ON k.seq = e.seq WHERE "
    rows = store.execute(select + compiled.where, compiled.params)
    return {key for (key,) in rows}


def expected(oracle: Oracle) -> set[str]:
    return {key for key, (_, message, doc) in CORPUS.items() if oracle(doc, message)}


@pytest.mark.parametrize(
    ("query", "oracle", "must"), CASES, ids=[case[0] or "empty" for case in CASES]
)
def test_query_returns_the_events_the_oracle_picks(
    store: sqlite3.Connection, query: str, oracle: Oracle, must: set[str]
) -> None:
    want = expected(oracle)
    assert must <= want, "the oracle itself misses events the case names"
    assert search(store, query) == want


def test_the_corpus_is_realistic_and_varied() -> None:
    assert 30 <= len(CORPUS) <= 60
    keys = set(CORPUS)
    assert {"demo-0", "demo-439", "brief-exec", "privileged-pod", "unparsable"} <= keys


def test_intake_selects_the_events_of_one_intake(store: sqlite3.Connection) -> None:
    # the intake is not in the document, so the oracle cannot see it: named here
    hand = {key for key in CORPUS if not key.startswith("demo-")}
    assert search(store, "intake:lab") == hand
    assert search(store, "intake:demo") == set(CORPUS) - hand


@pytest.mark.parametrize(
    ("query", "now", "want"),
    [
        (
            "@timestamp:>=now-1m",
            "2025-09-14T09:05:00Z",
            {"denied-secret", "weird-name", "unparsable"},
        ),
        ("@timestamp:>=now-30s", "2025-09-14T09:05:00Z", {"weird-name", "unparsable"}),
        (
            "@timestamp:[now-2m TO now-1m]",
            "2025-09-14T09:05:00Z",
            {"privileged-pod", "denied-secret"},
        ),
        ("@timestamp:[now-2m TO now-1m}", "2025-09-14T09:05:00Z", {"privileged-pod"}),
        ("@timestamp:>now", "2025-09-14T09:05:00Z", set()),
    ],
)
def test_relative_times_count_from_now(
    store: sqlite3.Connection, query: str, now: str, want: set[str]
) -> None:
    moment = datetime.fromisoformat(now).astimezone(UTC)
    assert search(store, query, moment) == want


def test_an_injection_leaves_the_table_intact(store: sqlite3.Connection) -> None:
    before = store.execute("SELECT count(*) FROM events").fetchone()
    for query in [
        'user.name:"x\' OR 1=1 --"',
        '"\'); DROP TABLE events; --"',
        "x\\;DROP\\ TABLE\\ events",
    ]:
        search(store, query)
    assert store.execute("SELECT count(*) FROM events").fetchone() == before == (len(CORPUS),)


def quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30))
def test_any_quoted_value_is_data(store: sqlite3.Connection, value: str) -> None:
    # whatever the text (quotes, semicolons, SQL), it is compared, never executed
    assert search(store, "user.name:" + quoted(value)) == expected(equals("user.name", value))
    assert search(store, quoted(value)) == expected(text(value))
