"""The plain-English sentence shown next to a query's results."""

from __future__ import annotations

import pytest

from kubetrail.query import SqliteDialect, compile_query


@pytest.mark.parametrize(
    ("query", "sentence"),
    [
        (
            "user.name:alice AND kubernetes.resource:secrets",
            "user.name is alice and kubernetes.resource is secrets",
        ),
        ("http.response.status_code:>=400", "http.response.status_code is at least 400"),
        ("http.response.status_code:>400", "http.response.status_code is greater than 400"),
        ("http.response.status_code:<400", "http.response.status_code is less than 400"),
        ("http.response.status_code:<=400", "http.response.status_code is at most 400"),
        (
            "http.response.status_code:[400 TO 499]",
            "http.response.status_code is between 400 and 499",
        ),
        (
            "http.response.status_code:{400 TO 499}",
            "http.response.status_code is greater than 400 and less than 499",
        ),
        ("foo", "the raw event contains 'foo'"),
        ('"it\'s here"', 'the raw event contains "it\'s here"'),
        ('"say \\"it\'s\\""', "the raw event contains 'say \"it\\'s\"'"),
        ("user.name:system\\:*", "user.name matches 'system:*'"),
        ("user.name:a\\*b*", "user.name matches 'a\\*b*'"),
        ("foo*bar", "the raw event matches 'foo*bar'"),
        ("user.name:sys*", "user.name matches 'sys*'"),
        ('user.name:"john doe"', "user.name is 'john doe'"),
        ("user.roles:system\\:masters", "user.roles is system:masters"),
        ("kubernetes.namespace:*", "kubernetes.namespace is set"),
        ("NOT user.name:alice", "not (user.name is alice)"),
        (
            "a:1 AND (b:2 OR c:3) AND NOT d:4",
            "a is 1 and (b is 2 or c is 3) and not (d is 4)",
        ),
        ("a:1 OR b:2 c:3", "(a is 1 or b is 2) and c is 3"),
        ("*", "every event"),
        ("", "every event"),
    ],
)
def test_description(query: str, sentence: str) -> None:
    assert compile_query(query, SqliteDialect()).description == sentence
