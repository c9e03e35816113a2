"""HTTP ingest into `kubetrail serve` against raw SQLite inserts of the same rows, same run.

    python -m bench.intake [--events 200000] [--clients 4] [--batch 500]

Baseline: each line decoded with `json.loads` and its key fields inserted with the document
into a bare SQLite table (WAL, 1000 rows per transaction): the floor any SQLite-backed intake
pays. Ours: a real `kubetrail serve` on loopback, `--clients` threads posting batches of
`--batch` events to `/jsons`, each answer waiting for the durable commit (and detection
following in its own process, as in production). Detection waits while the intake is
saturated (up to `detection_defer_ms`) and runs on idle CPU time: the time it takes to catch
up after the last answer is reported too, and with it the rate at which events were both
stored and examined.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench.parse import corpus
from kubetrail.server.process import ServeProcess, cli


def raw_sqlite_rate(data: list[bytes], folder: Path) -> float:
    db = sqlite3.connect(folder / "raw.db")
    db.execute("pragma journal_mode=wal")
    db.execute(
        "create table ev(id integer primary key, ts text, action text, user text, "
        "resource text, ns text, doc text)"
    )
    started = time.perf_counter()
    for start in range(0, len(data), 1000):
        rows = []
        for line in data[start : start + 1000]:
            event = json.loads(line)
            ref = event.get("objectRef") or {}
            rows.append(
                (
                    event["requestReceivedTimestamp"],
                    event["verb"],
                    event["user"]["username"],
                    ref.get("resource"),
                    ref.get("namespace"),
                    line.decode(),
                )
            )
        db.executemany(
            "insert into ev(ts, action, user, resource, ns, doc) values (?, ?, ?, ?, ?, ?)", rows
        )
        db.commit()
    rate = len(data) / (time.perf_counter() - started)
    db.close()
    return rate


def detection_caught_up(folder: Path, timeout_s: float = 600) -> float:
    """Seconds until the detection process's watermark reaches the last stored event."""
    started = time.perf_counter()
    events = sqlite3.connect(folder / "events.db")
    state = sqlite3.connect(folder / "state.db")
    last = events.execute("SELECT max(seq) FROM events").fetchone()[0]
    while time.perf_counter() - started < timeout_s:
        mark = state.execute(
            "SELECT value FROM settings WHERE key = 'detection.watermark'"
        ).fetchone()
        if mark and int(mark[0]) >= last:
            break
        time.sleep(0.05)
    return time.perf_counter() - started


def http_rate(
    data: list[bytes], folder: Path, clients: int, batch: int, port: int
) -> tuple[float, float]:
    key = cli(folder, "intakes", "create", "bench")
    server = ServeProcess(folder, port, env={"KUBETRAIL_RETENTION_DAYS": "36500"}).start()
    url = server.url
    try:
        bodies = [b"[" + b",".join(data[i : i + batch]) + b"]" for i in range(0, len(data), batch)]
        headers = {"X-SEKOIAIO-INTAKE-KEY": key, "Content-Type": "application/json"}
        with httpx.Client(base_url=url, timeout=120) as client:

            def post(body: bytes) -> int:
                while True:
                    reply = client.post("/jsons", content=body, headers=headers)
                    if reply.status_code != 503:
                        return reply.status_code
                    time.sleep(float(reply.headers.get("retry-after", "1")))

            started = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                statuses = list(pool.map(post, bodies))
            elapsed = time.perf_counter() - started
        failed = sum(s != 200 for s in statuses)
        if failed:
            print(f"  {failed} posts failed")
        return len(data) / elapsed, detection_caught_up(folder)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--port", type=int, default=18_481)
    args = parser.parse_args()
    print(f"generating {args.events:,} events ...", flush=True)
    data = corpus(args.events)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        raw = raw_sqlite_rate(data, folder)
        ours, lag_s = http_rate(data, folder / "kubetrail", args.clients, args.batch, args.port)
    print(f"raw SQLite inserts (baseline): {raw:,.0f} events/s")
    print(
        f"kubetrail serve over HTTP, {args.clients} clients x {args.batch}/batch, durable: "
        f"{ours:,.0f} events/s"
    )
    print(f"ratio: {ours / raw:.2f} (goal >= 0.40, and >= 30,000 events/s)")
    examined = len(data) / (len(data) / ours + lag_s)
    print(
        f"detection caught up {lag_s:.1f} s after the last answer: "
        f"{examined:,.0f} events/s stored and examined"
    )


if __name__ == "__main__":
    main()
