"""Events in `events.db`, the embedded event backend.

One table: the hot ECS fields as columns (indexed for the common hunts), the rest of the
document as JSON and the raw message apart, so that searches read small rows and the message
is fetched only for the page shown. Writes come from one writer thread (see
kubetrail.ingest.writer); reads use one connection per reading thread, time-limited by a
progress handler.
"""

from __future__ import annotations

import base64
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson

from kubetrail.parse.errors import is_error_document
from kubetrail.query import SqliteDialect
from kubetrail.query.fields import split_lists
from kubetrail.query.sqlite import Lookup
from kubetrail.store.base import (
    Encoded,
    Encoder,
    Facet,
    NewEvent,
    Page,
    QueryTimeout,
    StoreError,
    Where,
)
from kubetrail.store.sqlite.checkpoint import Checkpointer
from kubetrail.store.sqlite.migrate import connect, migrate

# ECS field -> column; the query compiler's map (kubetrail.query.HOT_FIELDS) names the same
HOT_COLUMNS: Final = (
    ("event.code", "code"),
    ("event.action", "action"),
    ("event.outcome", "outcome"),
    ("user.name", "user_name"),
    ("source.ip", "source_ip"),
    ("kubernetes.namespace", "namespace"),
    ("kubernetes.resource", "resource"),
    ("kubernetes.subresource", "subresource"),
    ("kubernetes.object.name", "object_name"),
    ("http.response.status_code", "status_code"),
)

# Two tables: `events` holds the hot columns only (narrow rows: a facet or a histogram over
# millions of events reads megabytes, not gigabytes), `bodies` the document and the raw text,
# fetched for the rows a page shows or a query on other fields needs. The view `events_v` joins
# them with a LEFT JOIN on the body's primary key, which SQLite drops whenever a query reads
# no body column. `seq` (the rowid, AUTOINCREMENT: never reused) is the commit order that the
# detection follower's watermark and the keyset cursor's tiebreak use.
#
# Indexes cost ingest speed (each is one more B-tree per insert, and a random one such as the
# auditID's costs a quarter of the insert time): `ts` serves every time-ordered search, `id`
# makes retries idempotent, user and address serve the hunts for one principal or one source.
# Other fields, auditID included, are filtered on the narrow rows as they are scanned.
#
# Migration 2: the source address is indexed apart, in bulk. Clusters, and the sources of a
# fleet, spread their events over many addresses: an index on the address then takes each
# commit's inserts all over its range, and a commit writes every page it touched, so each
# commit rewrote the whole address index (at 200k events on the shared check's corpus, 15% of
# the intake's rate, and growing with the store). `source_index` takes the rows in slices of
# `MERGE_EVENTS`, sorted, each of its pages written once per slice; the rows past its mark in
# `index_marks` (at most one slice, a range of `seq`) are read from `events` directly. The
# SQLite dialect writes `source.ip:X` as a lookup in both when few rows hold X (`_few_hold`);
# an address most events come from (a node's) is found sooner by reading rows newest first.
#
# The user's index stays on `events`: merged the same way (tried), it saved a quarter of the
# insert time on a stream out of time order, but a hunt for one user among others (`user.name:X
# AND kubernetes.resource:secrets`, newest first) went from 8 ms to 61 ms at a million events:
# (user, time) gives that user's rows in time order, a merged lookup gives them all, unsorted.
MIGRATIONS: Final = [
    """
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        ts INTEGER NOT NULL,
        id BLOB NOT NULL,
        intake TEXT NOT NULL,
        code TEXT,
        action TEXT,
        outcome TEXT,
        user_name TEXT,
        source_ip TEXT,
        namespace TEXT,
        resource TEXT,
        subresource TEXT,
        object_name TEXT,
        status_code INTEGER,
        parse_error INTEGER NOT NULL
    );
    CREATE TABLE bodies (
        seq INTEGER PRIMARY KEY,
        doc TEXT NOT NULL,
        message TEXT NOT NULL
    );
    CREATE VIEW events_v AS
        SELECT events.*, bodies.doc AS doc, bodies.message AS message
        FROM events LEFT JOIN bodies ON bodies.seq = events.seq;
    CREATE UNIQUE INDEX events_id ON events(id);
    CREATE INDEX events_ts ON events(ts);
    CREATE INDEX events_user ON events(user_name, ts);
    CREATE INDEX events_source ON events(source_ip, ts);
    """,
    """
    DROP INDEX events_source;
    CREATE TABLE source_index (
        source_ip TEXT NOT NULL,
        ts INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (source_ip, ts, seq)
    ) WITHOUT ROWID;
    CREATE TABLE index_marks (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);
    INSERT INTO source_index
        SELECT source_ip, ts, seq FROM events WHERE source_ip IS NOT NULL
        ORDER BY source_ip, ts, seq;
    INSERT INTO index_marks SELECT 'source_index', coalesce(max(seq), 0) FROM events;
    """,
]
# rows per merge into source_index: an address search reads at most this many rows unmerged
MERGE_EVENTS: Final = 50_000
# an address held by fewer rows than this (or than 1% of the store) is looked up
FEW_ROWS_AT_LEAST: Final = 1_000
_MERGE_SOURCES: Final = (
    "INSERT OR IGNORE INTO source_index SELECT source_ip, ts, seq FROM events "
    "WHERE seq > ? AND seq <= ? AND source_ip IS NOT NULL ORDER BY source_ip, ts, seq"
)

# the `events` columns a row gives after `seq`, in the order `encode` makes them
ROW_COLUMNS: Final = ("ts", "id", "intake", *(c for _, c in HOT_COLUMNS), "parse_error")
_INSERT_EVENT: Final = f"INSERT OR IGNORE INTO events(seq, {', '.join(ROW_COLUMNS)}) VALUES "
_INSERT_BODY: Final = "INSERT INTO bodies(seq, doc, message) VALUES "
# rows per INSERT statement, at most (and fewer when the build allows fewer parameters)
_ROWS_PER_INSERT: Final = 256


def _insert_rows(db: sqlite3.Connection, insert: str, rows: list[tuple[Any, ...]]) -> None:
    """`rows` inserted by `insert` (a statement up to VALUES), many rows per statement.

    Not `executemany`: it steps once per row, and SQLite gives up the GIL around every step.
    The writer thread then waits for the GIL once per row behind the threads serving
    requests (measured next to a busy thread: 397 us per event instead of 24). Statements of
    256, 128, ... rows keep the handovers few and the prepared statements a handful.
    """
    if not rows:
        return
    width = len(rows[0])
    limit = db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width
    size = 1 << (min(_ROWS_PER_INSERT, limit).bit_length() - 1)
    marks = "(" + ",".join("?" * width) + ")"
    start = 0
    while start < len(rows):
        while size > len(rows) - start:
            size //= 2
        chunk = rows[start : start + size]
        db.execute(insert + ",".join([marks] * size), [value for row in chunk for value in row])
        start += size


# the file's data and what reading it back needs (its size), not its times; macOS has no
# fdatasync, and its fsync is what SQLite's synchronous=FULL uses there
_flush: Final = getattr(os, "fdatasync", os.fsync)


def _last_number(db: sqlite3.Connection) -> int:
    # AUTOINCREMENT's record: the next event is numbered after it
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    return int(row[0]) if row else 0


_COLUMNS: Final = "seq, ts, id, intake, doc, message"
_NOTHING: Final[dict[str, Any]] = {}
_LEAF: Final = (str, int)


def _hot_values(doc: dict[str, Any]) -> tuple[Any, ...]:
    """The value at each of HOT_COLUMNS' paths if it is a str or an int, else None; unrolled:
    2.5-4 us per event where a loop over the paths took 4.5-6.9, on every stored event (the
    tests compare the two). Documents are made of plain dicts (the parser's, orjson's): a
    subclass of dict is not looked into."""
    get = doc.get
    event, user, source = get("event", _NOTHING), get("user", _NOTHING), get("source", _NOTHING)
    kube, http = get("kubernetes", _NOTHING), get("http", _NOTHING)
    if type(event) is not dict:
        event = _NOTHING
    if type(user) is not dict:
        user = _NOTHING
    if type(source) is not dict:
        source = _NOTHING
    if type(kube) is not dict:
        kube = _NOTHING
    if type(http) is not dict:
        http = _NOTHING
    obj, response = kube.get("object", _NOTHING), http.get("response", _NOTHING)
    if type(obj) is not dict:
        obj = _NOTHING
    if type(response) is not dict:
        response = _NOTHING
    values = (
        event.get("code"),
        event.get("action"),
        event.get("outcome"),
        user.get("name"),
        source.get("ip"),
        kube.get("namespace"),
        kube.get("resource"),
        kube.get("subresource"),
        obj.get("name"),
        response.get("status_code"),
    )
    return tuple(value if isinstance(value, _LEAF) else None for value in values)


def encode(event: NewEvent) -> Encoded:
    """`event` as the store writes it, but for its number and raw text: the `events` row
    (after `seq`) and the document without `message` (stored once, in its own column).

    A module-level function of the event alone, so that parse workers (other processes) can
    run it; see kubetrail.ingest.parsers.
    """
    doc = event.doc
    body = doc.copy()
    del body["message"]
    row = (
        event.ts_us,
        event.id,
        event.intake,
        *_hot_values(doc),
        int(is_error_document(doc)),
    )
    return row, orjson.dumps(body).decode()


_COLUMN_OF: Final = dict(HOT_COLUMNS)
_FIELD_NAME: Final = re.compile(r"[A-Za-z_@][A-Za-z0-9_@.-]*")
# fields whose value is a list: a facet counts each element


def _json_path(field: str) -> str:
    if not _FIELD_NAME.fullmatch(field):
        raise StoreError(f"invalid field name {field[:60]!r}")
    return _path(field.split("."))


def _path(parts: tuple[str, ...] | list[str]) -> str:
    return "$" + "".join(f'."{part}"' for part in parts)


def _table(where: str) -> str:
    """The narrow table when the query reads only hot columns, else the view with bodies.

    (SQLite 3.40 does not drop the view's LEFT JOIN by itself.)
    """
    return "events_v" if _READS_BODY.search(where) else "events"


_READS_BODY: Final = re.compile(r"\b(doc|message)\b")
_INDEXED: Final = frozenset({"user_name"})


def _facet_values(field: str, table: str) -> tuple[str, list[Any], bool]:
    """A SELECT of one `value` per event (per element for list fields) of `field`, its
    parameters, and whether the value comes from an indexed column."""
    column = _COLUMN_OF.get(field) or ("intake" if field == "intake" else None)
    if column is not None:
        return f"SELECT {column} AS value FROM {table}", [], column in _INDEXED
    _json_path(field)  # validates the name
    # one json_each per list the field runs through: `kubernetes.spec.containers.name` is the
    # name of each container, `user.roles` each role
    *lists, last = split_lists(field)
    source, joins, params = "events_v.doc", [], []
    for depth, segment in enumerate(lists, 1):
        joins.append(f"json_each({source}, ?) AS j{depth}")
        params.append(_path(segment))
        source = f"j{depth}.value"
    if not joins:
        return "SELECT json_extract(doc, ?) AS value FROM events_v", [_path(last)], False
    value = f"json_extract({source}, ?)" if last else source
    if last:
        params.insert(0, _path(last))  # the value's placeholder comes first in the text
    return f"SELECT {value} AS value FROM events_v, {', '.join(joins)}", params, False


def iso_us(ts_us: int) -> str:
    moment = datetime.fromtimestamp(ts_us / 1_000_000, UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _event(row: sqlite3.Row) -> dict[str, Any]:
    """A stored row as the API returns it: the ECS document with @timestamp and its id."""
    doc: dict[str, Any] = orjson.loads(row["doc"])
    own = doc.setdefault("kubetrail", {})
    own["event_id"] = row["id"].hex()
    own["intake"] = row["intake"]
    return {"@timestamp": iso_us(row["ts"]), "message": row["message"], **doc}


def encode_cursor(ts_us: int, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{ts_us}:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts, seq = raw.split(":")
        return int(ts), int(seq)
    except (ValueError, UnicodeDecodeError):
        raise StoreError(f"invalid cursor {cursor[:40]!r}") from None


class SqliteEvents:
    def __init__(
        self, path: Path, query_time_limit_ms: int = 10_000, facet_time_limit_ms: int = 3_000
    ) -> None:
        self.path = path
        self._writer = connect(path)
        migrate(self._writer, MIGRATIONS)
        self._writer.execute("PRAGMA synchronous = NORMAL")  # writes are synced by `sync`
        self._wal_path = f"{path}-wal"
        self.dialect = SqliteDialect({"source_ip": Lookup("source_index", self._few_hold)})
        self._merged: int = self._writer.execute(
            "SELECT seq FROM index_marks WHERE name = 'source_index'"
        ).fetchone()[0]
        self._local = threading.local()
        self._query_limit_s = query_time_limit_ms / 1000
        self._facet_limit_s = facet_time_limit_ms / 1000
        self._checkpointer: Checkpointer | None = None  # started by the first write
        # One transaction at a time on the writer connection: the writer thread's commits and
        # retention's deletions (run in another thread) would otherwise share a transaction,
        # and a rollback of one would undo the other's rows after it had counted them stored.
        self._write_lock = threading.Lock()

    # --- writes (one writer thread) -------------------------------------------------------

    encoder: Encoder = staticmethod(encode)

    def append(self, events: list[NewEvent]) -> int:
        return self.append_encoded([(encode(event), event.message) for event in events])

    def append_encoded(self, events: list[tuple[Encoded, str]]) -> int:
        new = self.append_unsynced(events)
        self.sync()
        return new

    def append_unsynced(self, events: list[tuple[Encoded, str]]) -> int:
        """`append_encoded`, but the commit is left in the WAL unsynced (see `sync`)."""
        with self._write_lock:
            return self._append_locked(events)

    def sync(self) -> None:
        """Make every commit so far durable.

        The writer's connection commits with synchronous=NORMAL: a commit writes its pages to
        the WAL and returns without waiting for the disk, and this flushes the WAL (what
        synchronous=FULL does inside every commit; SQLite still syncs the WAL's header when it
        starts the WAL over, and both files around each checkpoint). The service's writer
        syncs in a thread of its own (kubetrail.ingest.writer), so that the next commit is
        written while the disk takes the last ones. At the shared check's load (commits of
        ~600 events) the flush, 2.3 ms on this VM's disk, was a seventh of the writer's time;
        apart, the intake's rate rose 3% here, and from 29k to 32k-36k events/s with the
        flush made 10 ms slower (a slower disk, emulated). A WAL that is gone was
        checkpointed into the database, and synced, when its last connection closed.
        """
        try:
            wal = os.open(self._wal_path, os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            _flush(wal)
        finally:
            os.close(wal)

    def _append_locked(self, events: list[tuple[Encoded, str]]) -> int:
        db = self._writer
        if self._checkpointer is None:
            self._checkpointer = Checkpointer(self.path, db)
        with db:
            first = _last_number(db) + 1
            # a retry of a stored event (or a repeat in the batch) hits the unique id and is
            # ignored; its number is left unused, and only the bodies of the rows that went in
            # are written
            changes = db.total_changes
            _insert_rows(
                db,
                _INSERT_EVENT,
                [(seq, *hot) for seq, ((hot, _), _) in enumerate(events, first)],
            )
            stored: range | set[int] = range(first, first + len(events))
            if db.total_changes - changes != len(events):  # retries among them
                stored = {
                    r[0]
                    for r in db.execute(
                        "SELECT seq FROM events WHERE seq >= ? AND seq < ?",
                        (first, first + len(events)),
                    )
                }
            _insert_rows(
                db,
                _INSERT_BODY,
                [
                    (seq, body, message)
                    for seq, ((_, body), message) in enumerate(events, first)
                    if seq in stored
                ],
            )
        last = first + len(events) - 1
        if last - self._merged >= MERGE_EVENTS:
            self._merge(last)
        return len(stored)

    def last_number(self) -> int:
        """The highest number ever given to an event (0 when none); deletions keep it."""
        with self._write_lock:
            return _last_number(self._writer)

    def _few_hold(self, address: str) -> bool:
        """True when fewer than 1% of the rows (or than FEW_ROWS_AT_LEAST) hold `address`."""
        enough = max(FEW_ROWS_AT_LEAST, self._newest_seq() // 100)
        held = (
            self._reader()
            .execute(
                "SELECT count(*) FROM (SELECT 1 FROM source_index WHERE source_ip = ? LIMIT ?)",
                (address, enough),
            )
            .fetchone()[0]
        )
        return bool(held < enough)

    def _merge(self, last: int) -> None:
        """Index the addresses of the rows up to `last` (see `MIGRATIONS`)."""
        with self._writer as db:
            db.execute(_MERGE_SOURCES, (self._merged, last))
            db.execute("UPDATE index_marks SET seq = ? WHERE name = 'source_index'", (last,))
        self._merged = last

    def delete_before(self, ts_us: int) -> int:
        """Delete the events whose time is before `ts_us`; how many were deleted."""
        deleted = 0
        while True:  # in slices, so the writer is never held for long
            with self._write_lock, self._writer as db:
                old = [
                    r[0]
                    for r in db.execute("SELECT seq FROM events WHERE ts < ? LIMIT 5000", (ts_us,))
                ]
                if not old:
                    # merged entries of deleted rows; a search never returns them anyway,
                    # as it reads the rows they point to
                    db.execute("DELETE FROM source_index WHERE ts < ?", (ts_us,))
                    return deleted
                marks = ",".join("?" * len(old))
                db.execute(f"DELETE FROM bodies WHERE seq IN ({marks})", old)
                deleted += db.execute(f"DELETE FROM events WHERE seq IN ({marks})", old).rowcount

    # --- reads (any thread) ---------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = connect(self.path)
        return db

    @contextmanager
    def _limited(self, seconds: float) -> Iterator[sqlite3.Connection]:
        db = self._reader()
        deadline = time.monotonic() + seconds
        # called every N virtual-machine steps; a non-zero return aborts the statement
        db.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            yield db
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise QueryTimeout(f"query stopped after {seconds:g} s") from None
            raise StoreError(str(exc)) from exc
        finally:
            db.set_progress_handler(None, 0)

    def search(
        self, query: Where, start_us: int, end_us: int, limit: int, cursor: str | None
    ) -> Page:
        started = time.perf_counter()
        table = _table(query.where)
        sql = f"SELECT seq, ts FROM {table} WHERE ts >= ? AND ts < ? AND ({query.where})"
        params: list[Any] = [start_us, end_us, *query.params]
        if cursor:
            ts, seq = decode_cursor(cursor)
            sql += " AND (ts < ? OR (ts = ? AND seq < ?))"
            params += [ts, ts, seq]
        sql += " ORDER BY ts DESC, seq DESC LIMIT ?"
        params.append(limit + 1)  # one more tells whether there is a next page
        with self._limited(self._query_limit_s) as db:
            keys = db.execute(sql, params).fetchall()
            more = len(keys) > limit
            keys = keys[:limit]
            # the page's bodies, read once the page is known (not for every row filtered)
            rows: dict[int, sqlite3.Row] = {}
            for start in range(0, len(keys), 500):
                seqs = [k["seq"] for k in keys[start : start + 500]]
                marks = ",".join("?" * len(seqs))
                rows.update(
                    (r["seq"], r)
                    for r in db.execute(
                        f"SELECT {_COLUMNS} FROM events_v WHERE seq IN ({marks})", seqs
                    )
                )
        next_cursor = encode_cursor(keys[-1]["ts"], keys[-1]["seq"]) if more else None
        took = (time.perf_counter() - started) * 1000
        return Page([_event(rows[k["seq"]]) for k in keys if k["seq"] in rows], next_cursor, took)

    def count(self, query: Where, start_us: int, end_us: int) -> int:
        table = _table(query.where)
        sql = f"SELECT count(*) FROM {table} WHERE ts >= ? AND ts < ? AND ({query.where})"
        with self._limited(self._query_limit_s) as db:
            count: int = db.execute(sql, [start_us, end_us, *query.params]).fetchone()[0]
        return count

    def facet(self, field: str, query: Where, start_us: int, end_us: int, size: int) -> Facet:
        values_sql, extra, indexed = _facet_values(field, _table(query.where))
        # an indexed field is counted from its (field, ts) index, read whole: `+ts` keeps the
        # planner from preferring the time index and a row lookup per event
        ts = "+ts" if indexed else "ts"
        sql = (
            f"SELECT value, count(*) AS n FROM ({values_sql} "
            f"WHERE {ts} >= ? AND {ts} < ? AND ({query.where})) "
            "WHERE value IS NOT NULL GROUP BY value ORDER BY n DESC, value LIMIT ?"
        )
        params = [*extra, start_us, end_us, *query.params, size]
        try:
            with self._limited(self._facet_limit_s) as db:
                rows = db.execute(sql, params).fetchall()
        except QueryTimeout:
            return Facet(field, [], timed_out=True)
        return Facet(field, [(r["value"], r["n"]) for r in rows])

    def histogram(
        self, query: Where, start_us: int, end_us: int, interval_us: int
    ) -> list[tuple[int, int]]:
        sql = (
            f"SELECT (ts - ?) / ? AS bucket, count(*) AS n FROM {_table(query.where)} "
            f"WHERE ts >= ? AND ts < ? AND ({query.where}) GROUP BY bucket ORDER BY bucket"
        )
        params = [start_us, interval_us, start_us, end_us, *query.params]
        with self._limited(self._facet_limit_s) as db:
            rows = db.execute(sql, params).fetchall()
        return [(start_us + r["bucket"] * interval_us, r["n"]) for r in rows]

    def get(self, event_id: str) -> dict[str, Any] | None:
        try:
            key = bytes.fromhex(event_id)
        except ValueError:
            return None
        row = (
            self._reader()
            .execute(f"SELECT {_COLUMNS} FROM events_v WHERE id = ?", (key,))
            .fetchone()
        )
        return _event(row) if row else None

    def tail(self, after: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        """Events committed after the watermark `after`, in commit order, and the new mark."""
        start = int(after) if after and after.isdigit() else 0
        rows = (
            self._reader()
            .execute(
                "SELECT seq, id, doc, message FROM events_v WHERE seq > ? ORDER BY seq LIMIT ?",
                (start, limit),
            )
            .fetchall()
        )
        out = [
            {
                "event_id": r["id"].hex(),
                "message": r["message"],
                "doc": {"message": r["message"], **orjson.loads(r["doc"])},
            }
            for r in rows
        ]
        return out, (str(rows[-1]["seq"]) if rows else after)

    def behind(self, after: str | None) -> int:
        # from the newest number, not a count: a scrape costs the same at any lag (numbers
        # left unused by retries make it an upper bound)
        start = int(after) if after and after.isdigit() else 0
        return max(0, self._newest_seq() - start)

    def _newest_seq(self) -> int:
        """The number of the newest stored event (0 when none): one step down the rowid tree."""
        row = self._reader().execute("SELECT max(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        self._writer.close()
