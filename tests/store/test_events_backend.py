"""The behaviour of an events store, once per backend: embedded SQLite and ClickHouse.

The events are the query tests' corpus (demo cluster sample, the brief's events, hand-written
edge cases, an unparsable line), stored through `append` as the service stores them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kubetrail.query import compile_query
from kubetrail.store.base import EventStore, NewEvent, StoreError, event_id
from tests.query.corpus import UNPARSABLE_AT, micros
from tests.query.test_search_sqlite import CASES, CORPUS, Oracle, expected
from tests.store.backends import EVENT_BACKENDS, events_store

INTAKES = {"demo": 1, "lab": 2}
START = micros("2020-01-01T00:00:00Z")
END = micros("2030-01-01T00:00:00Z")


def new_event(key: str) -> NewEvent:
    intake, message, doc = CORPUS[key]
    start = doc.get("event", {}).get("start") or UNPARSABLE_AT
    return NewEvent(event_id(INTAKES[intake], message), micros(start), intake, doc, message)


EVENTS = {key: new_event(key) for key in CORPUS}
KEY_OF = {e.id.hex(): key for key, e in EVENTS.items()}


@pytest.fixture(params=EVENT_BACKENDS)
def empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    store = events_store(request, request.param, tmp_path)
    yield store
    store.close()


@pytest.fixture
def store(empty: EventStore) -> EventStore:
    assert empty.append(list(EVENTS.values())) == len(EVENTS)
    return empty


def where(store: EventStore, query: str) -> Any:
    return compile_query(query, store.dialect, datetime(2025, 9, 14, 9, 5, tzinfo=UTC))


def found(store: EventStore, query: str) -> set[str]:
    page = store.search(where(store, query), START, END, 1000, None)
    return {KEY_OF[e["kubetrail"]["event_id"]] for e in page.events}


def test_append_is_idempotent(empty: EventStore) -> None:
    events = list(EVENTS.values())
    assert empty.append(events[:10]) == 10
    # a retry of the first batch overlapping new events; one event twice in a batch
    assert empty.append([*events[5:20], events[19]]) == 10
    assert empty.append(events) == len(events) - 20
    assert empty.count(where(empty, "*"), START, END) == len(events)


def test_search_pages_newest_first_without_gaps_or_repeats(store: EventStore) -> None:
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        page = store.search(where(store, "*"), START, END, 7, cursor)
        assert len(page.events) <= 7
        seen.extend(page.events)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(KEY_OF[e["kubetrail"]["event_id"]] for e in seen) == sorted(EVENTS)
    stamps = [e["@timestamp"] for e in seen]
    assert stamps == sorted(stamps, reverse=True)


def test_an_event_reads_back_as_stored(store: EventStore) -> None:
    key = "brief-exec"
    event = EVENTS[key]
    got = store.get(event.id.hex())
    assert got is not None
    assert got["message"] == event.message
    assert got["kubetrail"]["event_id"] == event.id.hex()
    assert got["kubetrail"]["intake"] == "lab"
    assert got["@timestamp"].startswith(event.doc["event"]["start"][:19])
    assert got["user"] == event.doc["user"]
    assert got["kubernetes"] == event.doc["kubernetes"]
    assert store.get("00" * 16) is None
    assert store.get("not hex") is None


@pytest.mark.parametrize(
    ("query", "oracle", "must"), CASES, ids=[case[0] or "empty" for case in CASES]
)
def test_query_language_over_the_backend(
    store: EventStore, query: str, oracle: Oracle, must: set[str]
) -> None:
    want = expected(oracle)
    assert must <= want
    assert found(store, query) == want
    assert store.count(where(store, query), START, END) == len(want)


def test_time_range_bounds_the_search(store: EventStore) -> None:
    lo, hi = micros("2025-09-14T09:03:00Z"), micros("2025-09-14T09:05:00Z")
    page = store.search(where(store, "*"), lo, hi, 1000, None)
    inside = {k for k, e in EVENTS.items() if lo <= e.ts_us < hi}
    assert inside and inside != set(EVENTS)
    assert {KEY_OF[e["kubetrail"]["event_id"]] for e in page.events} == inside


def _expected_facet(field: str, query: str = "*") -> Counter[Any]:
    from tests.query.corpus import values

    picked = expected(lambda d, m: True) if query == "*" else set()
    counts: Counter[Any] = Counter()
    for key in picked:
        doc = CORPUS[key][2]
        for value in values(doc, field):
            if value is not None and value != "":
                counts[value] += 1
    return counts


@pytest.mark.parametrize(
    "field",
    [
        "kubernetes.resource",  # hot text column
        "http.response.status_code",  # hot number column
        "user.roles",  # list: each element counted
        "user_agent.name",  # a field in the document
        "kubernetes.spec.host_network",  # a boolean in the document
        "kubernetes.spec.containers.name",  # in a list of objects, in the document
        "kubernetes.spec.containers.ports.containerPort",  # a number, two lists deep
    ],
)
def test_facet_counts_the_values_of_a_field(store: EventStore, field: str) -> None:
    want = _expected_facet(field)
    facet = store.facet(field, where(store, "*"), START, END, 100)
    assert want, f"the corpus has no {field}"
    assert dict(facet.values) == dict(want)
    counts = [n for _, n in facet.values]
    assert counts == sorted(counts, reverse=True)
    top = store.facet(field, where(store, "*"), START, END, 2)
    assert [n for _, n in top.values] == counts[:2]


def test_facet_follows_the_query(store: EventStore) -> None:
    facet = store.facet("event.action", where(store, "kubernetes.resource:pods"), START, END, 50)
    pods = [e for e in EVENTS.values() if e.doc.get("kubernetes", {}).get("resource") == "pods"]
    assert dict(facet.values) == dict(Counter(e.doc["event"]["action"] for e in pods))


def test_facet_rejects_an_injected_field_name(store: EventStore) -> None:
    with pytest.raises(StoreError):
        store.facet("user.name') OR 1=1 --", where(store, "*"), START, END, 10)


def test_histogram_buckets_every_event_once(store: EventStore) -> None:
    step = 60_000_000
    lo = micros("2025-09-14T08:00:00Z")
    hi = micros("2025-09-14T10:00:00Z")
    buckets = store.histogram(where(store, "*"), lo, hi, step)
    want = Counter(
        lo + (e.ts_us - lo) // step * step for e in EVENTS.values() if lo <= e.ts_us < hi
    )
    assert dict(buckets) == dict(want)
    assert [b for b, _ in buckets] == sorted(want)


def test_retention_drops_whole_days_before_the_cutoff(empty: EventStore) -> None:
    day = 86_400_000_000
    base = EVENTS["brief-exec"]
    copies = [
        NewEvent(
            event_id(9 + n, base.message),  # the same event from four intakes
            micros("2025-09-10T12:00:00Z") + n * day,
            "lab",
            base.doc,
            base.message,
        )
        for n in range(4)
    ]
    assert empty.append(copies) == 4
    cutoff = micros("2025-09-12T00:00:00Z")  # the 10th and 11th go, the 12th and 13th stay
    assert empty.delete_before(cutoff) == 2
    left = empty.search(where(empty, "*"), START, END, 10, None).events
    assert sorted(e["@timestamp"][:10] for e in left) == ["2025-09-12", "2025-09-13"]


@pytest.mark.parametrize(
    "value",
    ["x' OR 1=1 --", "'); DROP TABLE events; --", "%(p0)s", "\\' OR ''='", "{}", "null"],
)
def test_injection_shaped_values_are_data(store: EventStore, value: str) -> None:
    quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    assert found(store, "user.name:" + quoted) == set()
    assert found(store, "user_agent.name:" + quoted) == set()
    store.facet("user.name", where(store, quoted), START, END, 5)
    assert store.count(where(store, "*"), START, END) == len(EVENTS)


def test_rows_encoded_elsewhere_store_as_append_would(empty: EventStore) -> None:
    """What parse workers hand over (rows from the store's encoder, the raw text kept apart)
    reads back as `append` stores it; a retried batch is ignored."""
    from kubetrail.store.base import EncodingStore

    assert isinstance(empty, EncodingStore)
    encoded = [(empty.encoder(e), e.message) for e in EVENTS.values()]
    assert empty.append_encoded(encoded) == len(EVENTS)
    assert empty.append_encoded(encoded[:5]) == 0
    for key, event in list(EVENTS.items())[:8]:
        stored = empty.get(event.id.hex())
        assert stored is not None, key
        assert stored["message"] == event.message
        assert {k: v for k, v in stored.items() if k not in ("@timestamp", "kubetrail")} == {
            k: v for k, v in event.doc.items() if k != "kubetrail"
        }
