"""The SQLite dialect: `?` placeholders, JSON1 functions, GLOB for wildcards.

JSON paths are written as literals (`'$."user"."name"'`) so that an expression index on the
same text can serve the query; they are built from validated field names only. GLOB is
case-sensitive, as ECS keyword fields are; `lower(...) GLOB lower(?)` and `instr(lower(...))`
ignore case for full text (SQLite's lower() folds ASCII letters only).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from kubetrail.query.dialect import Bind, Dialect, Json, Params, Scalar
from kubetrail.query.tree import Piece, Wild

_GLOB_LITERAL = str.maketrans({"*": "[*]", "?": "[?]", "[": "[[]"})
_NUMERIC_TYPES = "('integer', 'real')"


@dataclass(frozen=True)
class Lookup:
    """A column the store indexes in a table apart (`table`: its `column` and `seq`), merged
    in bulk: rows past the table's mark in `index_marks` are not in it yet (see
    kubetrail.store.sqlite.events). `few(value)`: whether few enough rows hold the value that
    reading them through the table beats scanning rows in time order for it."""

    table: str
    few: Callable[[str], bool]


class SqliteDialect(Dialect):
    name: ClassVar[str] = "sqlite"

    def __init__(self, lookups: Mapping[str, Lookup] | None = None) -> None:
        self.lookups = dict(lookups or {})

    def column_equals(self, column: str, text: str, value: Callable[[], str]) -> str:
        lookup = self.lookups.get(column)
        if lookup is None or not lookup.few(text):
            # a value that many rows hold is found soon enough by reading rows newest first,
            # and SQLite would rather fetch every row the lookup names and sort them
            return super().column_equals(column, text, value)
        # the merged entries, then the rows stored since the last merge (a rowid range);
        # the table and column names come from the store's schema, never from the query
        merged, recent = value(), value()  # positional placeholders: bound once per use
        return (
            f"seq IN (SELECT seq FROM {lookup.table} WHERE {column} = {merged} "  # noqa: S608
            f"UNION ALL SELECT seq FROM events WHERE seq > "
            f"(SELECT seq FROM index_marks WHERE name = '{lookup.table}') AND {column} = {recent})"
        )

    def placeholder(self, index: int) -> str:
        return "?"

    def params(self, values: Sequence[object]) -> Params:
        return list(values)

    def as_text(self, expr: str) -> str:
        return f"CAST({expr} AS TEXT)"

    @staticmethod
    def path(path: Sequence[str]) -> str:
        return "'$" + "".join(f'."{part}"' for part in path) + "'"

    def _source(self, value: Json) -> str:
        return f"{value.source}.value" if value.element else value.source

    def _value(self, value: Json) -> str:
        if value.element and not value.path:
            return f"{value.source}.value"
        return f"json_extract({self._source(value)}, {self.path(value.path)})"

    def _type(self, value: Json) -> str:
        if value.element and not value.path:
            return f"{value.source}.type"
        return f"json_type({self._source(value)}, {self.path(value.path)})"

    def json_equals(self, value: Json, candidates: Sequence[Scalar], bind: Bind) -> str:
        # json_extract gives SQL values (text, integer, real; true/false as 1/0), so the typed
        # candidates compare as the JSON types they stand for
        if len(candidates) == 1:
            return f"{self._value(value)} = {bind(candidates[0])}"
        return f"{self._value(value)} IN ({', '.join(bind(c) for c in candidates)})"

    def json_as_text(self, value: Json, bind: Bind) -> str:
        return self._value(value)  # GLOB reads a number as its decimal text

    def json_text(self, value: Json, bind: Bind) -> str:
        return f"CASE WHEN {self._type(value)} = 'text' THEN {self._value(value)} END"

    def json_number(self, value: Json, bind: Bind) -> str:
        return f"CASE WHEN {self._type(value)} IN {_NUMERIC_TYPES} THEN {self._value(value)} END"

    def json_exists(self, value: Json, bind: Bind) -> str:
        return f"{self._value(value)} IS NOT NULL"

    def any_element(self, array: Json, alias: str, predicate: Callable[[], str], bind: Bind) -> str:
        # json_each of a scalar yields that scalar: a list field holding one value still matches
        each = f"json_each({self._source(array)}, {self.path(array.path)})"
        # only validated paths and the compiler's aliases reach this text; values are bound
        return f"EXISTS (SELECT 1 FROM {each} AS {alias} WHERE {predicate()})"  # noqa: S608

    @staticmethod
    def glob(pieces: Sequence[Piece]) -> str:
        return "".join(
            p.value if isinstance(p, Wild) else p.translate(_GLOB_LITERAL) for p in pieces
        )

    def matches(self, expr: str, pieces: Sequence[Piece], bind: Bind) -> str:
        return f"{expr} GLOB {bind(self.glob(pieces))}"

    def matches_ignoring_case(self, expr: str, pieces: Sequence[Piece], bind: Bind) -> str:
        return f"lower({expr}) GLOB lower({bind(self.glob(pieces))})"

    def contains_ignoring_case(self, expr: str, text: str, bind: Bind) -> str:
        return f"instr(lower({expr}), lower({bind(text)})) > 0"
