"""kubetrail's query language: Lucene-style text -> a tree -> parameterized SQL, and English.

parse(text) -> Node                        the tree (kubetrail.query.tree); QuerySyntaxError
compile_query(text, dialect) -> Compiled   where (SQL condition), params, description
describe(node) -> str                      the plain-English sentence of a tree
parse_time(text, now) -> int               `from`/`to` values -> microseconds since epoch
HOT_FIELDS                                 ECS field -> typed column, for the store's schema
SqliteDialect(), ClickHouseDialect()       the SQL backends

>>> c = compile_query("user.name:alice AND NOT event.outcome:allow", SqliteDialect())
>>> c.where
'(user_name = ? AND NOT coalesce(outcome = ?, 0))'
>>> c.params, c.description
(['alice', 'allow'], 'user.name is alice and not (event.outcome is allow)')
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kubetrail.query.clickhouse import ClickHouseDialect
from kubetrail.query.compile import compile_node
from kubetrail.query.describe import describe
from kubetrail.query.dialect import Dialect, Params
from kubetrail.query.errors import QueryError, QuerySyntaxError
from kubetrail.query.fields import HOT_FIELDS, LIST_FIELDS, HotField
from kubetrail.query.parse import parse
from kubetrail.query.sqlite import SqliteDialect
from kubetrail.query.times import parse_time
from kubetrail.query.tree import Node


@dataclass(frozen=True)
class Compiled:
    """A query ready to run: `SELECT ... FROM events WHERE {where}` with `params` bound."""

    where: str
    params: Params
    description: str
    tree: Node


def compile_query(text: str, dialect: Dialect, now: datetime | None = None) -> Compiled:
    """Parse and compile `text`; relative times (`now-24h`) are taken from `now` (default:
    the current time). Raises QuerySyntaxError with the position of the problem."""
    tree = parse(text)
    where, params = compile_node(tree, dialect, now)
    return Compiled(where, params, describe(tree), tree)


__all__ = [
    "HOT_FIELDS",
    "LIST_FIELDS",
    "ClickHouseDialect",
    "Compiled",
    "Dialect",
    "HotField",
    "Node",
    "QueryError",
    "QuerySyntaxError",
    "SqliteDialect",
    "compile_query",
    "describe",
    "parse",
    "parse_time",
]
