"""Query tree -> one plain-English sentence, shown next to results so that the analyst can
check the query means what they meant ("user.name is alice and kubernetes.resource is
secrets"). Plain text: whoever renders it in HTML escapes it."""

from __future__ import annotations

import re
from typing import Final

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

_COMPARISONS: Final = {
    ">": "is greater than",
    ">=": "is at least",
    "<": "is less than",
    "<=": "is at most",
}


def describe(node: Node) -> str:
    """The sentence for `node`; "every event" for a query that matches everything."""
    match node:
        case MatchAll():
            return "every event"
        case And(operands) | Or(operands):
            joiner = " and " if isinstance(node, And) else " or "
            return joiner.join(_operand(operand, node) for operand in operands)
        case Not(operand):
            return f"not ({describe(operand)})"
        case FullText(text, kind):
            if kind == "wildcard":
                return f"the raw event matches {_quoted(_pattern(node.pieces()))}"
            return f"the raw event contains {_quoted(text)}"
        case Term(field, value, kind):
            if kind == "wildcard":
                return f"{field} matches {_quoted(_pattern(node.pieces()))}"
            return f"{field} is {_value(value)}"
        case Range(field, low, high, include_low, include_high):
            if include_low and include_high:
                return f"{field} is between {_value(low)} and {_value(high)}"
            low_words = _COMPARISONS[">=" if include_low else ">"]
            high_words = _COMPARISONS["<=" if include_high else "<"].removeprefix("is ")
            return f"{field} {low_words} {_value(low)} and {high_words} {_value(high)}"
        case Compare(field, op, value):
            return f"{field} {_COMPARISONS[op]} {_value(value)}"
        case Exists(field):
            return f"{field} is set"
    raise TypeError(f"not a query node: {node!r}")  # pragma: no cover - the tree is closed


def _operand(operand: Node, parent: And | Or) -> str:
    # a group of the other connective keeps its parentheses: "a and (b or c)"
    text = describe(operand)
    return (
        f"({text})" if isinstance(operand, And | Or) and type(operand) is not type(parent) else text
    )


def _quoted(text: str) -> str:
    if "'" in text and '"' not in text:
        return f'"{text}"'
    return "'" + text.replace("'", "\\'") + "'"


def _pattern(pieces: tuple[Piece, ...]) -> str:
    """A pattern as the user reads it: only a literal * ? or \\ keeps its backslash."""
    return "".join(
        p.value if isinstance(p, Wild) else re.sub(r"([*?\\])", r"\\\1", p) for p in pieces
    )


def _value(text: str) -> str:
    """Plain words stay bare; anything that would blur the sentence is quoted."""
    if text and all(ch.isalnum() or ch in "-_.:/@+" for ch in text):
        return text
    return _quoted(text)
