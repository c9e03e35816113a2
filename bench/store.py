"""Events store speed, SQLite against ClickHouse in the same run: ingest and query latency.

    python -m bench.store [--events 1000000] [--grow-to 10000000] [--clickhouse URL]

The events: a pool of demo-cluster events (kubelets, controllers, pod creations with specs,
execs, denied requests) parsed once, then stored N times over with distinct ids and times
spread over a week (seven daily partitions). Ingest goes through `append` in batches of 5,000,
as the service's writer groups commits; the row building (hot columns, flattened document)
is part of the measured cost. Queries run after ingest, each three times, best kept:

    filter      count + first page of `kubernetes.resource:secrets AND event.action:get`
    facet       top users and top resources (hot columns)
    path facet  top roles (a list in every event: ClickHouse's path column)
    doc facet   top container names (inside request bodies: ClickHouse's flattened pairs)
    histogram   hourly counts over the week

The process runs with the service's garbage-collector policy (kubetrail.memory): with the
default one, the collector's rescans of each batch cost both backends about half their rate.

With --grow-to, each database then copies its first week into the following weeks, inside
the database (ClickHouse's INSERT ... SELECT with MD5 ids; SQLite's in slices of 100k, ids
with the shifted time in front), ingests a fifth more through `append`, and the queries run
again over all of it: latency and ingest rate at 10M without ingesting 10M through Python on a
shared machine. SQLite at 10M takes ~23 GB of disk in TMPDIR: where less is free, only
ClickHouse is grown. Without --clickhouse, a throwaway ClickHouse is started.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kubetrail.demo.generate import lines
from kubetrail.memory import collect_rarely
from kubetrail.parse import normalize
from kubetrail.query import compile_query
from kubetrail.store.base import EventStore, NewEvent, event_id
from kubetrail.store.clickhouse.events import ClickHouseEvents
from kubetrail.store.clickhouse.schema import INSERT_COLUMNS
from kubetrail.store.sqlite.events import ROW_COLUMNS, SqliteEvents

POOL = 20_000
BATCH = 5_000
WEEK_US = 7 * 86_400_000_000
START_US = 1_757_808_000_000_000  # 2025-09-14T00:00:00Z


def pool() -> list[tuple[dict[str, Any], str]]:
    out = []
    for seed in itertools.count(1):
        for line in lines(minutes=60, seed=seed):
            text = line.decode()
            out.append((normalize(line), text))
            if len(out) >= POOL:
                return out
    raise AssertionError("unreachable")


def events(
    count: int, docs: list[tuple[dict[str, Any], str]], first: int = 0, start: int = START_US
) -> Iterator[list[NewEvent]]:
    """`count` events over a week from `start`; `first` numbers them (distinct ids)."""
    step = WEEK_US // count
    batch: list[NewEvent] = []
    for n in range(count):
        doc, text = docs[n % len(docs)]
        ts = start + n * step
        batch.append(NewEvent(stream_id(event_id(first + n, text), ts), ts, "bench", doc, text))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def stream_id(digest_id: bytes, ts_us: int) -> bytes:
    """`digest_id` with the second of `ts_us` in front, as a live stream's ids have (their
    request time, kubetrail.store.base.event_id): the pool's texts repeat with their own
    hour's times, which would send every pass over the pool back across the whole id index."""
    return (ts_us // 1_000_000).to_bytes(4) + digest_id[4:]


def best(fn: Callable[[], object], rounds: int = 3) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times) * 1000


def disk_bytes(store: EventStore) -> int:
    if isinstance(store, SqliteEvents):
        return sum(p.stat().st_size for p in store.path.parent.glob(store.path.name + "*"))
    assert isinstance(store, ClickHouseEvents)
    rows = store._query(
        "SELECT sum(bytes) FROM system.parts WHERE active AND database = %(db)s",
        {"db": store.url.database},
    )
    return int(rows[0][0] or 0)


def ingest(
    store: EventStore,
    count: int,
    docs: list[tuple[dict[str, Any], str]],
    first: int = 0,
    start: int = START_US,
) -> float:
    started = time.perf_counter()
    for batch in events(count, docs, first, start):
        store.append(batch)
    return count / (time.perf_counter() - started)


def grow_sqlite(store: SqliteEvents, factor: int) -> None:
    """Copy the first week `factor - 1` times into the following weeks, inside SQLite: new
    times, new ids (the shifted time in front, as `stream_id`), in slices of `GROW_SLICE`
    events a transaction (the WAL stays small), then the copies' addresses indexed."""
    db = store._writer
    db.create_function("shifted_id", 2, _shifted_id, deterministic=True)
    week: int = db.execute("SELECT max(seq) FROM events").fetchone()[0]
    hot = ", ".join(ROW_COLUMNS)
    copied = hot.replace("ts, id,", "ts + :shift, shifted_id(id, :k),", 1)
    for k in range(1, factor):
        for low in range(1, week + 1, GROW_SLICE):
            span = {"k": k, "offset": k * week, "shift": k * WEEK_US, "low": low}
            span["high"] = min(low + GROW_SLICE - 1, week)
            with db:
                db.execute(
                    f"INSERT INTO events(seq, {hot}) SELECT seq + :offset, {copied} "
                    "FROM events WHERE seq BETWEEN :low AND :high",
                    span,
                )
                db.execute(
                    "INSERT INTO bodies SELECT seq + :offset, doc, message FROM bodies "
                    "WHERE seq BETWEEN :low AND :high",
                    span,
                )
    store._merge(factor * week)


GROW_SLICE = 100_000
_WEEK_S = WEEK_US // 1_000_000


def _shifted_id(event_id: bytes, k: int) -> bytes:
    second = int.from_bytes(event_id[:4]) + k * _WEEK_S
    return second.to_bytes(4) + hashlib.blake2b(event_id + bytes([k]), digest_size=12).digest()


def grow(store: ClickHouseEvents, factor: int) -> None:
    """Copy the first week `factor - 1` times into the following weeks, inside the server."""
    columns = ", ".join(INSERT_COLUMNS)
    for k in range(1, factor):
        copied = columns.replace("ts, id,", f"ts + {k * WEEK_US}, MD5(concat(id, '{k}')),", 1)
        store._query(
            f"INSERT INTO events ({columns}) SELECT {copied} FROM events WHERE ts < %(end)s",
            {"end": START_US + WEEK_US},
            seconds=3600,
        )


def queries(store: EventStore, end: int) -> dict[str, float]:
    secrets = compile_query("kubernetes.resource:secrets AND event.action:get", store.dialect)
    everything = compile_query("*", store.dialect)
    return {
        "filter ms": best(
            lambda: (
                store.count(secrets, START_US, end),
                store.search(secrets, START_US, end, 50, None),
            )
        ),
        "facet ms": best(
            lambda: (
                store.facet("user.name", everything, START_US, end, 10),
                store.facet("kubernetes.resource", everything, START_US, end, 10),
            )
        ),
        "path facet ms": best(lambda: store.facet("user.roles", everything, START_US, end, 10)),
        "doc facet ms": best(
            lambda: store.facet("kubernetes.spec.containers.name", everything, START_US, end, 10)
        ),
        "histogram ms": best(lambda: store.histogram(everything, START_US, end, 3_600_000_000)),
        "disk bytes/event": disk_bytes(store) / store.count(everything, START_US, end),
    }


def table(title: str, results: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}")
    print(f"{'':18}{'sqlite':>12}{'clickhouse':>12}{'ratio':>8}")
    for metric in results["sqlite"]:
        a, b = results["sqlite"][metric], results["clickhouse"][metric]
        ratio = b / a if metric.startswith("ingest") else a / b if b else 0.0
        print(f"{metric:18}{a:12,.1f}{b:12,.1f}{ratio:7.1f}x")
    print("(ratio: how many times better ClickHouse is)")


@contextlib.contextmanager
def clickhouse(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    from tests.scale.servers import clickhouse_servers

    with clickhouse_servers(1) as servers:
        yield servers[0].url("bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events ingested")
    parser.add_argument(
        "--grow-to",
        type=int,
        default=0,
        help="then copy the events inside each database up to this many and query again",
    )
    parser.add_argument("--clickhouse", help="an existing server's URL (default: start one)")
    args = parser.parse_args()
    docs = pool()
    collect_rarely()
    print(f"pool of {len(docs)} parsed demo events; batches of {BATCH}")
    with clickhouse(args.clickhouse) as base, tempfile.TemporaryDirectory() as tmp:
        lite = SqliteEvents(Path(tmp, "events.db"), 600_000, 600_000)
        house = ClickHouseEvents(
            base.rsplit("/", 1)[0] + f"/bench_{uuid.uuid4().hex[:8]}", 600_000, 600_000
        )
        stores: dict[str, EventStore] = {"sqlite": lite, "clickhouse": house}
        end = START_US + WEEK_US
        results = {
            name: {"ingest events/s": ingest(store, args.events, docs)} | queries(store, end)
            for name, store in stores.items()
        }
        table(f"{args.events:,} events", results)
        if args.grow_to > args.events:
            factor = args.grow_to // args.events
            grown_stores: dict[str, EventStore] = {"clickhouse": house}
            needed = results["sqlite"]["disk bytes/event"] * factor * args.events * 1.2
            free = shutil.disk_usage(tmp).free
            if free > needed:
                grown_stores = {"sqlite": lite, **grown_stores}
                started = time.perf_counter()
                grow_sqlite(lite, factor)
                print(f"\nSQLite grown to {factor}x in {time.perf_counter() - started:,.0f} s")
            else:
                print(
                    f"\nSQLite not grown: {needed / 1e9:,.1f} GB needed in {tmp}, "
                    f"{free / 1e9:,.1f} GB free (TMPDIR picks another disk)"
                )
            grow(house, factor)
            end = START_US + factor * WEEK_US
            # the ingest rate once they hold `grow_to`: a fifth more through `append`
            more = max(args.events // 5, BATCH)
            grown = {
                name: {"ingest events/s": ingest(store, more, docs, args.grow_to, end)}
                | queries(store, end)
                for name, store in grown_stores.items()
            }
            title = f"{factor * args.events:,} events (copies of the first week), {more:,} more"
            if "sqlite" in grown:
                table(title, grown)
            else:
                print(f"\n{title}, ClickHouse only")
                for metric, value in grown["clickhouse"].items():
                    print(f"{metric:18}{value:12,.1f}")
        lite.close()
        house.close()


if __name__ == "__main__":
    main()
