"""Events on ClickHouse: the same EventStore as kubetrail.store.sqlite.events, for billions of rows.

URL: `clickhouse://[user[:password]@]host[:port]/database[?cluster=NAME]` over the native
protocol (port 9000 by default; clickhouse-driver, which talks to every version from 18.16).
With `cluster`, the rows live in `events_local` on every shard of that cluster (from the
server's `remote_servers`) and `events` is a `Distributed` table over them.

Idempotent append: before inserting a batch, the ids of the batch already stored within its
time range are looked up and skipped (a retried event has the same id and time); the table is
a ReplacingMergeTree keyed by (time, id), which collapses a duplicate that two concurrent
writers both inserted when parts merge. Reads do not use FINAL (slow on old servers).
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs, unquote, urlsplit

import orjson
from clickhouse_driver import Client
from clickhouse_driver.errors import Error as DriverError
from clickhouse_driver.errors import ErrorCodes, ServerException

from kubetrail.query import ClickHouseDialect
from kubetrail.query.clickhouse import LIST_PATHS, PATH_COLUMNS
from kubetrail.query.fields import is_valid_field
from kubetrail.store.base import (
    Encoded,
    Facet,
    NewEvent,
    Page,
    QueryTimeout,
    StoreError,
    Where,
)
from kubetrail.store.clickhouse.native import NativeClient, Rows
from kubetrail.store.clickhouse.schema import (
    INSERT_COLUMNS,
    MESSAGE_INDEX,
    TABLE,
    Features,
    create_table,
    encode,
    missing_columns,
    to_clickhouse_row,
)
from kubetrail.store.sqlite.events import HOT_COLUMNS, iso_us

DEFAULT_PORT: Final = 9000
HTTP_PORTS: Final = frozenset({8123, 8443})
LOCAL_TABLE: Final = "events_local"
_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_COLUMN_OF: Final = {**dict(HOT_COLUMNS), "intake": "intake"}
_COLUMNS: Final = "ts, hex(id) AS hid, intake, doc, message"
_DAY_US: Final = 86_400_000_000
_PARTITION: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
INSERT_BLOCK: Final = 2500


@dataclass(frozen=True)
class ClickHouseUrl:
    host: str
    port: int
    database: str
    user: str = "default"
    password: str = ""
    cluster: str | None = None

    @classmethod
    def parse(cls, url: str) -> ClickHouseUrl:
        parts = urlsplit(url)
        problems = []
        if parts.scheme != "clickhouse":
            problems.append(f"scheme must be clickhouse://, not {parts.scheme!r}")
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError:
            problems.append("port is not a number")
            port = DEFAULT_PORT
        if port in HTTP_PORTS:
            problems.append(f"port {port} is ClickHouse's HTTP port: give the native port (9000)")
        database = parts.path.lstrip("/") or "default"
        if not _NAME.fullmatch(database):
            problems.append(f"database name {database[:60]!r} is not a plain identifier")
        cluster = parse_qs(parts.query).get("cluster", [None])[0]
        if cluster is not None and not _NAME.fullmatch(cluster):
            problems.append(f"cluster name {cluster[:60]!r} is not a plain identifier")
        if not parts.hostname:
            problems.append("no host")
        if problems:
            # the password never goes into a message
            shown = f"clickhouse://{parts.hostname or ''}:{port}{parts.path}"
            raise StoreError(f"events URL {shown}: " + "; ".join(problems))
        return cls(
            host=parts.hostname or "",
            port=port,
            database=database,
            user=unquote(parts.username) if parts.username else "default",
            password=unquote(parts.password) if parts.password else "",
            cluster=cluster,
        )


def _add_missing_columns(client: Client, database: str, table: str) -> None:
    """Bring a table made by an older kubetrail up to the current columns."""
    existing = {
        str(name)
        for (name,) in client.execute(
            "SELECT name FROM system.columns WHERE database = %(db)s AND table = %(t)s",
            {"db": database, "t": table},
        )
    }
    for clause in missing_columns(existing):
        client.execute(f"ALTER TABLE {database}.{table} {clause}")


def encode_cursor(ts_us: int, hid: str) -> str:
    return base64.urlsafe_b64encode(f"{ts_us}:{hid}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts, hid = raw.split(":")
        if not re.fullmatch(r"[0-9A-F]{32}", hid):
            raise ValueError(hid)
        return int(ts), hid
    except (ValueError, UnicodeDecodeError):
        raise StoreError(f"invalid cursor {cursor[:40]!r}") from None


def _event(ts: int, hid: str, intake: str, doc_text: str, message: str) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(doc_text)
    own = doc.setdefault("kubetrail", {})
    own["event_id"] = hid.lower()
    own["intake"] = intake
    return {"@timestamp": iso_us(ts), "message": message, **doc}


class ClickHouseEvents:
    dialect = ClickHouseDialect()
    encoder = staticmethod(encode)  # rows made by parse workers (EncodingStore)

    def __init__(
        self, url: str, query_time_limit_ms: int = 10_000, facet_time_limit_ms: int = 3_000
    ) -> None:
        self.url = ClickHouseUrl.parse(url)
        self._local = threading.local()
        self._query_limit_s = max(1, query_time_limit_ms // 1000)
        self._facet_limit_s = max(1, facet_time_limit_ms // 1000)
        self._write_lock = threading.Lock()
        self._clients: list[Client] = []  # every thread's, to close them all
        self._setup()

    # --- connections ----------------------------------------------------------------------

    def _connect(self, host: str, port: int, database: str) -> Client:
        u = self.url
        return NativeClient(
            host=host,
            port=port,
            database=database,
            user=u.user,
            password=u.password,
            connect_timeout=5,
            send_receive_timeout=max(30, self._query_limit_s + 5),
            settings={"insert_distributed_sync": 1} if u.cluster else {},
        )

    def _client(self) -> Client:
        # a Client is one connection and not thread-safe: one per thread
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._connect(
                self.url.host, self.url.port, self.url.database
            )
            self._clients.append(client)
        return client

    @contextmanager
    def _errors(self, seconds: float) -> Iterator[None]:
        try:
            yield
        except ServerException as exc:
            if exc.code == ErrorCodes.TIMEOUT_EXCEEDED:
                raise QueryTimeout(f"query stopped after {seconds:g} s") from None
            raise StoreError(f"ClickHouse: {exc.message.splitlines()[0][:300]}") from exc
        except (DriverError, OSError, EOFError) as exc:
            self._local.client = None  # reconnect next time
            raise StoreError(f"ClickHouse at {self.url.host}:{self.url.port}: {exc}") from exc

    def _query(self, sql: str, params: Any = None, seconds: float | None = None) -> list[Any]:
        limit = seconds or self._query_limit_s
        settings = {"max_execution_time": int(limit), "timeout_overflow_mode": "throw"}
        with self._errors(limit):
            rows: list[Any] = self._client().execute(sql, params, settings=settings)
        return rows

    def _setup(self) -> None:
        u = self.url
        with self._errors(self._query_limit_s):
            bootstrap = self._connect(u.host, u.port, "default")
            bootstrap.execute(f"CREATE DATABASE IF NOT EXISTS {u.database}")
            self.features = Features.of(bootstrap.execute("SELECT version()")[0][0])
            if u.cluster is None:
                self._client().execute(create_table(self.features, TABLE))
                _add_missing_columns(self._client(), u.database, TABLE)
                self.shards = [(u.host, u.port)]
                return
            self.shards = [
                (str(host), int(port))
                for host, port in bootstrap.execute(
                    "SELECT host_address, port FROM system.clusters WHERE cluster = %(c)s "
                    "ORDER BY shard_num, replica_num",
                    {"c": u.cluster},
                )
            ]
            if not self.shards:
                raise StoreError(f"ClickHouse has no cluster {u.cluster!r} in remote_servers")
            for host, port in self.shards:
                shard = self._connect(host, port, "default")
                shard.execute(f"CREATE DATABASE IF NOT EXISTS {u.database}")
                shard.execute(f"USE {u.database}")
                shard.execute(create_table(self.features, LOCAL_TABLE))
                _add_missing_columns(shard, u.database, LOCAL_TABLE)
                shard.disconnect()
            self._client().execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} AS {LOCAL_TABLE} ENGINE = "
                f"Distributed({u.cluster}, {u.database}, {LOCAL_TABLE}, cityHash64(id))"
            )
            _add_missing_columns(self._client(), u.database, TABLE)
            bootstrap.disconnect()

    # --- writes ---------------------------------------------------------------------------

    def append(self, events: list[NewEvent]) -> int:
        return self._insert_new({e.id: (e.ts_us, e) for e in events}, to_clickhouse_row)

    def append_encoded(self, events: list[tuple[Encoded, str]]) -> int:
        """`append` of rows made by `encoder` (in parse workers), each with its raw text."""
        batch: dict[bytes, tuple[int, list[Any]]] = {}
        for row, message in events:
            filled = list(row)
            filled[MESSAGE_INDEX] = message
            batch[filled[1]] = (filled[0], filled)  # (ts, id, ...): see INSERT_COLUMNS
        return self._insert_new(batch, lambda row: row)

    def _insert_new(self, batch: dict[bytes, tuple[int, Any]], to_row: Any) -> int:
        """Insert the events of `batch` (id -> (time, event)) that are not stored yet."""
        if not batch:
            return 0
        # the batch's ids travel as external data (binary, no SQL text to parse); a batch
        # may carry the same event twice, which `batch` (by id) already holds once
        ids = {
            "name": "batch_ids",
            "structure": [("id", "FixedString(16)")],
            "data": [{"id": i} for i in batch],
        }
        times = [ts for ts, _ in batch.values()]
        with self._errors(self._query_limit_s):
            stored = {
                bytes.fromhex(hid)
                for (hid,) in self._client().execute(
                    f"SELECT hex(id) FROM {TABLE} WHERE ts >= %(lo)s AND ts <= %(hi)s "
                    "AND id IN batch_ids",
                    {"lo": min(times), "hi": max(times)},
                    external_tables=[ids],
                )
            }
        new = [event for i, (_, event) in batch.items() if i not in stored]
        if new:
            rows = Rows(to_row(event) for event in new)
            with self._write_lock, self._errors(self._query_limit_s):
                # the server stores the insert as one part (its squashing of blocks) when it
                # ends: nothing to gain from building the rows as the blocks go
                self._client().execute(
                    f"INSERT INTO {TABLE} ({', '.join(INSERT_COLUMNS)}) VALUES",
                    rows,
                    settings={"insert_block_size": INSERT_BLOCK},
                )
        return len(new)

    def delete_before(self, ts_us: int) -> int:
        """Drop the daily partitions that end at or before `ts_us` (whole days only)."""
        cutoff_day = time.strftime("%Y-%m-%d", time.gmtime(ts_us // 1_000_000))
        table = LOCAL_TABLE if self.url.cluster else TABLE
        deleted = 0
        for host, port in self.shards:
            shard = self._connect(host, port, self.url.database)
            with self._errors(self._query_limit_s):
                parts = shard.execute(
                    "SELECT partition, sum(rows) FROM system.parts WHERE database = %(db)s "
                    "AND table = %(t)s AND active GROUP BY partition",
                    {"db": self.url.database, "t": table},
                )
                for partition, rows in parts:
                    day = str(partition).strip("'")
                    if _PARTITION.fullmatch(day) and day < cutoff_day:
                        # a validated date: DROP PARTITION takes no bound parameter
                        shard.execute(f"ALTER TABLE {table} DROP PARTITION '{day}'")
                        deleted += int(rows)
            shard.disconnect()
        return deleted

    # --- reads ----------------------------------------------------------------------------

    @staticmethod
    def _params(query: Where, **extra: Any) -> dict[str, Any]:
        params = dict(query.params) if isinstance(query.params, dict) else {}
        return params | extra

    def search(
        self, query: Where, start_us: int, end_us: int, limit: int, cursor: str | None
    ) -> Page:
        started = time.perf_counter()
        # first the page's keys, reading only small columns; then the documents of that page
        # (ORDER BY with the documents would read them for every matching row)
        sql = (
            f"SELECT DISTINCT ts, hex(id) AS hid FROM {TABLE} "
            f"WHERE ts >= %(k_start)s AND ts < %(k_end)s AND ({query.where})"
        )
        params = self._params(query, k_start=start_us, k_end=end_us, k_limit=limit + 1)
        if cursor:
            ts, hid = decode_cursor(cursor)
            sql += " AND (ts < %(k_ts)s OR (ts = %(k_ts)s AND hex(id) < %(k_id)s))"
            params |= {"k_ts": ts, "k_id": hid}
        sql += " ORDER BY ts DESC, hid DESC LIMIT %(k_limit)s"
        keys = self._query(sql, params)
        more = len(keys) > limit
        keys = keys[:limit]
        next_cursor = encode_cursor(keys[-1][0], keys[-1][1]) if more else None
        events = self._documents(keys)
        took = (time.perf_counter() - started) * 1000
        return Page(events, next_cursor, took)

    def _documents(self, keys: list[tuple[int, str]]) -> list[dict[str, Any]]:
        """The events of `keys` (time, hex id), in that order; a duplicate row is read once."""
        if not keys:
            return []
        ids = {
            "name": "page_ids",
            "structure": [("id", "FixedString(16)")],
            "data": [{"id": bytes.fromhex(hid)} for _, hid in keys],
        }
        with self._errors(self._query_limit_s):
            rows = self._client().execute(
                f"SELECT {_COLUMNS} FROM {TABLE} WHERE ts >= %(lo)s AND ts <= %(hi)s "
                "AND id IN page_ids",
                {"lo": min(ts for ts, _ in keys), "hi": max(ts for ts, _ in keys)},
                external_tables=[ids],
                settings={"max_execution_time": self._query_limit_s},
            )
        by_id = {row[1]: row for row in rows}
        return [_event(*by_id[hid]) for _, hid in keys if hid in by_id]

    def count(self, query: Where, start_us: int, end_us: int) -> int:
        sql = (
            f"SELECT count() FROM {TABLE} WHERE ts >= %(k_start)s AND ts < %(k_end)s "
            f"AND ({query.where})"
        )
        rows = self._query(sql, self._params(query, k_start=start_us, k_end=end_us))
        return int(rows[0][0])

    def facet(self, field: str, query: Where, start_us: int, end_us: int, size: int) -> Facet:
        column = _COLUMN_OF.get(field)
        extra: dict[str, Any] = {"k_start": start_us, "k_end": end_us, "k_size": size}
        if column is not None:
            value, keep = (
                column,
                ("value IS NOT NULL" if column == "status_code" else "value != ''"),
            )
        elif field in PATH_COLUMNS:
            path_column = PATH_COLUMNS[field]
            value = f"arrayJoin({path_column})" if field in LIST_PATHS else path_column
            keep = "value NOT IN ('', 'null', '{}')"
        else:
            if not is_valid_field(field):
                raise StoreError(f"invalid field name {field[:60]!r}")
            value = "arrayJoin(arrayFilter((v, k) -> k = %(k_field)s, doc_values, doc_keys))"
            keep = "value NOT IN ('null', '{}')"
            extra["k_field"] = field
        sql = (
            f"SELECT value, count() AS n FROM (SELECT {value} AS value FROM {TABLE} "
            f"WHERE ts >= %(k_start)s AND ts < %(k_end)s AND ({query.where})) "
            f"WHERE {keep} GROUP BY value ORDER BY n DESC, value LIMIT %(k_size)s"
        )
        try:
            rows = self._query(sql, self._params(query, **extra), self._facet_limit_s)
        except QueryTimeout:
            return Facet(field, [], timed_out=True)
        if field not in _COLUMN_OF:  # JSON texts
            return Facet(field, [(orjson.loads(v), int(n)) for v, n in rows])
        return Facet(field, [(v, int(n)) for v, n in rows])

    def histogram(
        self, query: Where, start_us: int, end_us: int, interval_us: int
    ) -> list[tuple[int, int]]:
        sql = (
            "SELECT intDiv(ts - %(k_start)s, %(k_step)s) AS bucket, count() AS n "
            f"FROM {TABLE} WHERE ts >= %(k_start)s AND ts < %(k_end)s AND ({query.where}) "
            "GROUP BY bucket ORDER BY bucket"
        )
        params = self._params(query, k_start=start_us, k_end=end_us, k_step=interval_us)
        rows = self._query(sql, params, self._facet_limit_s)
        return [(start_us + int(b) * interval_us, int(n)) for b, n in rows]

    def get(self, event_id: str) -> dict[str, Any] | None:
        if not re.fullmatch(r"[0-9a-fA-F]{32}", event_id):
            return None
        rows = self._query(
            f"SELECT {_COLUMNS} FROM {TABLE} WHERE hex(id) = %(id)s LIMIT 1",
            {"id": event_id.upper()},
        )
        return _event(*rows[0]) if rows else None

    def close(self) -> None:
        for client in self._clients:
            client.disconnect()
        self._clients.clear()
