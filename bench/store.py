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

With --grow-to, ClickHouse then copies its first week into the following weeks (INSERT ...
SELECT inside the server, MD5 ids), ingests a fifth more through `append`, and the queries
run again over all of it: latency at 10M without ingesting 10M through Python on a shared
machine. SQLite is not grown: at 2.4 KB per event, 10M take ~24 GB of disk. Without
--clickhouse, a throwaway ClickHouse is started.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
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
from kubetrail.store.sqlite.events import SqliteEvents

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
        batch.append(NewEvent(event_id(first + n, text), start + n * step, "bench", doc, text))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


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
            # ClickHouse only: SQLite at 10M takes ~24 GB of disk (2.4 KB per event)
            factor = args.grow_to // args.events
            grow(house, factor)
            end = START_US + factor * WEEK_US
            more = max(args.events // 5, BATCH)  # the ingest rate once it holds `grow_to`
            grown = {"ingest events/s": ingest(house, more, docs, args.grow_to, end)}
            grown |= queries(house, end)
            print(f"\n{factor * args.events:,} events in ClickHouse (copies of the first week)")
            for metric, value in grown.items():
                print(f"{metric:18}{value:12,.1f}")
        lite.close()
        house.close()


if __name__ == "__main__":
    main()
