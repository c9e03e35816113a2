"""The exact SQL and parameters each dialect writes for a table of queries.

SQLite's is also run by test_search_sqlite; ClickHouse's is run against a real server by
tests/store/test_events_backend.py. The ClickHouse conditions read the flattened document
(`doc_keys`/`doc_values`), or the path column of a field every event has, which every
ClickHouse from 18.16 on can evaluate.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kubetrail.query import ClickHouseDialect, SqliteDialect, compile_query

NOW = datetime(2025, 9, 14, 9, 30, tzinfo=UTC)
NOW_US = 1_757_842_200_000_000
DAY_US = 86_400_000_000

GOLDEN: list[tuple[str, str, list[object], str, dict[str, object]]] = [
    ("user.name:alice", "user_name = ?", ["alice"], "user_name = %(p0)s", {"p0": "alice"}),
    (
        'user.name:"x\' OR 1=1 --"',
        "user_name = ?",
        ["x' OR 1=1 --"],
        "user_name = %(p0)s",
        {"p0": "x' OR 1=1 --"},
    ),
    ("user.name:sys*", "user_name GLOB ?", ["sys*"], "user_name LIKE %(p0)s", {"p0": "sys%"}),
    (
        "kubernetes.object.name:a\\[1\\]\\*_%?*",
        "object_name GLOB ?",
        ["a[[]1][*]_%?*"],
        "object_name LIKE %(p0)s",
        {"p0": "a[1]*\\_\\%_%"},
    ),
    (
        "http.response.status_code:>=400",
        "status_code >= ?",
        [400],
        "status_code >= %(p0)s",
        {"p0": 400},
    ),
    (
        "http.response.status_code:[400 TO 499}",
        "(status_code >= ? AND status_code < ?)",
        [400, 499],
        "(status_code >= %(p0)s AND status_code < %(p1)s)",
        {"p0": 400, "p1": 499},
    ),
    (
        "http.response.status_code:4*",
        "CAST(status_code AS TEXT) GLOB ?",
        ["4*"],
        "toString(status_code) LIKE %(p0)s",
        {"p0": "4%"},
    ),
    (
        "@timestamp:[now-24h TO now]",
        "(ts >= ? AND ts <= ?)",
        [NOW_US - DAY_US, NOW_US],
        "(ts >= %(p0)s AND ts <= %(p1)s)",
        {"p0": NOW_US - DAY_US, "p1": NOW_US},
    ),
    ("kubernetes.namespace:*", "namespace IS NOT NULL", [], "namespace != ''", {}),
    ("http.response.status_code:*", "status_code IS NOT NULL", [], "status_code IS NOT NULL", {}),
    ("kubetrail.parse_error:*", "parse_error = 1", [], "parse_error = 1", {}),
    (
        "user_agent:*",  # an object: set when any of its fields is
        "json_extract(doc, '$.\"user_agent\"') IS NOT NULL",
        [],
        "(arrayExists((jk, j) -> jk = %(p0)s AND j != 'null', doc_keys, doc_values) "
        "OR has(doc_objects, %(p0)s))",
        {"p0": "user_agent"},
    ),
    (
        "user_agent.name:*",
        'json_extract(doc, \'$."user_agent"."name"\') IS NOT NULL',
        [],
        "f_user_agent__name NOT IN ('', 'null')",
        {},
    ),
    (
        'kubetrail.parse_error:"not JSON"',
        'json_extract(doc, \'$."kubetrail"."parse_error"\') = ?',
        ["not JSON"],
        "arrayExists((j1k, j1) -> j1k = %(p0)s AND ifNull(j1 = %(p1)s, 0), doc_keys, doc_values)",
        {"p0": "kubetrail.parse_error", "p1": '"not JSON"'},
    ),
    (
        "NOT user.name:alice",
        "NOT coalesce(user_name = ?, 0)",
        ["alice"],
        "NOT ifNull(user_name = %(p0)s, 0)",
        {"p0": "alice"},
    ),
    (
        "event.action:get OR event.action:list kubernetes.resource:secrets",
        "((action = ? OR action = ?) AND resource = ?)",
        ["get", "list", "secrets"],
        "((action = %(p0)s OR action = %(p1)s) AND resource = %(p2)s)",
        {"p0": "get", "p1": "list", "p2": "secrets"},
    ),
    (
        "foo",
        "instr(lower(message), lower(?)) > 0",
        ["foo"],
        "positionCaseInsensitiveUTF8(message, %(p0)s) > 0",
        {"p0": "foo"},
    ),
    (
        '"100%_done"',
        "instr(lower(message), lower(?)) > 0",
        ["100%_done"],
        "positionCaseInsensitiveUTF8(message, %(p0)s) > 0",
        {"p0": "100%_done"},
    ),
    (
        "sys*ad?",
        "lower(message) GLOB lower(?)",
        ["*sys*ad?*"],
        "lowerUTF8(message) LIKE lowerUTF8(%(p0)s)",
        {"p0": "%sys%ad_%"},
    ),
    (
        "user.roles:admin",
        'EXISTS (SELECT 1 FROM json_each(doc, \'$."user"."roles"\') AS j1 WHERE j1.value = ?)',
        ["admin"],
        "arrayExists(j1 -> ifNull(j1 = %(p0)s, 0), f_user__roles)",  # a path column
        {"p0": '"admin"'},
    ),
    (
        "user.roles:*",
        'EXISTS (SELECT 1 FROM json_each(doc, \'$."user"."roles"\') AS j1 WHERE '
        "j1.value IS NOT NULL)",
        [],
        "arrayExists(j -> j != 'null', f_user__roles)",
        {},
    ),
    (
        "kubernetes.spec.containers.image:nginx*",
        "EXISTS (SELECT 1 FROM json_each(doc, "
        '\'$."kubernetes"."spec"."containers"\') AS j1 WHERE '
        "json_extract(j1.value, '$.\"image\"') GLOB ?)",
        ["nginx*"],
        "arrayExists(j1 -> ifNull(if(startsWith(j1, "
        "'\"'), visitParamExtractString(concat('{\"v\":', j1, '}'), 'v'), j1) "
        "LIKE %(p0)s, 0), f_kubernetes__spec__containers__image)",
        {"p0": "nginx%"},
    ),
    (
        "kubernetes.spec.containers.ports.containerPort:[80 TO 443]",
        "EXISTS (SELECT 1 FROM json_each(doc, "
        '\'$."kubernetes"."spec"."containers"\') AS j1 WHERE EXISTS (SELECT 1 '
        "FROM json_each(j1.value, '$.\"ports\"') AS j2 WHERE (CASE WHEN "
        "json_type(j2.value, '$.\"containerPort\"') IN ('integer', 'real') THEN "
        "json_extract(j2.value, '$.\"containerPort\"') END >= ? AND CASE WHEN "
        "json_type(j2.value, '$.\"containerPort\"') IN ('integer', 'real') THEN "
        "json_extract(j2.value, '$.\"containerPort\"') END <= ?)))",
        [80, 443],
        "arrayExists((j1k, j1) -> j1k = %(p0)s AND ifNull((toFloat64OrNull(j1) "
        ">= %(p1)s AND toFloat64OrNull(j1) <= %(p2)s), 0), doc_keys, "
        "doc_values)",
        {"p0": "kubernetes.spec.containers.ports.containerPort", "p1": 80, "p2": 443},
    ),
    (
        "kubernetes.spec.host_network:true",
        'json_extract(doc, \'$."kubernetes"."spec"."host_network"\') IN (?, ?)',
        ["true", True],
        "arrayExists(j1 -> ifNull(j1 IN (%(p0)s, %(p1)s), 0), "
        "if(f_kubernetes__spec__host_network = '', emptyArrayString(), "
        "[f_kubernetes__spec__host_network]))",
        {"p0": '"true"', "p1": "true"},
    ),
    (
        "user_agent.version:1.28",
        'json_extract(doc, \'$."user_agent"."version"\') IN (?, ?)',
        ["1.28", 1.28],
        "arrayExists(j1 -> ifNull(j1 IN (%(p0)s, %(p1)s), 0), "
        "if(f_user_agent__version = '', emptyArrayString(), [f_user_agent__version]))",
        {"p0": '"1.28"', "p1": "1.28"},
    ),
    (
        "kubernetes.rbacreason:>=m",
        "CASE WHEN json_type(doc, '$.\"kubernetes\".\"rbacreason\"') = 'text' THEN "
        'json_extract(doc, \'$."kubernetes"."rbacreason"\') END >= ?',
        ["m"],
        "arrayExists(j1 -> ifNull(if(startsWith(j1, "
        "'\"'), visitParamExtractString(concat('{\"v\":', j1, '}'), 'v'), NULL) "
        ">= %(p0)s, 0), if(f_kubernetes__rbacreason = '', emptyArrayString(), "
        "[f_kubernetes__rbacreason]))",
        {"p0": "m"},
    ),
    ("*", "1", [], "1", {}),
    ("", "1", [], "1", {}),
]


@pytest.mark.parametrize(
    ("query", "sqlite", "sqlite_params", "clickhouse", "clickhouse_params"),
    GOLDEN,
    ids=[row[0] or "empty" for row in GOLDEN],
)
def test_golden_sql(
    query: str,
    sqlite: str,
    sqlite_params: list[object],
    clickhouse: str,
    clickhouse_params: dict[str, object],
) -> None:
    lite = compile_query(query, SqliteDialect(), NOW)
    assert (lite.where, lite.params) == (sqlite, sqlite_params)
    house = compile_query(query, ClickHouseDialect(), NOW)
    assert (house.where, house.params) == (clickhouse, clickhouse_params)
