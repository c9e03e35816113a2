"""The embedded event store on a real SQLite file: idempotent appends, retention, following."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from kubetrail.demo.generate import generate
from kubetrail.ingest.pipeline import prepare
from kubetrail.query import SqliteDialect, compile_query
from kubetrail.store.base import event_id
from kubetrail.store.sqlite import checkpoint
from kubetrail.store.sqlite.events import SqliteEvents

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
