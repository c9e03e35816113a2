"""Detection across service replicas: stateful rules run once for the fleet.

Replicas behind a load balancer each see part of the stream. Single-event rules give the same
answer wherever they run, so every replica evaluates them as events arrive (the
DetectionWorker). Correlations and first-seen rules count across events: split across
replicas, a burst of 16 would be two bursts of 8. So exactly one replica, the one holding a
PostgreSQL advisory lock, runs them, over the events read back from the shared events store
in time order.

The leader reads events whose time lies in [watermark, now - lag): `lag` leaves time for
events still in flight (senders batch, replicas' writers commit every few ms). The watermark
is kept in PostgreSQL, so a replica that takes over continues where the last leader stopped;
the open correlation windows of the old leader are lost with it (they hold seconds to
minutes of counts). Events arriving later than `lag` after their own time are not seen by
fleet rules: keep the lag above the senders' batching delay.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Final

import orjson
import psycopg

from kubetrail.detect.match import Match
from kubetrail.detect.pipeline import Detector
from kubetrail.parse.errors import is_error_document
from kubetrail.query import compile_query
from kubetrail.store.base import EventStore

log = logging.getLogger("kubetrail.fleet")
LEADER_LOCK: Final = 0x6B75_6265_0002  # pg_try_advisory_lock key: "kube" + 2
PAGE: Final = 1000
MAX_SLICE_US: Final = 60_000_000  # at most a minute of events per step


class FleetDetection:
    """The leader's loop: take the lock, read the new events in order, run the fleet rules."""

    def __init__(
        self,
        detector: Detector,
        events: EventStore,
        state_url: str,
        lag_s: float = 5.0,
        poll_s: float = 1.0,
    ) -> None:
        self._detector = detector
        self._events = events
        self._url = state_url
        self._lag_us = int(lag_s * 1_000_000)
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._db: psycopg.Connection[Any] | None = None
        self.leader = False
        self._thread = threading.Thread(target=self._run, name="kubetrail-fleet", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._lead():
                    self._step()
            except Exception:  # the store or the lock's connection failed: try again later
                log.exception("fleet detection step failed; retrying")
                self._drop()
            self._stop.wait(self._poll_s)
        self._drop()

    def _lead(self) -> bool:
        """True while this process holds the fleet lock (a session lock: held with the
        connection, released by PostgreSQL if this process dies)."""
        if self._db is None or self._db.closed or self._db.broken:
            self.leader = False
            self._db = psycopg.connect(self._url, autocommit=True, connect_timeout=10)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS kubetrail_fleet_watermark "
                "(id INTEGER PRIMARY KEY, ts_us BIGINT NOT NULL)"
            )
        if not self.leader:
            row = self._db.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK,)).fetchone()
            self.leader = bool(row and row[0])
            if self.leader:
                log.info("this replica now runs the fleet-wide detection rules")
        return self.leader

    def _watermark(self) -> int:
        assert self._db is not None
        row = self._db.execute(
            "SELECT ts_us FROM kubetrail_fleet_watermark WHERE id = 1"
        ).fetchone()
        if row is not None:
            return int(row[0])
        start = time.time_ns() // 1000 - self._lag_us  # a new fleet starts from now
        self._save(start)
        return start

    def _save(self, ts_us: int) -> None:
        assert self._db is not None
        self._db.execute(
            "INSERT INTO kubetrail_fleet_watermark VALUES (1, %s) "
            "ON CONFLICT (id) DO UPDATE SET ts_us = excluded.ts_us",
            (ts_us,),
        )

    def _step(self) -> None:
        start = self._watermark()
        end = min(time.time_ns() // 1000 - self._lag_us, start + MAX_SLICE_US)
        if end <= start:
            return
        everything = compile_query("*", self._events.dialect)
        batch: list[dict[str, Any]] = []
        cursor = None
        while True:  # newest first, page by page; evaluated oldest first below
            page = self._events.search(everything, start, end, PAGE, cursor)
            batch.extend(page.events)
            cursor = page.next_cursor
            if cursor is None:
                break
        matches = [match for event in reversed(batch) for match in self._examine(event)]
        self._detector.record(matches)  # one transaction for the window's matches
        self._save(end)

    def _examine(self, event: dict[str, Any]) -> list[Match]:
        if is_error_document(event):
            return []
        own = event.get("kubetrail", {})
        try:
            raw = orjson.loads(event["message"])
            return self._detector.examine(raw, event, str(own.get("event_id", "")))
        except Exception:  # one odd event must not stop detection for the rest
            log.exception("fleet detection failed on event %s", own.get("event_id"))
            return []

    def _drop(self) -> None:
        self.leader = False
        if self._db is not None:
            self._db.close()  # releases the lock: another replica takes over
            self._db = None

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
