"""kubetrail's own query tree: what a query means, independent of luqum and of SQL.

The parser builds it, the compiler turns it into SQL for a dialect, `describe` into English.
Values are kept as the user wrote them (unescaped); the compiler decides their type from the
field they are compared with.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Literal

Kind = Literal["exact", "wildcard", "phrase"]
Op = Literal[">", ">=", "<", "<="]


class Wild(Enum):
    """A wildcard of a pattern: `*` any run of characters, `?` exactly one."""

    ANY = "*"
    ONE = "?"


Piece = str | Wild


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class Term:
    """`field:value`. For kind "wildcard" the value is a pattern: see `pieces`."""

    field: str
    value: str
    kind: Kind = "exact"

    def pieces(self) -> tuple[Piece, ...]:
        return pattern_pieces(self.value) if self.kind == "wildcard" else (self.value,)


@dataclass(frozen=True)
class Range:
    """`field:[low TO high]`, `{` and `}` exclude their bound."""

    field: str
    low: str
    high: str
    include_low: bool = True
    include_high: bool = True


@dataclass(frozen=True)
class Compare:
    """`field:>=value` and its three siblings."""

    field: str
    op: Op
    value: str


@dataclass(frozen=True)
class Exists:
    """`field:*`: the field has a value."""

    field: str


@dataclass(frozen=True)
class MatchAll:
    """`*` or an empty query."""


@dataclass(frozen=True)
class FullText:
    """A bare term or phrase: searched, case-insensitively, in the raw event text."""

    text: str
    kind: Kind = "exact"

    def pieces(self) -> tuple[Piece, ...]:
        return pattern_pieces(self.text) if self.kind == "wildcard" else (self.text,)


Node = And | Or | Not | Term | Range | Compare | Exists | MatchAll | FullText


def pattern_pieces(pattern: str) -> tuple[Piece, ...]:
    """A Lucene wildcard pattern as literal strings and `Wild`s; `\\` makes the next character
    literal, so `a\\*b` is the three characters `a*b`."""
    return tuple(_pieces(pattern))


def _pieces(pattern: str) -> Iterator[Piece]:
    literal: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            literal.append(next(chars, "\\"))
        elif char in "*?":
            if literal:
                yield "".join(literal)
                literal = []
            yield Wild(char)
        else:
            literal.append(char)
    if literal:
        yield "".join(literal)


def has_wildcard(pattern: str) -> bool:
    """True when `pattern` has an unescaped `*` or `?`."""
    return any(isinstance(piece, Wild) for piece in _pieces(pattern))


def unescape(value: str) -> str:
    """The value with Lucene's backslash escapes resolved."""
    return "".join(_pieces_literal(value))


def _pieces_literal(value: str) -> Iterator[str]:
    chars = iter(value)
    for char in chars:
        yield next(chars, "\\") if char == "\\" else char
