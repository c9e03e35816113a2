"""The event a rule looks at: the raw audit event and its ECS document, read by field path.

A rule may name a field either way: the raw audit path SigmaHQ uses (`objectRef.resource`,
`requestObject.spec.containers.securityContext.privileged`) or the ECS name
(`kubernetes.resource`). Which one is decided once per field name, by its first key: a key of
the audit Event is read from the raw event, any other from the document (so a sender cannot
shadow a normalized field with a key of its own); `user`, which both have, is read from the
raw event and then, when absent there, from the document. A path that runs
through a list looks at every element, so a field has a *list* of values; a rule matches when
any of them does. A key that itself contains dots (`authorization.k8s.io/decision`) is matched
whole.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

import orjson

from kubetrail.parse import exec_command

Values = list[Any]
Resolver = Callable[["Event"], Values]

_MISSING: Final[Any] = object()
_CONTAINERS: Final = (list, dict)  # a tuple: isinstance with `list | dict` is slower


class Event:
    """One audit event seen through both spellings; values are computed once per field."""

    __slots__ = ("_time", "cache", "doc", "event_id", "raw")

    def __init__(self, raw: dict[str, Any], doc: dict[str, Any], event_id: str) -> None:
        self.raw = raw
        self.doc = doc
        self.event_id = event_id
        self.cache: dict[str, Values] = {}  # field -> values; the matcher fills it too
        self._time: float | None = None

    def values(self, field: str) -> Values:
        """Every value of `field` (flattened through lists); empty when it is absent."""
        found = self.cache.get(field)
        if found is None:
            found = self.cache[field] = resolver(field)(self)
        return found

    def first(self, field: str) -> Any:
        found = self.values(field)
        return found[0] if found else None

    def raw_text(self) -> str:
        """The raw event as JSON text, for keyword searches when the document has no message."""
        return orjson.dumps(self.raw).decode()

    @property
    def audit_id(self) -> str:
        return str(self.raw.get("auditID") or self.event_id)

    @property
    def time(self) -> float:
        """Seconds since the epoch when the apiserver received the request (0 when unknown)."""
        if self._time is None:
            self._time = parse_time(
                self.raw.get("requestReceivedTimestamp") or self.raw.get("stageTimestamp")
            )
        return self._time


def parse_time(text: object) -> float:
    if not isinstance(text, str) or not text:
        return 0.0
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _walk(node: Any, parts: tuple[str, ...], at: int, out: Values) -> None:
    if at == len(parts):
        if isinstance(node, list):
            out.extend(v for v in node if v is not None)
        elif isinstance(node, dict):
            # a map (a ConfigMap's `data`, labels) is matched by its values, like a list
            out.extend(v for v in node.values() if v is not None)
        elif node is not None:
            out.append(node)
        return
    if isinstance(node, list):
        for item in node:
            _walk(item, parts, at, out)
        return
    if not isinstance(node, dict):
        return
    child = node.get(parts[at], _MISSING)
    if child is not _MISSING:
        _walk(child, parts, at + 1, out)
        return
    # a key that contains dots, such as an annotation: the longest join that exists wins
    for end in range(len(parts), at + 1, -1):
        child = node.get(".".join(parts[at:end]), _MISSING)
        if child is not _MISSING:
            _walk(child, parts, end, out)
            return


# The top-level keys of an audit.k8s.io/v1 Event, and those the ECS document shares with it
RAW_KEYS: Final = frozenset(
    {
        "kind",
        "apiVersion",
        "level",
        "auditID",
        "stage",
        "requestURI",
        "verb",
        "user",
        "impersonatedUser",
        "sourceIPs",
        "userAgent",
        "objectRef",
        "responseStatus",
        "requestObject",
        "responseObject",
        "requestReceivedTimestamp",
        "stageTimestamp",
        "annotations",
    }
)
SHARED_KEYS: Final = frozenset({"user"})


def _reader(parts: tuple[str, ...], from_raw: bool) -> Resolver:
    """`_walk` from the raw event or the document, with the usual cases (nested dicts down to
    one value or a list of values, an annotation key with dots) inlined."""
    size = len(parts)
    rests = tuple(".".join(parts[at:]) for at in range(size))
    if size == 1:
        key = parts[0]

        def read_key(event: Event) -> Values:
            node = (event.raw if from_raw else event.doc).get(key)
            if node is None:
                return []
            if isinstance(node, _CONTAINERS):
                return _leaf(node)
            return [node]

        return read_key

    def read(event: Event) -> Values:
        node: Any = event.raw if from_raw else event.doc
        for at, part in enumerate(parts):
            if not isinstance(node, dict):
                out: Values = []
                _walk(node, parts, at, out)
                return out
            child = node.get(part, _MISSING)
            if child is _MISSING:
                if at + 1 == size:
                    return []
                # a key that contains dots: `_walk` tries the longest join first
                child = node.get(rests[at], _MISSING)
                if child is _MISSING and at + 2 == size:
                    return []  # that was the only join there is
                if child is _MISSING or isinstance(child, _CONTAINERS):
                    out = []
                    _walk(node, parts, at, out)
                    return out
                return [] if child is None else [child]
            node = child
        if node is None:
            return []
        if isinstance(node, _CONTAINERS):
            return _leaf(node)
        return [node]

    return read


def _leaf(node: list[Any] | dict[str, Any]) -> Values:
    """The values at the end of a path: a list's or a map's, as `_walk` gives them."""
    items = node if isinstance(node, list) else node.values()
    return [v for v in items if v is not None]


def _path_resolver(field: str) -> Resolver:
    parts = tuple(field.split("."))
    if parts[0] in SHARED_KEYS:
        raw, doc = _reader(parts, True), _reader(parts, False)
        return lambda event: raw(event) or doc(event)
    return _reader(parts, parts[0] in RAW_KEYS)


def _exec_command(event: Event) -> Values:
    """kubetrail.exec.command: from the document, else decoded from the raw requestURI."""
    kubetrail = event.doc.get("kubetrail")
    command = kubetrail.get("exec", {}).get("command") if isinstance(kubetrail, dict) else None
    if not command:
        uri = event.raw.get("requestURI")
        command = exec_command(uri) if isinstance(uri, str) and "command=" in uri else ""
    return [command] if command else []


# Fields kubetrail derives rather than reads; documented in docs/detection-rules.md
DERIVED: Final[dict[str, Resolver]] = {"kubetrail.exec.command": _exec_command}
_resolvers: dict[str, Resolver] = {}


def resolver(field: str) -> Resolver:
    """The function reading `field` from an event (built once per field name)."""
    found = _resolvers.get(field)
    if found is None:
        found = DERIVED.get(field) or _path_resolver(field)
        _resolvers[field] = found
    return found
