"""`kubetrail query explain`: the sentence and SQL of a query, or its error with a caret."""

from __future__ import annotations

import orjson
from click.testing import CliRunner

from kubetrail.cli import cli


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["query", "explain", *args])
    return result.exit_code, result.stdout, result.stderr


def test_explain_shows_the_sentence_the_sql_and_the_values() -> None:
    status, out, _ = run("user.name:alice AND http.response.status_code:>=400")
    assert status == 0
    assert out.splitlines() == [
        "user.name is alice and http.response.status_code is at least 400",
        "WHERE (user_name = ? AND status_code >= ?)",
        'params: ["alice",400]',
    ]


def test_explain_for_clickhouse_as_json() -> None:
    status, out, _ = run("--dialect", "clickhouse", "--json", "kubernetes.resource:secrets")
    assert status == 0
    assert orjson.loads(out) == {
        "description": "kubernetes.resource is secrets",
        "where": "resource = %(p0)s",
        "params": {"p0": "secrets"},
    }


def test_a_malformed_query_exits_2_with_a_caret_under_the_problem() -> None:
    status, out, err = run("user.name:alice AND (kubernetes.resource:pods")
    assert (status, out) == (2, "")
    assert err.splitlines() == [
        "error: the query ends too early (an operator without operand, or an unclosed"
        " parenthesis or range) at position 45",
        "user.name:alice AND (kubernetes.resource:pods",
        " " * 45 + "^",
    ]
