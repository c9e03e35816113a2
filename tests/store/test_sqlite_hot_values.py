"""The SQLite row's hot columns, read by the unrolled `_hot_values`, against a loop over
HOT_COLUMNS' paths (`get`, the way encode read them before), the reference."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from kubetrail.demo.generate import lines
from kubetrail.parse import normalize, normalize_or_error
from kubetrail.store.sqlite.events import HOT_COLUMNS, _hot_values
from tests.test_parse_errors import REAL_EVENTS

HOT_PATHS = [tuple(field.split(".")) for field, _ in HOT_COLUMNS]


def get(doc: dict[str, Any], path: tuple[str, ...]) -> Any:
    """The value at `path` if it is a str or an int, else None."""
    value: Any = doc
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value if isinstance(value, str | int) else None


def reference(doc: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(get(doc, path) for path in HOT_PATHS)


def test_the_demo_cluster_real_and_unparsable_events_give_the_same_hot_columns() -> None:
    docs = [normalize(line) for line in lines(minutes=10, seed=4)]
    docs += [normalize(orjson.dumps(event)) for event in REAL_EVENTS]
    docs += [normalize_or_error(text) for text in ("not json", '{"kind": "Event"}', "[]")]
    assert len(_hot_values(docs[0])) == len(HOT_COLUMNS)
    for doc in docs:
        assert _hot_values(doc) == reference(doc)
    # every column is filled somewhere, the status code as an int
    filled = [any(_hot_values(doc)[i] is not None for doc in docs) for i in range(len(HOT_COLUMNS))]
    assert all(filled)


leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=4,
)
PARTS = sorted({part for path in HOT_PATHS for part in path})


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """Documents with something (a leaf, a list, an object, nothing) at or around each hot
    path, under plain dicts only."""
    doc: dict[str, Any] = {}
    for path in HOT_PATHS:
        if not draw(st.booleans()):
            continue
        depth = draw(st.integers(1, len(path)))
        node = doc
        for part in path[: depth - 1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[path[depth - 1]] = draw(values)
    extra = draw(st.dictionaries(st.sampled_from(PARTS), values, max_size=2))
    return {**extra, **doc}


@settings(max_examples=1000)
@given(documents())
def test_any_document_gives_the_same_hot_columns(doc: dict[str, Any]) -> None:
    assert _hot_values(doc) == reference(doc)
