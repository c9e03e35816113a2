"""Events on two ClickHouse shards behind a `Distributed` table (`?cluster=` in the URL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from clickhouse_driver import Client

from kubetrail.query import compile_query
from kubetrail.store.clickhouse.events import ClickHouseEvents
from tests.query.corpus import micros
from tests.query.test_search_sqlite import CASES, expected
from tests.store.test_events_backend import END, EVENTS, KEY_OF, START


@pytest.fixture(scope="module")
def shards() -> Iterator[list[Any]]:
    from tests.conftest import _server_or_skip
    from tests.scale.servers import ServerUnavailable, clickhouse_servers

    try:
        with clickhouse_servers(2, cluster="kubetrail") as servers:
            yield servers
    except ServerUnavailable as exc:
        _server_or_skip(exc)


@pytest.fixture(scope="module")
def store(shards: list[Any]) -> Iterator[ClickHouseEvents]:
    url = shards[0].url(f"kt_{uuid.uuid4().hex[:12]}") + "?cluster=kubetrail"
    events = ClickHouseEvents(url)
    assert events.append(list(EVENTS.values())) == len(EVENTS)
    yield events
    events.close()


def local_counts(shards: list[Any], database: str) -> list[int]:
    counts = []
    for shard in shards:
        client = Client(host="127.0.0.1", port=shard.tcp_port, database=database)
        counts.append(int(client.execute("SELECT count() FROM events_local")[0][0]))
        client.disconnect()
    return counts


def test_rows_are_spread_over_both_shards(store: ClickHouseEvents, shards: list[Any]) -> None:
    counts = local_counts(shards, store.url.database)
    assert sum(counts) == len(EVENTS)
    assert all(n > 0 for n in counts), counts


def test_searches_answer_from_both_shards(store: ClickHouseEvents) -> None:
    everything = compile_query("*", store.dialect)
    seen, cursor = [], None
    while True:
        page = store.search(everything, START, END, 10, cursor)
        seen += [KEY_OF[e["kubetrail"]["event_id"]] for e in page.events]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(EVENTS)
    assert store.count(everything, START, END) == len(EVENTS)
    facet = store.facet("kubernetes.resource", everything, START, END, 100)
    assert sum(n for _, n in facet.values) == sum(
        1 for e in EVENTS.values() if e.doc.get("kubernetes", {}).get("resource")
    )


@pytest.mark.parametrize(("query", "oracle", "must"), CASES[:25], ids=[c[0] for c in CASES[:25]])
def test_queries_over_the_shards(
    store: ClickHouseEvents, query: str, oracle: Any, must: Any
) -> None:
    page = store.search(compile_query(query, store.dialect), START, END, 1000, None)
    assert {KEY_OF[e["kubetrail"]["event_id"]] for e in page.events} == expected(oracle)


def test_a_retry_is_not_stored_again_on_another_shard(store: ClickHouseEvents) -> None:
    assert store.append(list(EVENTS.values())[:10]) == 0
    assert store.count(compile_query("*", store.dialect), START, END) == len(EVENTS)


def test_retention_drops_the_old_days_on_every_shard(shards: list[Any]) -> None:
    url = shards[0].url(f"kt_{uuid.uuid4().hex[:12]}") + "?cluster=kubetrail"
    events = ClickHouseEvents(url)
    try:
        assert events.append(list(EVENTS.values())) == len(EVENTS)
        old = [e for e in EVENTS.values() if e.ts_us < micros("2025-01-01T00:00:00Z")]
        assert old, "the corpus has events from before 2025"
        assert events.delete_before(micros("2025-01-01T00:00:00Z")) == len(old)
        left = local_counts(shards, events.url.database)
        assert sum(left) == len(EVENTS) - len(old)
    finally:
        events.close()
