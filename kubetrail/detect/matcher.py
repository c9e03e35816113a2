"""pySigma's condition tree -> one Python closure per rule, built once, run on every event.

pySigma parses the rule (modifiers applied, `1 of filter_*` resolved); this module only
decides what each leaf means on a JSON audit event:

- strings compare case-insensitively unless `cased`; `*`/`?` are wildcards (contains,
  startswith and endswith become `in`, `startswith`, `endswith`, anything else a regex);
- `re` searches (unanchored), case-sensitive unless `re|i`;
- numbers compare numerically (a numeric string counts), `gt/gte/lt/lte` likewise;
- `cidr` tests addresses; `exists` and `null` look at presence;
- `%name%` placeholders (`expand`) take every entry of the named list, globs included;
- a keyword without a field searches the raw event text (contains).
A field with several values (a path through a list) matches when any value does.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any, Final

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.exceptions import SigmaError
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SigmaType,
    SpecialChars,
)

from kubetrail.detect.errors import DetectError
from kubetrail.detect.event import Event, resolver
from kubetrail.detect.lists import NamedLists

Predicate = Callable[[Event], bool]
ValueTest = Callable[[Any], bool]
Node = (
    ConditionItem
    | ConditionFieldEqualsValueExpression
    | ConditionValueExpression
    | SigmaType
    | None
)

_STAR: Final = SpecialChars.WILDCARD_MULTI
_NUMERIC: Final = (int, float)  # a tuple: isinstance with `int | float` is slower
_RE_FLAGS: Final = {
    SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
    SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
    SigmaRegularExpressionFlag.DOTALL: re.DOTALL,
}


_SHAPES: Final[dict[tuple[Any, ...], str]] = {
    ("s",): "=",
    ("s", _STAR): "^",
    (_STAR, "s"): "$",
    (_STAR, "s", _STAR): "~",
}


class Unsupported(DetectError):
    """A rule uses something the matcher cannot evaluate on audit events."""


def compile_condition(node: Node, lists: NamedLists) -> Predicate:
    """The predicate of a parsed condition tree."""
    if isinstance(node, ConditionAND):
        return _and(tuple(compile_condition(arg, lists) for arg in node.args))
    if isinstance(node, ConditionOR):
        return _or(_or_args(node.args, lists))
    if isinstance(node, ConditionNOT):
        inner = compile_condition(node.args[0], lists)
        return lambda event: not inner(event)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return field_predicate(node.field, node.value, lists)
    if isinstance(node, ConditionValueExpression):
        return keyword_predicate(node.value, lists)
    raise Unsupported(f"cannot evaluate condition element {type(node).__name__}")


def _or_args(args: list[Any], lists: NamedLists) -> tuple[Predicate, ...]:
    """The alternatives of an OR, those on one field merged: the field is read once."""
    by_field: dict[str, list[SigmaType]] = {}
    order: list[str | Any] = []
    for arg in args:
        if isinstance(arg, ConditionFieldEqualsValueExpression) and not isinstance(
            arg.value, SigmaNull | SigmaExists | SigmaFieldReference
        ):
            if arg.field not in by_field:
                by_field[arg.field] = []
                order.append(arg.field)
            by_field[arg.field].append(arg.value)
        else:
            order.append(arg)
    out: list[Predicate] = []
    for item in order:
        if isinstance(item, str):
            out.append(_values_predicate(item, value_tests(by_field[item], lists)))
        else:
            out.append(compile_condition(item, lists))
    return tuple(out)


def _and(preds: tuple[Predicate, ...]) -> Predicate:
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda event: a(event) and b(event)

    def every(event: Event) -> bool:
        for pred in preds:  # noqa: SIM110 - a loop is faster than all() here
            if not pred(event):
                return False
        return True

    return every


def _or(preds: tuple[Predicate, ...]) -> Predicate:
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda event: a(event) or b(event)

    def some(event: Event) -> bool:
        for pred in preds:  # noqa: SIM110 - a loop is faster than any() here
            if pred(event):
                return True
        return False

    return some


def field_predicate(field: str, value: SigmaType, lists: NamedLists) -> Predicate:
    if isinstance(value, SigmaNull):
        return lambda event: not event.values(field)
    if isinstance(value, SigmaExists):
        wanted = bool(value)
        return lambda event: bool(event.values(field)) is wanted
    if isinstance(value, SigmaFieldReference):
        other = value.field

        def same(event: Event) -> bool:
            mine = {folded(v) for v in event.values(field)}
            return any(folded(v) in mine for v in event.values(other))

        return same
    return _values_predicate(field, value_test(value, lists))


def _values_predicate(field: str, test: ValueTest) -> Predicate:
    read = resolver(field)

    def matches(event: Event) -> bool:
        # Event.values inlined: this runs for every leaf of every rule tried
        cache = event.cache
        found = cache.get(field)
        if found is None:
            found = cache[field] = read(event)
        for item in found:  # noqa: SIM110 - a loop is faster than any() here
            if test(item):
                return True
        return False

    return matches


def keyword_predicate(value: SigmaType, lists: NamedLists) -> Predicate:
    """A value without a field: searched in the whole raw event text."""
    if isinstance(value, SigmaString) and not isinstance(value, SigmaCasedString):
        parts = list(value.s)
        wrapped = SigmaString()
        wrapped.s = [
            *([] if parts[:1] == [_STAR] else [_STAR]),
            *parts,
            *([] if parts[-1:] == [_STAR] else [_STAR]),
        ]
        value = wrapped
    test = value_test(value, lists)

    def matches(event: Event) -> bool:
        return test(event.doc.get("message") or event.raw_text())

    return matches


def value_test(value: SigmaType, lists: NamedLists) -> ValueTest:
    """The test one event value must pass to match `value`."""
    if isinstance(value, SigmaExpansion):
        return value_tests(value.values, lists)
    if isinstance(value, SigmaString):
        if value.contains_placeholder():
            cased = isinstance(value, SigmaCasedString)
            expanded = expand(value, lists)
            return value_tests([_recased(s, cased) for s in expanded], lists)
        return string_test(value, isinstance(value, SigmaCasedString))
    if isinstance(value, SigmaRegularExpression):
        flags = 0
        for flag in value.flags:
            flags |= _RE_FLAGS[flag]
        patterns = [str(value.regexp)]
        if value.regexp.contains_placeholder():
            patterns = [str(s) for s in expand(value.regexp, lists)]
        return _memo(_any_of([_regex_test(re.compile(p, flags)) for p in patterns]))
    if isinstance(value, SigmaCIDRExpression):
        return _memo(_cidr_test(value.network))
    if isinstance(value, SigmaTimestampPart):
        raise Unsupported("timestamp-part modifiers (minute, hour, ...) are not supported")
    if isinstance(value, SigmaBool):
        wanted = value.boolean
        text = "true" if wanted else "false"
        return lambda v: v is wanted or (isinstance(v, str) and v.lower() == text)
    if isinstance(value, SigmaNumber):
        number = value.number
        return lambda v: as_number(v) == number
    if isinstance(value, SigmaCompareExpression):
        return _compare_test(value.op, value.number.number)
    raise Unsupported(f"values of type {type(value).__name__} are not supported")


def _any_of(tests: list[ValueTest]) -> ValueTest:
    if len(tests) == 1:
        return tests[0]

    def some(v: Any) -> bool:
        for test in tests:  # noqa: SIM110 - a loop is faster than any() here
            if test(v):
                return True
        return False

    return some


def _recased(value: SigmaString, cased: bool) -> SigmaString:
    if not cased:
        return value
    out = SigmaCasedString()
    out.s = value.s
    return out


def value_tests(values: list[SigmaType], lists: NamedLists) -> ValueTest:
    """One test passing when a value matches any of `values`.

    The usual alternatives (case-insensitive equality, prefix, suffix, substring) are merged:
    the value is lowered once and looked up in a set, or passed to one startswith/endswith.
    """
    flat: list[SigmaType] = []
    for value in values:
        if isinstance(value, SigmaExpansion):
            flat.extend(value.values)
        elif isinstance(value, SigmaString) and value.contains_placeholder():
            flat.extend(
                _recased(s, isinstance(value, SigmaCasedString)) for s in expand(value, lists)
            )
        else:
            flat.append(value)
    if len(flat) == 1:
        return value_test(flat[0], lists)
    equal: set[str] = set()
    prefixes: list[str] = []
    suffixes: list[str] = []
    inner: list[str] = []
    numbers: set[int | float] = set()
    others: list[ValueTest] = []
    for value in flat:
        shape = _shape(value)
        if shape is None:
            if isinstance(value, SigmaNumber) and not isinstance(value.number, bool):
                numbers.add(value.number)
            else:
                others.append(value_test(value, lists))
            continue
        kind, key = shape
        {"=": equal.add, "^": prefixes.append, "$": suffixes.append, "~": inner.append}[kind](key)
    return _merged(
        frozenset(equal), tuple(prefixes), tuple(suffixes), tuple(inner), numbers, others
    )


def _shape(value: SigmaType) -> tuple[str, str] | None:
    """How a case-insensitive string compares: (=, ^, $ or ~, lowered key), else None."""
    if not isinstance(value, SigmaString) or isinstance(value, SigmaCasedString):
        return None
    parts = list(value.s)
    shape = tuple(p if not isinstance(p, str) else "s" for p in parts)
    key = "".join(p for p in parts if isinstance(p, str)).lower()
    kind = _SHAPES.get(shape)
    return (kind, key) if kind else None


def _merged(
    equal: frozenset[str],
    prefixes: tuple[str, ...],
    suffixes: tuple[str, ...],
    inner: tuple[str, ...],
    numbers: set[int | float],
    others: list[ValueTest],
) -> ValueTest:
    # a value that is not a scalar has no text: it contains "" only (as the single tests say)
    none_matches = "" in inner
    rest = _any_of(others) if others else None
    if not (equal or prefixes or suffixes or inner) and rest is None:
        return lambda v: as_number(v) in numbers  # a status code among several: no text needed

    def test(v: Any) -> bool:
        t = v.lower() if isinstance(v, str) else folded(v)
        if t is None:
            if none_matches:
                return True
        elif (
            t in equal
            or (prefixes and t.startswith(prefixes))
            or (suffixes and t.endswith(suffixes))
        ):
            return True
        else:
            for key in inner:
                if key in t:
                    return True
        if numbers and as_number(v) in numbers:
            return True
        return rest is not None and rest(v)

    return _memo(test)


MEMO_SIZE: Final = 4096  # answers remembered per test; cleared when full
MEMO_TEXT: Final = 512  # longer strings (URIs, commands) rarely repeat: not remembered


def _memo(test: ValueTest) -> ValueTest:
    """`test`, remembering its answer per string value.

    Worth it for the costly tests (regexes, networks, lists of patterns): user agents,
    usernames and addresses repeat across thousands of events.
    """
    seen: dict[str, bool] = {}

    def remembered(v: Any) -> bool:
        if type(v) is not str or len(v) > MEMO_TEXT:
            return test(v)
        found = seen.get(v)
        if found is None:
            if len(seen) >= MEMO_SIZE:
                seen.clear()
            found = seen[v] = test(v)
        return found

    return remembered


def expand(value: SigmaString, lists: NamedLists) -> list[SigmaString]:
    def entries(placeholder: Placeholder) -> Iterator[SigmaString]:
        found = lists.get(placeholder.name)
        if found is None:
            raise Unsupported(f"unknown list '{placeholder.name}'")
        return (SigmaString(entry) for entry in found)

    try:
        return value.replace_placeholders(entries)
    except SigmaError as exc:
        raise Unsupported(str(exc)) from None


def _text(v: Any) -> str | None:
    """An event value as the text string matching compares against (None: not a scalar)."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, _NUMERIC):
        return str(v)
    return None


def folded(v: Any) -> str | None:
    text = _text(v)
    return text.lower() if text is not None else None


def string_test(value: SigmaString, cased: bool) -> ValueTest:
    parts = list(value.s)
    plain = [p for p in parts if isinstance(p, str)]
    specials = [p for p in parts if not isinstance(p, str)]
    literal = "".join(plain)
    key = literal if cased else literal.lower()
    if not specials:
        if cased:
            return lambda v: _text(v) == key
        return lambda v: (v.lower() == key) if isinstance(v, str) else folded(v) == key
    shape = tuple(p if not isinstance(p, str) else "s" for p in parts)
    if shape == (_STAR, "s", _STAR):
        return _contains(key, cased)
    if shape == ("s", _STAR):
        return lambda v: (t := _fold(v, cased)) is not None and t.startswith(key)
    if shape == (_STAR, "s"):
        return lambda v: (t := _fold(v, cased)) is not None and t.endswith(key)
    if shape == (_STAR,):
        return lambda v: _text(v) is not None
    pattern = re.compile(
        str(value.to_regex().regexp), re.DOTALL if cased else re.DOTALL | re.IGNORECASE
    )
    return _memo(lambda v: (t := _text(v)) is not None and pattern.fullmatch(t) is not None)


def _fold(v: Any, cased: bool) -> str | None:
    return _text(v) if cased else folded(v)


def _contains(key: str, cased: bool) -> ValueTest:
    if cased:
        return lambda v: (t := _text(v)) is not None and key in t
    return lambda v: (key in v.lower()) if isinstance(v, str) else key in (folded(v) or "")


def _regex_test(pattern: re.Pattern[str]) -> ValueTest:
    return lambda v: (t := _text(v)) is not None and pattern.search(t) is not None


@lru_cache(maxsize=65536)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _cidr_test(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> ValueTest:
    def test(v: Any) -> bool:
        if not isinstance(v, str):
            return False
        address = _address(v)
        return address is not None and address.version == network.version and address in network

    return test


def as_number(v: Any) -> int | float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, _NUMERIC):
        return v
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def _compare_test(op: CompareOperators, bound: int | float) -> ValueTest:
    compare: Callable[[float, float], bool] = {
        CompareOperators.LT: lambda a, b: a < b,
        CompareOperators.LTE: lambda a, b: a <= b,
        CompareOperators.GT: lambda a, b: a > b,
        CompareOperators.GTE: lambda a, b: a >= b,
        CompareOperators.NEQ: lambda a, b: a != b,
    }[op]
    return lambda v: (n := as_number(v)) is not None and compare(n, bound)


def required_values(node: Node, fields: frozenset[str]) -> frozenset[str] | None:
    """The (lower-cased) values one of `fields` must have for the condition to hold, if bounded.

    Used to index rules by verb and resource: `None` means the condition does not constrain
    these fields to a finite set of plain values.
    """
    if isinstance(node, ConditionAND):
        bounds = [required_values(a, fields) for a in node.args]
        known = [b for b in bounds if b is not None]
        if not known:
            return None
        result = known[0]
        for other in known[1:]:
            result &= other
        return result
    if isinstance(node, ConditionOR):
        union: frozenset[str] = frozenset()
        for arg in node.args:
            bound = required_values(arg, fields)
            if bound is None:
                return None
            union |= bound
        return union
    if isinstance(node, ConditionFieldEqualsValueExpression) and node.field in fields:
        value = node.value
        if (
            isinstance(value, SigmaString)
            and not isinstance(value, SigmaCasedString)
            and all(isinstance(p, str) for p in value.s)
        ):
            return frozenset({"".join(str(p) for p in value.s).lower()})
        if isinstance(value, SigmaNull):
            return frozenset({""})  # absent: an event without it is keyed ""
    return None
