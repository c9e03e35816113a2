"""Query text -> kubetrail's tree, and the errors a user sees for a malformed query."""

from __future__ import annotations

import pytest

from kubetrail.query import QuerySyntaxError, parse
from kubetrail.query.tree import (
    And,
    Compare,
    Exists,
    FullText,
    MatchAll,
    Node,
    Not,
    Or,
    Range,
    Term,
    Wild,
    pattern_pieces,
)


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("user.name:alice", Term("user.name", "alice")),
        ('user.name:"john doe"', Term("user.name", "john doe", "phrase")),
        ('user.name:"sys*"', Term("user.name", "sys*", "phrase")),
        ("user.name:sys*", Term("user.name", "sys*", "wildcard")),
        ("user.name:sys\\*", Term("user.name", "sys*")),
        ("user.roles:system\\:masters", Term("user.roles", "system:masters")),
        ("a:*", Exists("a")),
        ("a:[* TO *]", Exists("a")),
        ("a:>*", Exists("a")),
        ("a:[1 TO 5]", Range("a", "1", "5")),
        ("a:{1 TO 5]", Range("a", "1", "5", include_low=False)),
        ("a:[1 TO 5}", Range("a", "1", "5", include_high=False)),
        ("a:[-5 TO 5]", Range("a", "-5", "5")),
        ('a:["a b" TO c]', Range("a", "a b", "c")),
        ("a:[400 TO *]", Compare("a", ">=", "400")),
        ("a:{400 TO *]", Compare("a", ">", "400")),
        ("a:[* TO 400}", Compare("a", "<", "400")),
        ("http.response.status_code:>=400", Compare("http.response.status_code", ">=", "400")),
        ("a:>4", Compare("a", ">", "4")),
        ("a:<4", Compare("a", "<", "4")),
        ("a:<=4", Compare("a", "<=", "4")),
        ("@timestamp:>=now-24h", Compare("@timestamp", ">=", "now-24h")),
        ("a:b AND c:d", And((Term("a", "b"), Term("c", "d")))),
        ("a:b c:d", And((Term("a", "b"), Term("c", "d")))),
        ("a:b OR c:d", Or((Term("a", "b"), Term("c", "d")))),
        ("NOT a:b", Not(Term("a", "b"))),
        ("-a:b", Not(Term("a", "b"))),
        ("+a:b", Term("a", "b")),
        (
            "a:b OR c:d AND e:f",
            Or((Term("a", "b"), And((Term("c", "d"), Term("e", "f"))))),
        ),
        (
            "(a:b OR c:d) AND e:f",
            And((Or((Term("a", "b"), Term("c", "d"))), Term("e", "f"))),
        ),
        ("a:(b OR c*)", Or((Term("a", "b"), Term("a", "c*", "wildcard")))),
        ("a:(NOT b)", Not(Term("a", "b"))),
        ("foo", FullText("foo")),
        ('"foo bar"', FullText("foo bar", "phrase")),
        ("foo*", FullText("foo*", "wildcard")),
        ("message:foo", FullText("foo")),
        ('message:"a b"', FullText("a b", "phrase")),
        ("message:*", MatchAll()),
        ("*", MatchAll()),
        ("", MatchAll()),
        (" \t\n", MatchAll()),
        ('user.name:"x\' OR 1=1 --"', Term("user.name", "x' OR 1=1 --", "phrase")),
    ],
)
def test_text_maps_onto_the_tree(text: str, tree: Node) -> None:
    assert parse(text) == tree


@pytest.mark.parametrize(
    ("pattern", "pieces"),
    [
        ("sys*", ("sys", Wild.ANY)),
        ("?a*b", (Wild.ONE, "a", Wild.ANY, "b")),
        ("a\\*b*", ("a*b", Wild.ANY)),
        ("a\\\\*", ("a\\", Wild.ANY)),
    ],
)
def test_patterns_split_into_literals_and_wildcards(pattern: str, pieces: tuple[object]) -> None:
    assert pattern_pieces(pattern) == pieces


@pytest.mark.parametrize(
    ("text", "position", "words"),
    [
        ("user.name:(((", 13, "ends too early"),
        ("a AND", 5, "ends too early"),
        ("kubernetes.resource:pods AND", 28, "ends too early"),
        ("field:[1 TO", 11, "ends too early"),
        ('"unterminated', 0, "unterminated phrase"),
        ('user.name:"unterminated', 10, "unterminated phrase"),
        ("x) y", 1, "unexpected ')'"),
        ("AND x", 0, "unexpected 'AND'"),
        ("a:/x", 2, "regular expressions"),
        ("bad'field:x", 0, "invalid field name"),
        ("user.name:x AND (a OR us;er:x)", 22, "invalid field name 'us;er'"),
        ("user..name:x", 0, "invalid field name"),
        ("user.name:system:node:x", 10, "inside the group of field 'user.name'"),
        ("http.response.status_code:abc", 26, "is a number"),
        ("http.response.status_code:[400 TO x]", 34, "is a number"),
        ("@timestamp:>=yesterday", 13, "not a time"),
        ("@timestamp:now*", 11, "wildcards do not apply"),
        ("a:b~2", 2, "fuzzy"),
        ('"a b"~2', 0, "proximity"),
        ("a:b^2", 2, "boosts"),
        ("[1 TO 2]", 0, "a range needs a field"),
        ("x >=400", 2, "a comparison needs a field"),
        ("message:[a TO b]", 8, "no ranges"),
    ],
)
def test_a_malformed_query_is_an_error_at_its_position(
    text: str, position: int, words: str
) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse(text)
    error = caught.value
    assert (error.position, error.text) == (position, text)
    assert words in error.message
    assert str(error).endswith(f"at position {position}")


def test_the_caret_points_at_the_problem() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse("user.name:alice AND\n(x:1 OR y:2")
    assert caught.value.caret() == "user.name:alice AND (x:1 OR y:2\n" + " " * 31 + "^"


def test_a_huge_query_is_refused_before_parsing() -> None:
    with pytest.raises(QuerySyntaxError, match="too long"):
        parse("a:b " * 5000)
