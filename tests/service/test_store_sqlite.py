"""The embedded event store on a real SQLite file: idempotent appends, retention, following."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
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


def _codes(store: SqliteEvents, query: str) -> list[str]:
    compiled = compile_query(query, store.dialect)
    page = store.search(compiled, 0, 2**62, 10_000, None)
    return sorted(e["event"]["code"] for e in page.events)


def _entries(store: SqliteEvents, index: str) -> int:
    count: int = store._reader().execute(f"SELECT count(*) FROM {index}").fetchone()[0]  # noqa: S608
    return count


def _user(doc: dict[str, Any]) -> str:
    return str(doc["user"]["username"])


def _source(doc: dict[str, Any]) -> str:
    return str(doc["sourceIPs"][0])


@pytest.mark.parametrize(
    ("field", "index", "value_of"),
    [("source.ip", "source_index", _source), ("user.name", "user_index", _user)],
)
def test_merged_index_searches_read_merged_and_recent_rows_alike(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    field: str,
    index: str,
    value_of: Callable[[dict[str, Any]], str],
) -> None:
    monkeypatch.setattr(events_module, "MERGE_EVENTS", 400)
    store = SqliteEvents(tmp_path / "events.db")
    docs = [orjson.loads(t) for t in stored_events(minutes=20)]
    values = [value_of(d) for d in docs]
    common = max(set(values), key=values.count)
    for start in range(0, len(docs), 250):  # merged every 500 rows: the last ones are not
        store.append(
            [prepare(orjson.dumps(d).decode(), 1, "a", None, 0) for d in docs[start : start + 250]]
        )
    merged = _entries(store, index)
    assert 0 < merged < len(docs)
    want = sorted(d["auditID"] for d in docs if value_of(d) == common)
    assert _codes(store, f'{field}:"{common}"') == want
    others = sorted(d["auditID"] for d in docs if value_of(d) != common)
    assert _codes(store, f'NOT {field}:"{common}"') == others
    assert _codes(store, f'{field}:"{common}" OR NOT {field}:"{common}"') == sorted(
        d["auditID"] for d in docs
    )
    # a value few rows hold is looked up; one most rows hold is tested row by row
    rare = min(set(values), key=values.count)
    monkeypatch.setattr(events_module, "FEW_ROWS_AT_LEAST", values.count(rare) + 1)
    assert index in compile_query(f'{field}:"{rare}"', store.dialect).where
    assert index not in compile_query(f'{field}:"{common}"', store.dialect).where
    for each in (rare, common):
        held = sorted(d["auditID"] for d in docs if value_of(d) == each)
        assert _codes(store, f'{field}:"{each}"') == held
    # retention forgets the merged entries of what it deletes
    assert store.delete_before(2**62) == len(docs)
    assert _entries(store, index) == 0
    assert _codes(store, f'{field}:"{common}"') == []


def test_a_user_facet_counts_the_merged_index_and_the_rows_past_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_module, "MERGE_EVENTS", 400)
    store = SqliteEvents(tmp_path / "events.db")
    events = [prepare(t, 1, "a", None, 0) for t in stored_events(minutes=20)]
    for start in range(0, len(events), 250):
        store.append(events[start : start + 250])
    merged = store._reader().execute("SELECT count(*) FROM user_index").fetchone()[0]
    assert 0 < merged < len(events)

    def counted(start_us: int, end_us: int) -> dict[str, int]:
        return dict(store.facet("user.name", ALL, start_us, end_us, 1000).values)

    def held(start_us: int, end_us: int) -> dict[str, int]:
        names = (e.doc.get("user", {}).get("name") for e in kept if start_us <= e.ts_us < end_us)
        return dict(Counter(name for name in names if name is not None))

    kept = events
    times = sorted(e.ts_us for e in events)
    middle = times[len(times) // 2]
    assert counted(0, 2**62) == held(0, 2**62)
    assert counted(middle, 2**62) == held(middle, 2**62)
    # the same counts as the rows give when the query must read them
    by_rows = store.facet(
        "user.name", compile_query("event.action:*", store.dialect), 0, 2**62, 1000
    )
    assert dict(by_rows.values) == held(0, 2**62)
    # retention takes the index entries with the rows, slice by slice
    store.delete_before(middle)
    kept = [e for e in events if e.ts_us >= middle]
    assert counted(0, 2**62) == held(0, 2**62)


# what takes each schema back to the one before (kubetrail.store.sqlite.events.MIGRATIONS)
_UNDO = {
    3: "DROP TABLE user_index; DELETE FROM index_marks WHERE name = 'user_index';"
    "CREATE INDEX events_user ON events(user_name, ts); PRAGMA user_version = 2;",
    2: "DROP TABLE source_index; DROP TABLE index_marks;"
    "CREATE INDEX events_source ON events(source_ip, ts); PRAGMA user_version = 1;",
}


@pytest.mark.parametrize("version", [1, 2])
def test_a_store_made_before_gets_its_merged_indexes(tmp_path: Path, version: int) -> None:
    path = tmp_path / "events.db"
    store = SqliteEvents(path)
    texts = stored_events(minutes=5)
    store.append([prepare(t, 1, "a", None, 0) for t in texts])
    store.close()
    old = connect(path)  # back to `version`: the indexes it had on the events table
    for undone in range(3, version, -1):
        old.executescript(_UNDO[undone])
    old.close()
    reopened = SqliteEvents(path)
    docs = [orjson.loads(t) for t in texts]
    for field, value_of in (("source.ip", _source), ("user.name", _user)):
        value = value_of(docs[0])
        want = sorted(d["auditID"] for d in docs if value_of(d) == value)
        assert _codes(reopened, f'{field}:"{value}"') == want
    # each migration indexes every row there is (a new store's addresses wait for a slice)
    assert _entries(reopened, "user_index") == len(texts)
    assert _entries(reopened, "source_index") == (len(texts) if version < 2 else 0)
    names = [prepare(t, 1, "a", None, 0).doc.get("user", {}).get("name") for t in texts]
    users = Counter(name for name in names if name is not None)
    assert dict(reopened.facet("user.name", ALL, 0, 2**62, 1000).values) == users


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
