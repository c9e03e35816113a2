"""Search, facet and histogram latency through the API on a large store, against the same SQL
run straight on the SQLite file, in the same run.

    python bench/search.py [--events 1000000] [--runs 7]

The store is filled through the store API (parse, then the writer's append), which is the
intake without HTTP: at a million events that saves minutes and measures the same rows.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.parse import corpus
from kubetrail.ingest.pipeline import prepare
from kubetrail.query import SqliteDialect, compile_query, parse_time
from kubetrail.server.process import ServeProcess, cli
from kubetrail.settings import load
from kubetrail.store.open import open_events

SPAN = {"from": "2025-09-14T00:00:00Z", "to": "2025-09-30T00:00:00Z"}
FILTER = 'user.name:"alice@example.com" AND kubernetes.resource:secrets'


def fill(folder: Path, count: int) -> float:
    store = open_events(load({"data_dir": str(folder)}))
    data = corpus(count)
    started = time.perf_counter()
    for start in range(0, len(data), 5000):
        store.append(
            [prepare(line.decode(), 1, "bench", None, 0) for line in data[start : start + 5000]]
        )
    rate = count / (time.perf_counter() - started)
    store.close()
    return rate


def p50_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def raw_sql(folder: Path, runs: int) -> dict[str, float]:
    """The API's queries as plain SQL on the file: what SQLite itself takes."""
    db = sqlite3.connect(folder / "events.db")
    where = compile_query(FILTER, SqliteDialect())
    lo, hi = parse_time(SPAN["from"]), parse_time(SPAN["to"])
    return {
        "search": p50_ms(
            lambda: db.execute(
                f"SELECT seq, ts, id, intake, doc, message FROM events_v WHERE ts >= ? AND ts < ? "
                f"AND ({where.where}) ORDER BY ts DESC, seq DESC LIMIT 101",
                [lo, hi, *where.params],
            ).fetchall(),
            runs,
        ),
        "facet": p50_ms(
            lambda: db.execute(
                "SELECT user_name, count(*) n FROM events WHERE ts >= ? AND ts < ? "
                "GROUP BY user_name ORDER BY n DESC LIMIT 10",
                [lo, hi],
            ).fetchall(),
            runs,
        ),
        "histogram": p50_ms(
            lambda: db.execute(
                "SELECT (ts - ?) / 3600000000 b, count(*) FROM events WHERE ts >= ? AND ts < ? "
                "GROUP BY b",
                [lo, lo, hi],
            ).fetchall(),
            runs,
        ),
    }


def api(folder: Path, runs: int, port: int) -> dict[str, float]:
    token = cli(folder, "tokens", "create", "bench", "--role", "viewer")
    server = ServeProcess(folder, port, env={"KUBETRAIL_RETENTION_DAYS": "36500"}).start()
    try:
        with httpx.Client(
            base_url=server.url, timeout=120, headers={"Authorization": f"Bearer {token}"}
        ) as client:

            def get(path: str, **params: str) -> None:
                client.get(path, params={**SPAN, **params}).raise_for_status()

            return {
                "search": p50_ms(lambda: get("/api/v1/events", q=FILTER, limit="100"), runs),
                "facet": p50_ms(lambda: get("/api/v1/facets", q="*", field="user.name"), runs),
                "histogram": p50_ms(lambda: get("/api/v1/histogram", q="*", interval="1h"), runs),
            }
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--port", type=int, default=18_482)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"filling a store with {args.events:,} events ...", flush=True)
        print(f"  parse + append: {fill(folder, args.events):,.0f} events/s")
        base = raw_sql(folder, args.runs)
        ours = api(folder, args.runs, args.port)
    goals = {"search": 50, "facet": 500, "histogram": 500}
    print(f"at {args.events:,} events, p50 of {args.runs} runs:")
    for name in ("search", "facet", "histogram"):
        print(
            f"  {name:9s} API {ours[name]:7.1f} ms   raw SQL {base[name]:7.1f} ms   "
            f"ratio {ours[name] / max(base[name], 0.01):5.2f}   (goal <= {goals[name]} ms)"
        )


if __name__ == "__main__":
    main()
