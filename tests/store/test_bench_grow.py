"""bench.store's growth of a SQLite store: the copies are stored events like the others.

The 10M figures rest on it: a copy with a clashing id would be skipped by the next ingest's
idempotency, and an unindexed address would make the next append merge millions of rows
inside the measured ingest.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

import bench.store
from bench.store import START_US, WEEK_US, events, grow_sqlite, pool
from kubetrail.query import compile_query
from kubetrail.store.sqlite.events import SqliteEvents


def test_growing_copies_the_week_into_the_following_weeks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench.store, "GROW_SLICE", 500)  # slices of 500, 500 and 200
    docs = pool()[:500]
    store = SqliteEvents(tmp_path / "events.db")
    for batch in events(1_200, docs):
        assert store.append(batch) == len(batch)

    grow_sqlite(store, 3)

    everything = compile_query("*", store.dialect)
    weeks = [START_US + k * WEEK_US for k in range(4)]
    assert [store.count(everything, *span) for span in itertools.pairwise(weeks)] == [1_200] * 3
    db = store._writer
    ids, distinct = db.execute("SELECT count(id), count(DISTINCT id) FROM events").fetchone()
    assert ids == distinct == 3_600
    # ids keep their time in front: each copy's are past the week before's
    seconds = db.execute(
        "SELECT min(substr(id, 1, 4)), max(substr(id, 1, 4)) FROM events GROUP BY (seq - 1) / 1200 "
        "ORDER BY 1"
    ).fetchall()
    assert all(seconds[k][1] < seconds[k + 1][0] for k in range(2))
    # every copy has its body and its address indexed
    assert db.execute("SELECT count(*) FROM bodies").fetchone()[0] == 3_600
    merged = db.execute("SELECT seq FROM index_marks WHERE name = 'source_index'").fetchone()[0]
    assert merged == 3_600
    # an event of the last copy is found by address and returned whole
    with_address = compile_query("source.ip:*", store.dialect)
    last_week = (START_US + 2 * WEEK_US, START_US + 3 * WEEK_US)
    event = store.search(with_address, *last_week, 1, None).events[0]
    address = event["source"]["ip"]
    query = compile_query(f'source.ip:"{address}"', store.dialect)
    found = store.search(query, *last_week, 1_200, None)
    assert event["kubetrail"]["event_id"] in {e["kubetrail"]["event_id"] for e in found.events}
    # and a fresh ingest after growth stores every event of it
    more = list(events(1_000, docs, first=3_600, start=START_US + 3 * WEEK_US))
    assert sum(store.append(batch) for batch in more) == 1_000
    store.close()
