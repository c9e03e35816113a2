"""Intakes and API tokens in `state.db`, the embedded state backend."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

from kubetrail.auth import Role
from kubetrail.store.base import Intake, StoreError, Token
from kubetrail.store.sqlite.alerts import MIGRATION as ALERTS_MIGRATION
from kubetrail.store.sqlite.alerts import SqliteAlerts
from kubetrail.store.sqlite.migrate import connect, migrate

MIGRATIONS = [
    """
    CREATE TABLE intakes (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    -- a name may be reused once its intake is revoked
    CREATE UNIQUE INDEX intakes_live_name ON intakes(name) WHERE revoked_at IS NULL;
    CREATE TABLE tokens (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    CREATE UNIQUE INDEX tokens_live_name ON tokens(name) WHERE revoked_at IS NULL;
    """,
    ALERTS_MIGRATION,
    "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class SqliteState:
    """Small, rarely written state; every call is its own short transaction."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._lock = threading.Lock()  # one connection shared by the server's threads
        migrate(self._db, MIGRATIONS)
        self.alerts = SqliteAlerts(self._db, self._lock)

    def _write(self, sql: str, params: tuple[object, ...]) -> sqlite3.Cursor:
        with self._lock, self._db:
            return self._db.execute(sql, params)

    def _read(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def create_intake(self, name: str, key_hash: str) -> Intake:
        try:
            cur = self._write(
                "INSERT INTO intakes(name, key_hash, created_at) VALUES (?, ?, ?)",
                (name, key_hash, _now()),
            )
        except sqlite3.IntegrityError:
            raise StoreError(f"an intake named {name!r} already exists") from None
        assert cur.lastrowid is not None
        return self._intakes("WHERE id = ?", (cur.lastrowid,))[0]

    def _intakes(self, where: str, params: tuple[object, ...] = ()) -> list[Intake]:
        rows = self._read(
            f"SELECT id, name, created_at, revoked_at FROM intakes {where} ORDER BY id", params
        )
        return [Intake(r["id"], r["name"], r["created_at"], r["revoked_at"]) for r in rows]

    def list_intakes(self) -> list[Intake]:
        return self._intakes("")

    def revoke_intake(self, name: str) -> bool:
        cur = self._write(
            "UPDATE intakes SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
            (_now(), name),
        )
        return cur.rowcount > 0

    def intake_by_key_hash(self, key_hash: str) -> Intake | None:
        found = self._intakes("WHERE key_hash = ? AND revoked_at IS NULL", (key_hash,))
        return found[0] if found else None

    def create_token(self, name: str, role: Role, token_hash: str) -> Token:
        try:
            cur = self._write(
                "INSERT INTO tokens(name, role, token_hash, created_at) VALUES (?, ?, ?, ?)",
                (name, role.value, token_hash, _now()),
            )
        except sqlite3.IntegrityError:
            raise StoreError(f"a token named {name!r} already exists") from None
        assert cur.lastrowid is not None
        return self._tokens("WHERE id = ?", (cur.lastrowid,))[0]

    def _tokens(self, where: str, params: tuple[object, ...] = ()) -> list[Token]:
        rows = self._read(
            f"SELECT id, name, role, created_at, revoked_at FROM tokens {where} ORDER BY id", params
        )
        return [
            Token(r["id"], r["name"], Role(r["role"]), r["created_at"], r["revoked_at"])
            for r in rows
        ]

    def list_tokens(self) -> list[Token]:
        return self._tokens("")

    def revoke_token(self, name: str) -> bool:
        cur = self._write(
            "UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
            (_now(), name),
        )
        return cur.rowcount > 0

    def token_by_hash(self, token_hash: str) -> Token | None:
        found = self._tokens("WHERE token_hash = ? AND revoked_at IS NULL", (token_hash,))
        return found[0] if found else None

    def get_setting(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM settings WHERE key = ?", (key,))
        return str(rows[0]["value"]) if rows else None

    def set_setting(self, key: str, value: str) -> None:
        self._write(
            "INSERT INTO settings(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def close(self) -> None:
        self._db.close()
