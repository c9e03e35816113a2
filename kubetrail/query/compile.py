"""Query tree -> a parameterized SQL condition for one dialect.

The compiler decides what each node tests and on which storage (a hot column of `HOT_FIELDS`,
or a path in the JSON `doc`, through lists per `LIST_FIELDS`); the dialect writes each test.
Values are only ever bound parameters.

Types. A value is compared with what the field holds: a number column takes integers, the
timestamp takes times (`kubetrail.query.times`, converted to microseconds at compile time, so a
relative `now-24h` is fixed when the query is compiled), text columns take text. In the JSON
document a value equals a string with the same text, a number with the same value (`403`) and a
boolean when it is `true`/`false`. A range or comparison whose bounds are all numbers compares
JSON numbers only; otherwise it compares JSON strings only, in code-point order.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Final

from kubetrail.query.dialect import Dialect, Json, Params, Scalar
from kubetrail.query.errors import QueryError
from kubetrail.query.fields import HOT_FIELDS, HotField, is_integer, split_lists
from kubetrail.query.times import parse_time
from kubetrail.query.tree import (
    And,
    Compare,
    Exists,
    FullText,
    MatchAll,
    Node,
    Not,
    Or,
    Piece,
    Range,
    Term,
    Wild,
)

_DECIMAL: Final = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d{1,3})?")
FieldNode = Term | Range | Compare | Exists


def compile_node(node: Node, dialect: Dialect, now: datetime | None = None) -> tuple[str, Params]:
    """`(where, params)`: the SQL condition of `node` and its bound values, for `dialect`."""
    compiler = _Compiler(dialect, now)
    where = compiler.node(node)
    return where, dialect.params(compiler.values)


class _Compiler:
    def __init__(self, dialect: Dialect, now: datetime | None) -> None:
        self.dialect = dialect
        self.now = now
        self.values: list[object] = []

    def bind(self, value: object) -> str:
        self.values.append(value)
        return self.dialect.placeholder(len(self.values) - 1)

    def node(self, node: Node) -> str:
        match node:
            case MatchAll():
                return self.dialect.true
            case And(operands) | Or(operands):
                parts = [self.node(operand) for operand in operands]
                joiner = " AND " if isinstance(node, And) else " OR "
                return parts[0] if len(parts) == 1 else "(" + joiner.join(parts) + ")"
            case Not(operand):
                return self.dialect.negate(self.node(operand))
            case FullText():
                return self.full_text(node)
            case Term() | Range() | Compare() | Exists():
                hot = HOT_FIELDS.get(node.field)
                if hot is not None and (hot.type != "flag" or isinstance(node, Exists)):
                    return self.hot(node, hot)
                return self.json(node)
        raise QueryError(f"cannot compile {node!r}")  # pragma: no cover - the tree is closed

    def full_text(self, node: FullText) -> str:
        message = self.dialect.column(self.dialect.message_column)
        if node.kind == "wildcard":
            return self.dialect.matches_ignoring_case(message, _anywhere(node.pieces()), self.bind)
        return self.dialect.contains_ignoring_case(message, node.text, self.bind)

    def hot(self, node: FieldNode, hot: HotField) -> str:
        column = self.dialect.column(hot.column)
        if isinstance(node, Exists):
            if hot.type == "flag":
                return self.dialect.flag_is_set(column)
            return self.dialect.column_is_set(column, hot.type)
        if isinstance(node, Term) and node.kind == "wildcard":
            text = column if hot.type == "text" else self.dialect.as_text(column)
            return self.dialect.matches(text, node.pieces(), self.bind)

        def value(text: str) -> str:
            if hot.type == "timestamp":
                return self.dialect.time_value(self.bind(parse_time(text, self.now)))
            if hot.type == "integer":
                if not is_integer(text):
                    raise QueryError(f"{node.field} is a number: {text!r} is not")
                return self.bind(int(text))
            return self.bind(text)

        if isinstance(node, Term):
            term = node.value
            return self.dialect.column_equals(column, term, lambda: value(term))
        return _bounds(column, node, value)

    def json(self, node: FieldNode) -> str:
        if isinstance(node, Exists):
            written = self.dialect.path_exists(node.field, self.bind)
            if written is not None:
                return written
        segments = split_lists(node.field)
        if self.dialect.flattened:
            # a test on one field is the same test on any of its flattened entries
            segments = (tuple(node.field.split(".")), ())

        def leaf(target: Json) -> str:
            dialect, bind = self.dialect, self.bind
            if isinstance(node, Exists):
                return dialect.json_exists(target, bind)
            if isinstance(node, Term):
                if node.kind == "wildcard":
                    return dialect.matches(dialect.json_as_text(target, bind), node.pieces(), bind)
                return dialect.json_equals(target, _candidates(node.value), bind)
            bounds = [node.value] if isinstance(node, Compare) else [node.low, node.high]
            numbers = [_number(bound) for bound in bounds]
            if all(number is not None for number in numbers):
                expr = dialect.json_number(target, bind)
                return _bounds(expr, node, lambda text: bind(_number(text)))
            return _bounds(dialect.json_text(target, bind), node, bind)

        return self.through_lists(segments, self.dialect.doc_column, False, 1, leaf)

    def through_lists(
        self,
        segments: tuple[tuple[str, ...], ...],
        source: str,
        element: bool,
        depth: int,
        leaf: Callable[[Json], str],
    ) -> str:
        """One "any element" per list the path crosses, nested; the leaf test at the end."""
        target = Json(source, segments[0], element)
        if len(segments) == 1:
            return leaf(target)
        alias = f"j{depth}"
        return self.dialect.any_element(
            target,
            alias,
            lambda: self.through_lists(segments[1:], alias, True, depth + 1, leaf),
            self.bind,
        )


def _bounds(expr: str, node: Range | Compare, value: Callable[[str], str]) -> str:
    if isinstance(node, Compare):
        return f"{expr} {node.op} {value(node.value)}"
    low = f"{expr} {'>=' if node.include_low else '>'} {value(node.low)}"
    high = f"{expr} {'<=' if node.include_high else '<'} {value(node.high)}"
    return f"({low} AND {high})"


def _anywhere(pieces: tuple[Piece, ...]) -> list[Piece]:
    """A pattern that matches text containing a match of `pieces`, as a bare word is contained
    in the message: `*` on both sides, merged with a `*` the pattern already has there."""
    padded = [Wild.ANY, *pieces, Wild.ANY]
    return [p for i, p in enumerate(padded) if not (i and p is padded[i - 1] is Wild.ANY)]


def _number(text: str) -> int | float | None:
    if is_integer(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        return float(text)
    return None


def _candidates(text: str) -> tuple[Scalar, ...]:
    """The readings of a query value against JSON: the text, and its number or boolean."""
    number = _number(text)
    if number is not None:
        return (text, number)
    if text in ("true", "false"):
        return (text, text == "true")
    return (text,)
