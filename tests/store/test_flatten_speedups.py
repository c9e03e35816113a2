"""The C walk of a document into the ClickHouse table's pairs and columns
(kubetrail/store/clickhouse/_flatten.c) against the Python one.

The Python walk (`schema._flattened`) is the reference: for every document, `flatten` gives
the very same containers (the same paths in the same order, the same JSON texts), or raises
what the Python walk raises.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubetrail.demo.generate import lines
from kubetrail.parse import normalize
from kubetrail.query.clickhouse import LIST_PATHS, PATH_COLUMNS
from kubetrail.store.clickhouse import schema
from kubetrail.store.sqlite.events import HOT_COLUMNS
from tests.test_parse_errors import REAL_EVENTS

try:
    from kubetrail.store.clickhouse import _flatten
except ImportError:  # built without a C compiler
    _flatten = None  # type: ignore[assignment]
needs_c = pytest.mark.skipif(_flatten is None, reason="built without a C compiler")

DOCS = [normalize(line) for line in lines(minutes=10, seed=3)]


def outcome(walk: Any, doc: Any) -> tuple[str, Any]:
    try:
        return "done", walk(doc)
    except Exception as exc:  # the same error, whichever walk raised it
        return "raised", (type(exc), str(exc))


def assert_same(doc: Any) -> None:
    c, python = outcome(schema.flatten, doc), outcome(schema._flattened, doc)
    assert c == python
    if c[0] == "done":  # texts equal down to their type
        assert all(type(text) is str for text in c[1].values)


@needs_c
def test_the_demo_cluster_and_real_events_are_flattened_alike_in_c() -> None:
    docs = DOCS + [normalize(orjson.dumps(event)) for event in REAL_EVENTS]
    for doc in docs:
        assert _flatten.flatten(doc) is not None  # none of them is declined
        assert_same(doc)
    # pod specs, roles, labels: every kind of place a leaf goes is exercised
    flats = [schema.flatten(doc) for doc in docs]
    assert any(flat.keys for flat in flats)
    assert any(v and isinstance(v, list) for flat in flats for v in flat.paths)
    assert any(v and isinstance(v, str) for flat in flats for v in flat.paths)


# keys that make up the paths of hot, path and list-path columns, and others
SEGMENTS = [
    *sorted({part for path in PATH_COLUMNS for part in path.split(".")}),
    *sorted({part for field, _ in HOT_COLUMNS for part in field.split(".")}),
    "message",
    "event",
    "action",
    "labels",
    "",
    ".",
    "é",
    "a\x00b",
]
leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()  # control characters, quotes, backslashes, surrogates, emoji
    | st.sampled_from(['"', "\\", "\x7f", "\u2028", "\ud800", "\x1f", "\b\f\n\r\t"])
)
documents = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(SEGMENTS) | st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=30,
)


@needs_c
@settings(max_examples=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(SEGMENTS) | st.text(max_size=5), documents, max_size=6))
def test_any_document_is_flattened_alike(doc: dict[str, Any]) -> None:
    assert_same(doc)


@needs_c
@pytest.mark.parametrize(
    "doc",
    [
        {"user": {1: "x"}},  # a key Python cannot join to a path: the same TypeError
        {1: "x", "user": {"name": "a"}},  # a top-level key that is not a str
        {"kubernetes": {"spec": {"containers": [{"image": "a"}, {"image": 2**64}]}}},
        {"user": {"roles": ["a", "\ud800"]}},  # not UTF-8: orjson's error
        {"big": 2**63, "small": -(2**63), "too big": 2**64},
        {"": {"": {"name": "a"}}, ".": {".": 1}},
    ],
)
def test_odd_documents_are_flattened_alike(doc: dict[Any, Any]) -> None:
    assert_same(doc)


STATUS = next(field for field, column in HOT_COLUMNS if column == "status_code")
TEXTS = [field for field, column in HOT_COLUMNS if column != "status_code"]


def nested(field: str, value: Any) -> dict[str, Any]:
    *parents, last = field.split(".")
    doc: dict[str, Any] = {last: value}
    for part in reversed(parents):
        doc = {part: doc}
    return doc


@pytest.mark.parametrize(
    ("value", "column"),
    [
        *[(404, 404), (0, 0), (65535, 65535), (65536, None), (-1, None), (2**70, None)],
        *[(True, None), ("404", None), (4.0, None), (None, None), ([200], 200)],
    ],
)
def test_the_status_column_takes_an_int_that_fits_a_uint16(value: Any, column: Any) -> None:
    at = [field for field, _ in HOT_COLUMNS].index(STATUS)
    for walk in (schema.flatten, schema._flattened):
        assert walk(nested(STATUS, value)).hot[at] == column


@pytest.mark.parametrize(
    ("value", "column"),
    [
        *[("get", "get"), ("", ""), (7, "7"), (2**70, str(2**70)), (True, "True")],
        *[(1.5, ""), (None, ""), (["a", "b"], "b")],
    ],
)
def test_a_text_column_takes_a_str_or_the_digits_of_an_int(value: Any, column: Any) -> None:
    at = [field for field, _ in HOT_COLUMNS].index(TEXTS[0])
    for walk in (schema.flatten, schema._flattened):
        flat = walk(nested(TEXTS[0], value))
        assert flat.hot[at] == column
        assert flat.hot.count("") == len(TEXTS) - (column != "")  # the others: absent


@needs_c
def test_the_caches_stay_bounded_and_right() -> None:
    # ever-new keys (labels) and values (uids): the caches start over, the walks still agree
    doc = {"labels": {f"k{i}": f"v{i}" for i in range(70_000)}, "user": {"name": "a"}}
    assert_same(doc)
    assert len(schema._TEXTS) <= schema._TEXTS_SIZE
    assert_same(DOCS[0])


@needs_c
def test_list_paths_collect_every_element_in_order() -> None:
    path = next(iter(sorted(LIST_PATHS)))
    *parents, last = path.split(".")
    doc: dict[str, Any] = {last: ["a", "b"]}
    for part in reversed(parents):
        doc = {part: [doc, doc] if part == parents[-1] else doc}
    flat = schema.flatten(doc)
    assert flat.paths[list(PATH_COLUMNS).index(path)] == ['"a"', '"b"', '"a"', '"b"']
    assert flat == schema._flattened(doc)


def test_the_c_walk_is_built_where_ci_runs() -> None:
    """Without it, ClickHouse rows are flattened in Python at a third of the speed: CI, which
    has a compiler, must not lose it without notice."""
    if not os.environ.get("CI"):
        pytest.skip("checked in CI, where a C compiler is present")
    assert _flatten is not None


@needs_c
def test_a_document_nested_past_the_recursion_limit_raises_recursion_error() -> None:
    doc: Any = "leaf"
    for depth in range(20_000):  # deeper than Python's limit, and than C's stack would take
        doc = {"a": doc} if depth % 2 else [doc]
    for walk in (schema.flatten, schema._flattened):
        with pytest.raises(RecursionError):
            walk({"nested": doc})
    assert_same({"nested": {"a": [{"a": ["leaf"]}]}})  # and the walks still agree after
