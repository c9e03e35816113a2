"""What differs between SQL backends, as a small set of methods the compiler calls.

The compiler (`kubetrail.query.compile`) decides *what* to test; a `Dialect` only says how one
test is written in its SQL. Values always travel as bound parameters: a method that needs one
calls `bind(value)` and writes the placeholder it returns. The only names ever written into the
SQL text are hot column names from `HOT_FIELDS` and JSON paths made of validated field names.

A `Json` is a value inside a JSON document: `path` under `source`, which is the `doc` column or
the alias of a list element the compiler is iterating over (`element=True`). The compiler may
write an expression a `json_*` method returns twice (the two sides of a range): a dialect with
positional placeholders must therefore not bind inside those expressions (SQLite writes its
paths as literals; ClickHouse's placeholders are named, so repeating one is harmless).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from kubetrail.query.fields import HotType
from kubetrail.query.tree import Piece

Bind = Callable[[object], str]
Scalar = str | int | float | bool
Params = list[object] | dict[str, object]


@dataclass(frozen=True)
class Json:
    source: str
    path: tuple[str, ...]
    element: bool = False


class Dialect(ABC):
    """One SQL backend's spelling of the compiler's tests."""

    name: ClassVar[str]
    # True when the store keeps every leaf of the document as a (path, JSON value) entry:
    # one "any entry at this path" then covers every list the path crosses
    flattened: ClassVar[bool] = False
    doc_column: ClassVar[str] = "doc"
    message_column: ClassVar[str] = "message"

    # parameters
    @abstractmethod
    def placeholder(self, index: int) -> str:
        """The placeholder of the index-th bound value."""

    @abstractmethod
    def params(self, values: Sequence[object]) -> Params:
        """The bound values in the form the driver takes with this dialect's placeholders."""

    # hot columns
    def column(self, name: str) -> str:
        return name

    def column_equals(self, column: str, text: str, value: Callable[[], str]) -> str:
        """`column` equals the query's value `text`; `value()` binds it (typed for the column)
        and returns its placeholder."""
        return f"{column} = {value()}"

    def column_is_set(self, column: str, type_: HotType) -> str:
        return f"{column} IS NOT NULL"

    def flag_is_set(self, column: str) -> str:
        return f"{column} = 1"

    def time_value(self, placeholder: str) -> str:
        """A bound time (microseconds since the epoch) as the timestamp column's type."""
        return placeholder

    @abstractmethod
    def as_text(self, expr: str) -> str:
        """A number column as text, for wildcards such as `status_code:4*`."""

    # values inside the JSON document
    @abstractmethod
    def json_equals(self, value: Json, candidates: Sequence[Scalar], bind: Bind) -> str:
        """The JSON value is one of `candidates` (the query's text and its typed readings)."""

    @abstractmethod
    def json_as_text(self, value: Json, bind: Bind) -> str:
        """The JSON value as text, for patterns."""

    @abstractmethod
    def json_text(self, value: Json, bind: Bind) -> str:
        """The JSON value when it is a string, else NULL: for ranges of text."""

    @abstractmethod
    def json_number(self, value: Json, bind: Bind) -> str:
        """The JSON value when it is a number, else NULL: for numeric comparisons."""

    @abstractmethod
    def json_exists(self, value: Json, bind: Bind) -> str:
        """The JSON value is present and not null."""

    def path_exists(self, field: str, bind: Bind) -> str | None:
        """`field:*` for a field of the document, when the dialect writes it whole; None: as a
        test of the value (`json_exists`), through the lists the field crosses."""
        return None

    @abstractmethod
    def any_element(self, array: Json, alias: str, predicate: Callable[[], str], bind: Bind) -> str:
        """Some element of the JSON list `array`, named `alias` in the predicate, satisfies it.

        `predicate()` writes the test and binds its values: call it where its text goes, so
        that positional placeholders stay in the order of the SQL text."""

    # text
    @abstractmethod
    def matches(self, expr: str, pieces: Sequence[Piece], bind: Bind) -> str:
        """The whole of `expr` matches the wildcard pattern, case-sensitively."""

    @abstractmethod
    def matches_ignoring_case(self, expr: str, pieces: Sequence[Piece], bind: Bind) -> str:
        """The whole of `expr` matches the wildcard pattern, ignoring case."""

    @abstractmethod
    def contains_ignoring_case(self, expr: str, text: str, bind: Bind) -> str:
        """`text` is a substring of `expr`, ignoring case."""

    # logic
    true: ClassVar[str] = "1"

    def negate(self, predicate: str) -> str:
        # a NULL (absent field) must count as false, so that NOT keeps events without the field
        return f"NOT coalesce({predicate}, 0)"
