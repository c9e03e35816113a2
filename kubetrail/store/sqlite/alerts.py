"""Alerts in `state.db`: the SQLite implementation of kubetrail.detect's `AlertStore`.

An alert is kept as its JSON (`Alert.to_dict`) plus the columns its queries need: the upsert
looks up the newest alert of a (rule, entity) pair, lists filter by status and level and sort
by last sighting.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from typing import Any, Final

import orjson

from kubetrail.detect.alerts import (
    DEFAULT_WINDOW,
    Alert,
    AlertNotFound,
    batch_upsert,
    check_status,
)
from kubetrail.detect.match import Match
from kubetrail.detect.rules import level_rank

MIGRATION: Final = """
    CREATE TABLE alerts (
        id TEXT PRIMARY KEY,
        rule_id TEXT NOT NULL,
        entity_key TEXT NOT NULL,
        level_rank INTEGER NOT NULL,
        status TEXT NOT NULL,
        last_seen REAL NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX alerts_pair ON alerts(rule_id, entity_key, last_seen);
    CREATE INDEX alerts_recent ON alerts(last_seen);
"""


class SqliteAlerts:
    def __init__(self, db: sqlite3.Connection, lock: threading.Lock) -> None:
        self._db = db
        self._lock = lock

    def _save(self, alert: Alert) -> None:
        self._db.execute(
            "INSERT INTO alerts(id, rule_id, entity_key, level_rank, status, last_seen, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET status = excluded.status,"
            " last_seen = excluded.last_seen, data = excluded.data",
            (*alert.columns, orjson.dumps(alert.to_dict()).decode()),
        )

    def upsert(self, match: Match, window: float = DEFAULT_WINDOW) -> tuple[Alert, bool]:
        """The AlertStore upsert (see kubetrail.detect.alerts), in one transaction."""
        return self.upsert_many([match], window)[0]

    def upsert_many(
        self, matches: Sequence[Match], window: float = DEFAULT_WINDOW
    ) -> list[tuple[Alert, bool]]:
        if not matches:
            return []
        with self._lock, self._db:
            return batch_upsert(matches, window, self._newest, self._save)

    def _newest(self, rule_id: str, entity_key: str) -> Alert | None:
        row = self._db.execute(
            "SELECT data FROM alerts WHERE rule_id = ? AND entity_key = ? "
            "ORDER BY last_seen DESC LIMIT 1",
            (rule_id, entity_key),
        ).fetchone()
        return Alert.from_dict(orjson.loads(row["data"])) if row else None

    def list(
        self, status: str | None = None, min_level: str | None = None, limit: int = 1000
    ) -> list[Alert]:
        sql = "SELECT data FROM alerts WHERE level_rank >= ?"
        params: list[object] = [level_rank(min_level) if min_level else 0]
        if status:
            sql += " AND status = ?"
            params.append(check_status(status))
        sql += " ORDER BY last_seen DESC LIMIT ?"
        params.append(limit)
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [Alert.from_dict(orjson.loads(r["data"])) for r in rows]

    def get(self, alert_id: str) -> Alert:
        with self._lock:
            row = self._db.execute("SELECT data FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        if row is None:
            raise AlertNotFound(f"no alert {alert_id[:64]!r}")
        data: dict[str, Any] = orjson.loads(row["data"])
        return Alert.from_dict(data)

    def set_status(self, alert_id: str, status: str) -> Alert:
        checked = check_status(status)
        alert = self.get(alert_id)
        alert.status = checked
        with self._lock, self._db:
            self._save(alert)
        return alert
