"""The embedded event store on a real SQLite file: idempotent appends, retention, following."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from kubetrail.demo.generate import generate
from kubetrail.ingest.pipeline import prepare
from kubetrail.query import SqliteDialect, compile_query
from kubetrail.store.base import event_id
from kubetrail.store.sqlite import checkpoint
from kubetrail.store.sqlite import events as events_module
from kubetrail.store.sqlite.events import SqliteEvents
from kubetrail.store.sqlite.migrate import connect

ALL = compile_query("*", SqliteDialect())


def stored_events(minutes: int = 10) -> list[str]:
    return [orjson.dumps(e).decode() for e in generate(minutes=minutes, seed=3)]


def test_append_skips_retries_and_repeats_within_a_batch(tmp_path: Path) -> None:
    store = SqliteEvents(tmp_path / "events.db")
    texts = stored_events()
    batch = [prepare(t, 1, "a", None, 0) for t in texts]
    assert store.append(batch[:100] + batch[:10]) == 100
    assert store.append(batch) == len(texts) - 100
    assert store.count(ALL, 0, 2**62) == len(texts)
    # rows go in many to a statement: each body stays with its own event, retries or not
    for event in batch[95:105] + batch[-3:]:
        stored = store.get(event.id.hex())
        assert stored is not None and stored["message"] == event.message
    # the same text through another intake is another event
    assert store.append([prepare(texts[0], 2, "b", None, 0)]) == 1


def test_retention_deletes_old_events_and_their_bodies(tmp_path: Path) -> None:
    store = SqliteEvents(tmp_path / "events.db")
    events = [prepare(t, 1, "a", None, 0) for t in stored_events()]
    store.append(events)
    cutoff = sorted(e.ts_us for e in events)[len(events) // 2]
    deleted = store.delete_before(cutoff)
    assert deleted == sum(e.ts_us < cutoff for e in events)
    assert store.count(ALL, 0, 2**62) == len(events) - deleted
    orphans = (
        store._reader()
        .execute("SELECT count(*) FROM bodies WHERE seq NOT IN (SELECT seq FROM events)")
        .fetchone()[0]
    )
    assert orphans == 0
    assert store.delete_before(cutoff) == 0


def test_tail_follows_commit_order_from_a_watermark(tmp_path: Path) -> None:
    store = SqliteEvents(tmp_path / "events.db")
    events = [prepare(t, 1, "a", None, 0) for t in stored_events()]
    store.append(events[:300])
    first, mark = store.tail(None, 200)
    second, mark = store.tail(mark, 200)
    assert [r["event_id"] for r in first + second] == [e.id.hex() for e in events[:300]]
    store.append(events[300:])
    rest, _ = store.tail(mark, 10_000)
    assert len(rest) == len(events) - 300
    assert rest[0]["doc"]["message"] == events[300].message


def test_ids_of_a_stream_ascend_with_its_request_time() -> None:
    texts = sorted(stored_events(), key=lambda t: orjson.loads(t)["requestReceivedTimestamp"])
    seconds = [int.from_bytes(event_id(1, text)[:4]) for text in texts]

    assert seconds == sorted(seconds)
    first = datetime.fromisoformat(orjson.loads(texts[0])["requestReceivedTimestamp"])
    assert seconds[0] == int(first.timestamp())
    assert event_id(1, "not an audit event")[:4] == bytes(4)


def test_the_wal_is_copied_into_the_database_in_the_background(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    store = SqliteEvents(path)
    empty = path.stat().st_size
    try:
        store.append([prepare(t, 1, "a", None, 0) for t in stored_events()])
        deadline = time.monotonic() + 10
        while path.stat().st_size < empty + 1_000_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        # (the writer itself never checkpoints: its threshold is off)
        assert path.stat().st_size >= empty + 1_000_000
    finally:
        store.close()


def test_the_wal_starts_over_during_a_long_burst(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the writer checkpoints past WAL_RESET_PAGES (here 2 MiB): without it the WAL grows for
    # as long as commits follow each other, as large as everything written
    monkeypatch.setattr(checkpoint, "WAL_RESET_PAGES", 32)
    store = SqliteEvents(tmp_path / "events.db")
    texts = stored_events(minutes=30)
    written = 0
    for round_ in range(4):  # the same events through other intakes: new rows each time
        batch = [prepare(t, round_ + 1, "a", None, 0) for t in texts]
        for start in range(0, len(batch), 500):
            written += store.append(batch[start : start + 500])
    wal = (tmp_path / "events.db-wal").stat().st_size
    database = (tmp_path / "events.db").stat().st_size
    assert written == 4 * len(texts)
    assert wal < database / 2, (wal, database)
    store.close()


def _addresses(store: SqliteEvents, query: str) -> list[str]:
    compiled = compile_query(query, store.dialect)
    page = store.search(compiled, 0, 2**62, 10_000, None)
    return sorted(e["event"]["code"] for e in page.events)


def test_address_searches_read_merged_and_recent_rows_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_module, "MERGE_EVENTS", 400)
    store = SqliteEvents(tmp_path / "events.db")
    docs = [orjson.loads(t) for t in stored_events(minutes=20)]
    sources = [d["sourceIPs"][0] for d in docs]
    address = max(set(sources), key=sources.count)
    for start in range(0, len(docs), 250):  # merged every 500 rows: the last ones are not
        store.append(
            [prepare(orjson.dumps(d).decode(), 1, "a", None, 0) for d in docs[start : start + 250]]
        )
    merged = store._reader().execute("SELECT count(*) FROM source_index").fetchone()[0]
    assert 0 < merged < len(docs)
    want = sorted(d["auditID"] for d in docs if d["sourceIPs"][0] == address)
    assert _addresses(store, f'source.ip:"{address}"') == want
    others = sorted(d["auditID"] for d in docs if d["sourceIPs"][0] != address)
    assert _addresses(store, f'NOT source.ip:"{address}"') == others
    assert _addresses(store, f'source.ip:"{address}" OR NOT source.ip:"{address}"') == sorted(
        d["auditID"] for d in docs
    )
    # an address few rows hold is looked up; one most rows hold is tested row by row
    rare = min(set(sources), key=sources.count)
    monkeypatch.setattr(events_module, "FEW_ROWS_AT_LEAST", sources.count(rare) + 1)
    assert "source_index" in compile_query(f'source.ip:"{rare}"', store.dialect).where
    assert "source_index" not in compile_query(f'source.ip:"{address}"', store.dialect).where
    for each in (rare, address):
        held = sorted(d["auditID"] for d in docs if d["sourceIPs"][0] == each)
        assert _addresses(store, f'source.ip:"{each}"') == held
    # retention forgets the merged entries of what it deletes
    assert store.delete_before(2**62) == len(docs)
    assert store._reader().execute("SELECT count(*) FROM source_index").fetchone()[0] == 0
    assert _addresses(store, f'source.ip:"{address}"') == []


def test_a_store_made_before_gets_its_address_index(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    store = SqliteEvents(path)
    texts = stored_events(minutes=5)
    store.append([prepare(t, 1, "a", None, 0) for t in texts])
    store.close()
    old = connect(path)  # back to schema 1: the address index on the events table
    old.executescript(
        "DROP TABLE source_index; DROP TABLE index_marks;"
        "CREATE INDEX events_source ON events(source_ip, ts); PRAGMA user_version = 1;"
    )
    old.close()
    reopened = SqliteEvents(path)
    address = orjson.loads(texts[0])["sourceIPs"][0]
    want = sorted(
        orjson.loads(t)["auditID"] for t in texts if orjson.loads(t)["sourceIPs"][0] == address
    )
    assert _addresses(reopened, f'source.ip:"{address}"') == want
    assert reopened._reader().execute("SELECT count(*) FROM source_index").fetchone()[0] == len(
        texts
    )


def test_retention_waits_for_the_commit_in_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retention runs in a thread of its own on the writer's connection: sharing the writer's
    transaction, its rollback would undo rows the writer then counted as stored."""
    store = SqliteEvents(tmp_path / "events.db")
    events = [prepare(t, 1, "a", None, 0) for t in stored_events(minutes=5)]
    old, new = events[:100], events[100:]
    store.append(old)
    cutoff = max(e.ts_us for e in old) + 1
    inside, release = threading.Event(), threading.Event()
    insert_rows = events_module._insert_rows

    def held(*args: Any) -> None:
        inside.set()
        release.wait(10)
        insert_rows(*args)

    monkeypatch.setattr(events_module, "_insert_rows", held)
    writing = threading.Thread(target=store.append, args=(new,))
    writing.start()
    assert inside.wait(10)
    deleted: list[int] = []
    retention = threading.Thread(target=lambda: deleted.append(store.delete_before(cutoff)))
    retention.start()
    retention.join(0.3)
    assert retention.is_alive()  # waiting for the writer's commit
    release.set()
    writing.join(10)
    retention.join(10)
    assert deleted == [sum(e.ts_us < cutoff for e in events)]
    kept = [e for e in events if e.ts_us >= cutoff]
    assert store.count(ALL, 0, 2**62) == len(kept)
