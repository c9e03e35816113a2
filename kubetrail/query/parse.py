"""Query text -> kubetrail's query tree (`kubetrail.query.tree`), through luqum's parser.

luqum parses the Lucene syntax; this module maps its tree onto ours, so that nothing past here
sees luqum, and checks what the grammar cannot: field names (they become JSON paths), values of
typed fields (numbers, times), and the Lucene features kubetrail does not run (fuzzy, proximity,
regular expressions, boosts). Every error is a `QuerySyntaxError` with the position of the
offending token.

Meaning of the syntax:
    field:value          equal (case-sensitive); `message:value` is a full-text search
    field:"a phrase"     equal to the whole phrase; wildcards in it are literal
    field:sys*  field:?  wildcards, `\\*` a literal star
    field:*              the field is set
    field:[a TO b]       inclusive range; `{`/`}` exclude a bound; `*` leaves a side open
    field:>=n  >  <  <=  comparisons
    a AND b, a OR b, NOT a, -a, +a, (...)   `a b` means `a AND b`; AND binds tighter than OR
    bare words / "phrases"   case-insensitive substring of the raw event text
"""

from __future__ import annotations

import re
import threading
from typing import Final

from luqum import tree as lq
from luqum.exceptions import IllegalCharacterError, ParseError
from luqum.thread import parse as luqum_parse

from kubetrail.query.errors import QueryError, QuerySyntaxError
from kubetrail.query.fields import HOT_FIELDS, MAX_FIELD_LENGTH, is_integer, is_valid_field
from kubetrail.query.times import parse_time
from kubetrail.query.tree import (
    And,
    Compare,
    Exists,
    FullText,
    Kind,
    MatchAll,
    Node,
    Not,
    Op,
    Or,
    Range,
    Term,
    has_wildcard,
    unescape,
)

# luqum says where only in its messages: "... at position 12" or "... at the end"
_AT_POSITION: Final = re.compile(r"at position (\d+)")
_UNEXPECTED: Final = re.compile(r"unexpected\s+'(.*)' at position")
_UNSUPPORTED: Final = {
    lq.Fuzzy: "fuzzy search (~) is not supported",
    lq.Proximity: "proximity search (~) is not supported",
    lq.Regex: "regular expressions (/.../) are not supported",
    lq.Boost: "boosts (^) are not supported",
}
MAX_QUERY_LENGTH: Final = 10_000
_PARSER_LOCK: Final = threading.Lock()
_OPS: Final[dict[tuple[str, bool], Op]] = {
    (">", True): ">=",
    (">", False): ">",
    ("<", True): "<=",
    ("<", False): "<",
}


def parse(text: str) -> Node:
    """The tree of query `text`; an empty query or `*` matches every event."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(
            f"query too long ({len(text)} characters, at most {MAX_QUERY_LENGTH})",
            MAX_QUERY_LENGTH,
            text,
        )
    if not text.strip():
        return MatchAll()
    try:
        with _PARSER_LOCK:  # PLY's parser keeps its state on itself: one parse at a time
            item = luqum_parse(text)
    except IllegalCharacterError as exc:
        raise _illegal_character(text, str(exc)) from None
    except ParseError as exc:
        raise _syntax_error(text, str(exc)) from None
    return _Mapper(text).node(item, None)


def _illegal_character(text: str, message: str) -> QuerySyntaxError:
    found = _AT_POSITION.search(message)
    position = int(found.group(1)) if found else 0
    char = text[position] if position < len(text) else ""
    if char == '"':
        return QuerySyntaxError('unterminated phrase: this " is never closed', position, text)
    if char == "/":
        return QuerySyntaxError(
            "unexpected '/' (regular expressions are not supported): escape it as \\/ or quote"
            " the value",
            position,
            text,
        )
    return QuerySyntaxError(f"unexpected character {char!r}", position, text)


def _syntax_error(text: str, message: str) -> QuerySyntaxError:
    found = _AT_POSITION.search(message)
    if found is None:  # luqum's "at the end"
        return QuerySyntaxError(
            "the query ends too early (an operator without operand, or an unclosed"
            " parenthesis or range)",
            len(text),
            text,
        )
    token = _UNEXPECTED.search(message)
    what = repr(token.group(1)) if token else "token"
    return QuerySyntaxError(f"unexpected {what}", int(found.group(1)), text)


class _Mapper:
    """luqum's items -> our nodes; `field` is the field a `field:(...)` group applies to."""

    def __init__(self, text: str) -> None:
        self.text = text

    def error(self, message: str, item: lq.Item) -> QuerySyntaxError:
        return QuerySyntaxError(message, item.pos or 0, self.text)

    def node(self, item: lq.Item, field: str | None) -> Node:
        if isinstance(item, lq.SearchField):
            return self.search_field(item, field)
        if isinstance(item, lq.BaseGroup):
            return self.node(item.expr, field)
        if isinstance(item, lq.OrOperation):
            return Or(tuple(self.node(child, field) for child in item.children))
        if isinstance(item, lq.AndOperation | lq.UnknownOperation):
            return And(tuple(self.node(child, field) for child in item.children))
        if isinstance(item, lq.Not | lq.Prohibit):
            return Not(self.node(item.a, field))
        if isinstance(item, lq.Plus):
            return self.node(item.a, field)
        if isinstance(item, lq.Word | lq.Phrase):
            return self.term(item, field)
        if isinstance(item, lq.Range):
            return self.range(item, field)
        if isinstance(item, lq.From | lq.To):
            return self.compare(item, field)
        for kind, message in _UNSUPPORTED.items():
            if isinstance(item, kind):
                raise self.error(message, item)
        raise self.error(f"unsupported syntax {str(item)!r}", item)

    def search_field(self, item: lq.SearchField, outer: str | None) -> Node:
        name = str(item.name)
        if outer is not None:
            raise self.error(f"field {name!r} inside the group of field {outer!r}", item)
        if not is_valid_field(name):
            raise self.error(
                f"invalid field name {name[:MAX_FIELD_LENGTH]!r}: a field is made of letters,"
                " digits, _, @ and -, separated by dots",
                item,
            )
        return self.node(item.expr, name)

    def term(self, item: lq.Word | lq.Phrase, field: str | None) -> Node:
        phrase = isinstance(item, lq.Phrase)
        raw = item.value[1:-1] if phrase else item.value
        if not phrase and raw == "*":
            return MatchAll() if field in (None, "message") else Exists(field)
        wildcard = not phrase and has_wildcard(raw)
        value = raw if wildcard else unescape(raw)
        kind: Kind = "wildcard" if wildcard else "phrase" if phrase else "exact"
        if field is None or field == "message":
            return FullText(value, kind)
        self.check_value(field, value, item, wildcard=wildcard)
        return Term(field, value, kind)

    def bound(self, item: lq.Item) -> str | None:
        """A range bound's value; None for `*` (open)."""
        if isinstance(item, lq.Prohibit):  # luqum reads the - of `-5` as NOT
            inner = self.bound(item.a)
            return None if inner is None else "-" + inner
        if isinstance(item, lq.Phrase):
            return unescape(item.value[1:-1])
        if isinstance(item, lq.Word):
            return None if item.value == "*" else unescape(item.value)
        raise self.error(f"unsupported range bound {str(item)!r}", item)

    def range(self, item: lq.Range, field: str | None) -> Node:
        if field is None:
            raise self.error("a range needs a field, as in field:[a TO b]", item)
        if field == "message":
            raise self.error("message is searched as text and has no ranges", item)
        low, high = self.bound(item.low), self.bound(item.high)
        for value, side in ((low, item.low), (high, item.high)):
            if value is not None:
                self.check_value(field, value, side)
        if low is None and high is None:
            return Exists(field)
        if low is None:
            return Compare(field, "<=" if item.include_high else "<", str(high))
        if high is None:
            return Compare(field, ">=" if item.include_low else ">", low)
        return Range(field, low, high, bool(item.include_low), bool(item.include_high))

    def compare(self, item: lq.From | lq.To, field: str | None) -> Node:
        symbol = ">" if isinstance(item, lq.From) else "<"
        if field is None:
            raise self.error(f"a comparison needs a field, as in field:{symbol}=value", item)
        if field == "message":
            raise self.error("message is searched as text and has no comparisons", item)
        value = self.bound(item.a)
        if value is None:
            return Exists(field)
        self.check_value(field, value, item.a)
        return Compare(field, _OPS[symbol, bool(item.include)], value)

    def check_value(
        self,
        field: str,
        value: str,
        item: lq.Item,
        *,
        wildcard: bool = False,
    ) -> None:
        """Values of typed columns are checked here, where their position is known."""
        hot = HOT_FIELDS.get(field)
        if hot is None:
            return
        if hot.type == "integer" and not wildcard and not is_integer(value):
            raise self.error(f"{field} is a number: {value!r} is not", item)
        if hot.type == "timestamp":
            if wildcard:
                raise self.error(f"{field} is a time: wildcards do not apply", item)
            try:
                parse_time(value)
            except QueryError as exc:
                raise self.error(str(exc), item) from None
