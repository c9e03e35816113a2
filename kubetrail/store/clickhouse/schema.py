"""The events table on ClickHouse: its DDL for a server version, and rows for it.

One schema for every ClickHouse from 18.16 (Debian's) on: `ts` is Int64 microseconds (no
DateTime64 before 20.1), the document is kept whole in `doc` (what searches return) and
flattened into `doc_keys`/`doc_values` (what queries test: 18.16 has no JSONExtract*, see
kubetrail.query.clickhouse), except the fields of the path columns (one column per field every
event has) and the objects, listed by path in `doc_objects`. Servers from 20.1 get
LowCardinality text columns, which 18.16 only had behind an experimental flag.

Partitions are days, so retention drops whole days. The sort key starts with the hour, so a
time range skips the rest, then the hot fields the common hunts filter on, then (ts, id):
ReplacingMergeTree collapses rows with the same sort key, which a retried event has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

import orjson

from kubetrail.parse.errors import is_error_document
from kubetrail.query import HOT_FIELDS
from kubetrail.query.clickhouse import LIST_PATHS, OBJECTS_COLUMN, PATH_COLUMNS
from kubetrail.store.base import NewEvent
from kubetrail.store.sqlite.events import HOT_COLUMNS

_VERSION: Final = re.compile(r"(\d+)\.(\d+)")
TABLE: Final = "events"
# the text columns of few distinct values: LowCardinality where the server has it stable
_LOW_CARDINALITY: Final = frozenset(
    {"intake", "code", "action", "outcome", "namespace", "resource", "subresource"}
)
INSERT_COLUMNS: Final = (
    "ts",
    "id",
    "intake",
    *(column for _, column in HOT_COLUMNS),
    "parse_error",
    "doc",
    "message",
    "doc_keys",
    "doc_values",
    *PATH_COLUMNS.values(),
    OBJECTS_COLUMN,
)


@dataclass(frozen=True)
class Features:
    """What the connected server supports, from `SELECT version()`."""

    version: tuple[int, int]

    @classmethod
    def of(cls, version: str) -> Features:
        found = _VERSION.match(version)
        return cls((int(found[1]), int(found[2])) if found else (0, 0))

    @property
    def low_cardinality(self) -> bool:
        return self.version >= (20, 1)  # stable (no experimental flag) from here on


def create_table(features: Features, name: str = TABLE) -> str:
    def text(column: str) -> str:
        if column in _LOW_CARDINALITY and features.low_cardinality:
            return f"{column} LowCardinality(String)"
        return f"{column} String"

    hot = [
        text(column) if column != "status_code" else "status_code Nullable(UInt16)"
        for _, column in HOT_COLUMNS
    ]
    key_type = "Array(LowCardinality(String))" if features.low_cardinality else "Array(String)"
    columns = ",\n    ".join(
        [
            "ts Int64",
            "id FixedString(16)",
            text("intake"),
            *hot,
            "parse_error UInt8",
            "doc String",
            "message String",
            f"doc_keys {key_type}",
            "doc_values Array(String)",
            *added_columns().values(),
        ]
    )
    return (
        f"CREATE TABLE IF NOT EXISTS {name} (\n    {columns}\n) "
        "ENGINE = ReplacingMergeTree "
        "PARTITION BY toDate(toDateTime(intDiv(ts, 1000000))) "
        "ORDER BY (intDiv(ts, 3600000000), resource, action, user_name, ts, id)"
    )


def added_columns() -> dict[str, str]:
    """The columns added after the first release, by name: the `PATH_COLUMNS` and
    `doc_objects`. A row stored before a column existed reads it from its flattened pairs
    (which held every field, and every object as `{}`): the DEFAULT is computed on read."""
    # the paths are constants made of field-name characters: no quoting needed
    columns = {
        column: (
            f"{column} Array(String) DEFAULT "
            f"arrayFilter((v, k) -> k = '{path}', doc_values, doc_keys)"
            if path in LIST_PATHS
            else f"{column} String DEFAULT doc_values[indexOf(doc_keys, '{path}')]"
        )
        for path, column in PATH_COLUMNS.items()
    }
    columns[OBJECTS_COLUMN] = (
        f"{OBJECTS_COLUMN} Array(String) DEFAULT "
        "arrayFilter((k, v) -> v = '{}', doc_keys, doc_values)"
    )
    return columns


def missing_columns(existing: set[str]) -> list[str]:
    """`ALTER TABLE ... ADD COLUMN` clauses for the columns a table made by an older kubetrail
    lacks."""
    return [
        f"ADD COLUMN {definition}"
        for column, definition in added_columns().items()
        if column not in existing
    ]


# fields the compiler reads from their own columns (kubetrail.query.HOT_FIELDS): not flattened
_IN_COLUMNS: Final = frozenset(
    field for field, hot in HOT_FIELDS.items() if hot.type in ("text", "integer")
)


@dataclass(slots=True)
class Flat:
    """A document as the table keeps it (see `flatten`)."""

    keys: list[str]
    values: list[str]
    objects: list[str]  # the path of each object
    hot: list[Any]  # the hot columns' values, in HOT_COLUMNS order (`_text`, `_status`)
    paths: list[Any]  # the path columns' JSON texts (lists of them in LIST_PATHS), in order


def flatten(doc: dict[str, Any]) -> Flat:
    """Every leaf of `doc` as (dotted path, JSON text); list elements under the list's path.

    Objects are listed apart by path, so that `field:*` finds them set. Fields
    kept in hot columns and in path columns are returned apart, not in the pairs: queries read
    those from their columns. One walk serves all: this runs for every stored event, in C
    where the extension is built (`_flatten.c`, about 3x faster), else in Python (`_flattened`).
    """
    if _flatten is not None:
        done = _flatten.flatten(doc)
        if done is not None:
            return Flat(*done)
    return _flattened(doc)


def _flattened(doc: dict[str, Any]) -> Flat:
    """`flatten` in Python: the reference, which the C walk declines to (odd keys)."""
    walk = _Walk([], [], [], {}, {})
    for key, value in doc.items():
        _add(key, value, walk)
    hot, paths = walk.hot, walk.paths
    return Flat(
        walk.keys,
        walk.values,
        walk.objects,
        [_status(hot.get(field)) if status else _text(hot.get(field)) for field, status in _HOT],
        [paths.get(path, [] if is_list else "") for path, is_list in _PATHS],
    )


@dataclass(slots=True)
class _Walk:
    """`_flattened`'s containers as it walks: the leaves by path."""

    keys: list[str]
    values: list[str]
    objects: list[str]
    hot: dict[str, Any]  # field -> value
    paths: dict[str, Any]  # field -> JSON text (a list of them in LIST_PATHS)


# the hot columns' fields in order, each with whether it is the status code; the path columns'
_HOT: Final = tuple((field, column == "status_code") for field, column in HOT_COLUMNS)
_PATHS: Final = tuple((path, path in LIST_PATHS) for path in PATH_COLUMNS)


def _add(path: str, value: Any, flat: _Walk) -> None:
    kind = type(value)
    if kind is dict:
        flat.objects.append(path)
        prefix = path + "."
        for key, item in value.items():
            _add(prefix + key, item, flat)
    elif kind is list:
        for item in value:
            _add(path, item, flat)
    elif path in _IN_COLUMNS:
        flat.hot[path] = value
    else:
        text = _json_text(value)
        if path not in PATH_COLUMNS:
            flat.keys.append(path)
            flat.values.append(text)
        elif path not in LIST_PATHS:
            flat.paths[path] = text
        elif path in flat.paths:
            flat.paths[path].append(text)
        else:
            flat.paths[path] = [text]


# JSON texts of the strings documents repeat (roles, user agents, levels, namespaces): a
# lookup costs a third of encoding. Bounded: unique values (times, paths) pass through it.
_TEXTS: dict[str, str] = {}
_TEXTS_SIZE: Final = 8192


def _json_text(value: Any) -> str:
    if type(value) is str:
        text = _TEXTS.get(value)
        if text is None:
            if len(_TEXTS) >= _TEXTS_SIZE:
                _TEXTS.clear()
            text = _TEXTS[value] = orjson.dumps(value).decode()
        return text
    return orjson.dumps(value).decode()


try:  # built by setup.py where a C compiler is found
    from kubetrail.store.clickhouse import _flatten
except ImportError:  # pragma: no cover - an install without a compiler
    _flatten = None  # type: ignore[assignment]
else:
    _flatten.configure(
        _IN_COLUMNS,
        frozenset(PATH_COLUMNS),
        LIST_PATHS,
        _TEXTS,
        _TEXTS_SIZE,
        _json_text,
        _HOT,
        _PATHS,
    )


def to_clickhouse_row(event: NewEvent) -> list[Any]:
    """The hot columns and document body as the SQLite store keeps them, plus the flattened
    document (kubetrail.store.sqlite.events.to_row is the reference)."""
    doc = event.doc
    flat = flatten(doc)
    body = doc.copy()  # a third of the time of a comprehension without "message"
    body.pop("message", None)
    return [
        event.ts_us,
        event.id,
        event.intake,
        *flat.hot,
        int(is_error_document(doc)),
        orjson.dumps(body).decode(),
        event.message,
        flat.keys,
        flat.values,
        *flat.paths,
        flat.objects,
    ]


MESSAGE_INDEX: Final = INSERT_COLUMNS.index("message")


def encode(event: NewEvent) -> list[Any]:
    """`to_clickhouse_row` without the raw text (None in its place): what a parse worker sends
    back (kubetrail.ingest.parsers); the service keeps the text and puts it in."""
    row = to_clickhouse_row(event)
    row[MESSAGE_INDEX] = None
    return row


def _text(value: Any) -> str:
    return value if type(value) is str else str(value) if isinstance(value, int) else ""


def _status(value: Any) -> int | None:
    return value if type(value) is int and 0 <= value < 65536 else None
