"""Gates: one field value a rule cannot match without, checked for many rules at once.

Past the verb/resource index, most events are still offered the rules that name neither
(denied requests, anonymous users, default admin accounts, Tor addresses). Most of those
require one field to take one of a few plain values (`responseStatus.code` 401 or 403,
`user.username` system:anonymous). A rule's gate is such a field with its values; for an
event, each gate field is read once and looked up in a table of value -> rules, and a gated
rule whose value is absent is not evaluated. A gate is a necessary condition of the
condition, never a sufficient one: the rule's predicate still decides.

Values are keyed as the matcher compares them: plain case-insensitive strings by the lowered
text of the event value, numbers by its numeric reading (so 401, "401" and 401.0 agree).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionOR,
)
from sigma.types import SigmaCasedString, SigmaNumber, SigmaString

from kubetrail.detect.event import Event, Resolver, resolver
from kubetrail.detect.lists import NamedLists
from kubetrail.detect.matcher import Node, Unsupported, as_number, expand, folded

Key = str | int | float  # a lowered string or a number
MAX_KEYS: Final = 256  # a gate with more values than this is not worth its table


@dataclass(frozen=True, slots=True)
class Gate:
    field: str
    keys: frozenset[Key]


def choose_gate(
    trees: Sequence[Node], lists: NamedLists, indexed: frozenset[str] = frozenset()
) -> Gate | None:
    """The field whose required values are fewest (the first written on a tie), if any.

    `indexed` fields (verb, resource) are left out: the engine's index already keys on them.
    """
    best: Gate | None = None
    for field in _fields(trees):
        if field in indexed:
            continue
        keys: frozenset[Key] | None = frozenset()
        for tree in trees:
            bound = required_keys(tree, field, lists)
            keys = None if bound is None or keys is None else keys | bound
        if (
            keys is not None
            and len(keys) <= MAX_KEYS
            and (best is None or len(keys) < len(best.keys))
        ):
            best = Gate(field, keys)
    return best


def _fields(trees: Iterable[Node]) -> list[str]:
    out: dict[str, None] = {}

    def visit(node: Node) -> None:
        if isinstance(node, ConditionItem):
            for arg in node.args:
                visit(arg)
        elif isinstance(node, ConditionFieldEqualsValueExpression):
            out[node.field] = None

    for tree in trees:
        visit(tree)
    return list(out)


def required_keys(node: Node, field: str, lists: NamedLists) -> frozenset[Key] | None:
    """The keys one value of `field` must have for `node` to hold; None when unbounded.

    An AND is bounded by any bounded part (not their intersection: a field with several
    values may meet each part with a different value); an OR by the union of all its parts.
    """
    if isinstance(node, ConditionAND):
        bounds = [b for b in (required_keys(a, field, lists) for a in node.args) if b is not None]
        return min(bounds, key=len) if bounds else None
    if isinstance(node, ConditionOR):
        union: frozenset[Key] = frozenset()
        for arg in node.args:
            bound = required_keys(arg, field, lists)
            if bound is None:
                return None
            union |= bound
        return union
    if isinstance(node, ConditionFieldEqualsValueExpression) and node.field == field:
        return _value_keys(node.value, lists)
    return None  # NOT, keywords, other fields: no bound from here


def _value_keys(value: Any, lists: NamedLists) -> frozenset[Key] | None:
    if isinstance(value, SigmaNumber) and not isinstance(value.number, bool):
        return frozenset({value.number})
    if not isinstance(value, SigmaString) or isinstance(value, SigmaCasedString):
        return None
    strings = [value]
    if value.contains_placeholder():
        try:
            strings = expand(value, lists)
        except Unsupported:
            return None
    out: set[Key] = set()
    for string in strings:
        if not all(isinstance(p, str) for p in string.s):
            return None  # a wildcard: not one value
        out.add("".join(str(p) for p in string.s).lower())
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class _Table:
    field: str
    read: Resolver
    rules: dict[Key, frozenset[int]]  # key -> positions of the rules it opens
    numeric: bool  # some key is a number: the value's numeric reading is looked up
    textual: bool  # some key is a string: the value's lowered text is looked up


class Gates:
    """The gates of a sequence of rules; `opened(event)` -> positions of gated rules to try."""

    def __init__(self, gates: Sequence[Gate | None]) -> None:
        self.ungated = frozenset(n for n, g in enumerate(gates) if g is None)
        by_field: dict[str, dict[Key, set[int]]] = {}
        for n, gate in enumerate(gates):
            if gate is not None:
                table = by_field.setdefault(gate.field, {})
                for key in gate.keys:
                    table.setdefault(key, set()).add(n)
        self.tables = tuple(
            _Table(
                field,
                resolver(field),
                {k: frozenset(v) for k, v in table.items()},
                any(not isinstance(k, str) for k in table),
                any(isinstance(k, str) for k in table),
            )
            for field, table in by_field.items()
        )

    def opened(self, event: Event) -> set[int]:
        out: set[int] = set()
        cache = event.cache
        for table in self.tables:
            found = cache.get(table.field)
            if found is None:
                found = cache[table.field] = table.read(event)
            rules = table.rules
            for value in found:
                if table.textual:
                    text = value.lower() if isinstance(value, str) else folded(value)
                    hit = rules.get(text) if text is not None else None
                    if hit:
                        out |= hit
                if table.numeric:
                    number = as_number(value)
                    hit = rules.get(number) if number is not None else None
                    if hit:
                        out |= hit
        return out
