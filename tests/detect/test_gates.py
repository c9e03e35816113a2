"""Gates: which field value a rule cannot match without, and that a gate never hides a match."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest
import yaml
from sigma.rule import SigmaRule

from kubetrail.demo.generate import lines
from kubetrail.detect import Engine, load
from kubetrail.detect.event import Event
from kubetrail.detect.gates import Gate, Gates, choose_gate
from kubetrail.parse import normalize
from tests.detect.conftest import LISTS

INDEXED = frozenset({"verb", "objectRef.resource", "objectRef.subresource"})


def gate_of(detection: str) -> Gate | None:
    rule = SigmaRule.from_dict(
        {
            "title": "t",
            "logsource": {"product": "kubernetes", "service": "audit"},
            "detection": yaml.safe_load(detection),
        }
    )
    trees = [c.parse() for c in rule.detection.parsed_condition]
    lists = load([], [LISTS], builtin=False).lists
    return choose_gate(trees, lists, INDEXED)


GATES = [
    # (detection, gate field or None, its keys)
    (
        "{sel: {responseStatus.code: [401, 403]}, f: {user.username: x}, condition: sel and not f}",
        "responseStatus.code",
        {401, 403},
    ),
    # the fewest values win; values are lowered as the matcher compares them
    (
        "{sel: {userAgent: [A, B], user.username: System:Anonymous}, condition: sel}",
        "user.username",
        {"system:anonymous"},
    ),
    # the first written on a tie
    ("{sel: {userAgent: A, user.username: b}, condition: sel}", "userAgent", {"a"}),
    # an OR bounds a field only when every branch does
    ("{a: {userAgent: x}, b: {userAgent: y}, condition: a or b}", "userAgent", {"x", "y"}),
    ("{a: {userAgent: x}, b: {user.username: y}, condition: a or b}", None, set()),
    # two values of a list field may meet two parts of an AND: no intersection
    (
        "{a: {sourceIPs: 1.1.1.1}, b: {sourceIPs: 2.2.2.2}, condition: a and b}",
        "sourceIPs",
        {"1.1.1.1"},
    ),
    # a list of plain entries is a bound; globs, modifiers, negations and cased are not
    (
        "{sel: {sourceIPs|expand: '%tor_exit_nodes%'}, condition: sel}",
        "sourceIPs",
        {"203.0.113.0/24", "2001:db8::/32", "198.18.0.7"},
    ),
    ("{sel: {user.username|expand: '%system_principals%'}, condition: sel}", None, set()),
    ("{sel: {userAgent|contains: kubectl}, condition: sel}", None, set()),
    ("{sel: {userAgent: 'kube*'}, condition: sel}", None, set()),
    ("{sel: {userAgent|cased: Kubectl}, condition: sel}", None, set()),
    ("{sel: {userAgent: x}, condition: not sel}", None, set()),
    ("{sel: {responseStatus.code|lt: 300}, condition: sel}", None, set()),
    # verb and resource are the index's: a rule naming only them has no gate
    ("{sel: {verb: get, objectRef.resource: secrets}, condition: sel}", None, set()),
]


@pytest.mark.parametrize(("detection", "field", "keys"), GATES)
def test_gate_is_the_fewest_required_values(
    detection: str, field: str | None, keys: set[Any]
) -> None:
    gate = gate_of(detection)
    if field is None:
        assert gate is None
        return
    assert gate is not None and gate.field == field
    assert gate.keys == keys


OPENED = [
    # (event value of responseStatus.code, opens the 401/403 gate?)
    (401, True),
    (403.0, True),
    ("403", True),
    (200, False),
    ("forbidden", False),
    (True, False),
    (None, False),
]


@pytest.mark.parametrize(("value", "opens"), OPENED)
def test_gate_opens_as_the_matcher_compares(value: Any, opens: bool) -> None:
    gates = Gates([Gate("responseStatus.code", frozenset({401, 403})), None])
    raw = {"responseStatus": {"code": value}}
    assert gates.opened(Event(raw, {}, "e")) == ({0} if opens else set())
    assert gates.ungated == {1}


def test_no_match_of_the_pack_is_behind_a_closed_gate() -> None:
    """Every rule of the built-in pack, on a demo hour: matched implies its gate opened."""
    ruleset = load()
    gated = [r for r in ruleset.rules if r.gate is not None]
    assert len(gated) >= 8  # the denied, anonymous, admin and Tor rules at least
    matched = 0
    for n, line in enumerate(itertools.islice(lines(minutes=60, seed=4), 6000)):
        raw, doc = orjson.loads(line), normalize(line)
        for rule in gated:
            gates = Gates([rule.gate])
            event = Event(raw, doc, str(n))
            if rule.predicate(event):
                matched += 1
                assert gates.opened(event) == {0}, (rule.info.title, n)
    assert matched > 0  # the hour has denied and anonymous requests: the check ran
    assert Engine(ruleset).candidates("update", "leases")  # gated rules stay candidates
