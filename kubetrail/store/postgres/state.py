"""Intakes, API tokens and alerts on PostgreSQL (psycopg 3): the StateStore of a fleet.

URL: any libpq URL, `postgresql://user:password@host:5432/database`. The schema is created
on first use (each migration in one transaction, its number in `kubetrail_schema`, under an
advisory lock so that replicas starting together do not race). Every call is one short
transaction on a connection shared by the process's threads behind a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

import psycopg
from psycopg.rows import dict_row

from kubetrail.auth import Role
from kubetrail.store.base import Intake, StoreError, Token
from kubetrail.store.postgres.alerts import MIGRATION as ALERTS_MIGRATION
from kubetrail.store.postgres.alerts import PostgresAlerts

MIGRATION_LOCK: Final = 0x6B75_6265_0001  # pg_advisory_xact_lock key: "kube" + 1
MIGRATIONS: Final = [
    """
    CREATE TABLE intakes (
        id BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        revoked_at TIMESTAMPTZ
    );
    CREATE UNIQUE INDEX intakes_live_name ON intakes(name) WHERE revoked_at IS NULL;
    CREATE TABLE tokens (
        id BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        revoked_at TIMESTAMPTZ
    );
    CREATE UNIQUE INDEX tokens_live_name ON tokens(name) WHERE revoked_at IS NULL;
    """,
    ALERTS_MIGRATION,
    "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
]
_ISO: Final = "to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"


def connect(url: str) -> psycopg.Connection[dict[str, Any]]:
    try:
        return psycopg.connect(url, autocommit=True, row_factory=dict_row, connect_timeout=10)
    except psycopg.Error as exc:
        # libpq's message names host and port, never the password
        raise StoreError(f"PostgreSQL: {str(exc).strip()[:300]}") from exc


def migrate(db: psycopg.Connection[Any], migrations: Sequence[str]) -> int:
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        db.execute("CREATE TABLE IF NOT EXISTS kubetrail_schema (version INTEGER NOT NULL)")
        row = db.execute("SELECT max(version) AS v FROM kubetrail_schema").fetchone()
        version = int(row["v"]) if row and row["v"] is not None else 0
        if version > len(migrations):
            raise StoreError(
                f"database schema version {version} is newer than this kubetrail "
                f"({len(migrations)}): upgrade kubetrail"
            )
        for number, script in enumerate(migrations[version:], start=version + 1):
            db.execute(script)  # our own fixed DDL
            db.execute("INSERT INTO kubetrail_schema VALUES (%s)", (number,))
    return len(migrations)


class PostgresState:
    def __init__(self, url: str) -> None:
        self._url = url
        self._db = connect(url)
        self._lock = threading.RLock()
        with self._session() as db:
            migrate(db, MIGRATIONS)
        self.alerts = PostgresAlerts(self._session)

    @contextmanager
    def _session(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """The shared connection, reopened once if the server dropped it."""
        with self._lock:
            if self._db.closed or self._db.broken:
                self._db = connect(self._url)
            try:
                yield self._db
            except psycopg.OperationalError as exc:
                raise StoreError(f"PostgreSQL: {str(exc).strip()[:300]}") from exc

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
        with self._session() as db:
            return db.execute(sql, params).fetchall()

    def create_intake(self, name: str, key_hash: str) -> Intake:
        try:
            rows = self._rows(
                "INSERT INTO intakes(name, key_hash) VALUES (%s, %s) RETURNING id", (name, key_hash)
            )
        except psycopg.errors.UniqueViolation:
            raise StoreError(f"an intake named {name!r} already exists") from None
        return self._intakes("WHERE id = %s", (rows[0]["id"],))[0]

    def _intakes(self, where: str, params: Sequence[object] = ()) -> list[Intake]:
        rows = self._rows(
            f"SELECT id, name, {_ISO.format('created_at')} AS created_at, "
            f"{_ISO.format('revoked_at')} AS revoked_at FROM intakes {where} ORDER BY id",
            params,
        )
        return [Intake(r["id"], r["name"], r["created_at"], r["revoked_at"]) for r in rows]

    def list_intakes(self) -> list[Intake]:
        return self._intakes("")

    def revoke_intake(self, name: str) -> bool:
        rows = self._rows(
            "UPDATE intakes SET revoked_at = now() WHERE name = %s AND revoked_at IS NULL "
            "RETURNING id",
            (name,),
        )
        return bool(rows)

    def intake_by_key_hash(self, key_hash: str) -> Intake | None:
        found = self._intakes("WHERE key_hash = %s AND revoked_at IS NULL", (key_hash,))
        return found[0] if found else None

    def create_token(self, name: str, role: Role, token_hash: str) -> Token:
        try:
            rows = self._rows(
                "INSERT INTO tokens(name, role, token_hash) VALUES (%s, %s, %s) RETURNING id",
                (name, role.value, token_hash),
            )
        except psycopg.errors.UniqueViolation:
            raise StoreError(f"a token named {name!r} already exists") from None
        return self._tokens("WHERE id = %s", (rows[0]["id"],))[0]

    def _tokens(self, where: str, params: Sequence[object] = ()) -> list[Token]:
        rows = self._rows(
            f"SELECT id, name, role, {_ISO.format('created_at')} AS created_at, "
            f"{_ISO.format('revoked_at')} AS revoked_at FROM tokens {where} ORDER BY id",
            params,
        )
        return [
            Token(r["id"], r["name"], Role(r["role"]), r["created_at"], r["revoked_at"])
            for r in rows
        ]

    def list_tokens(self) -> list[Token]:
        return self._tokens("")

    def revoke_token(self, name: str) -> bool:
        rows = self._rows(
            "UPDATE tokens SET revoked_at = now() WHERE name = %s AND revoked_at IS NULL "
            "RETURNING id",
            (name,),
        )
        return bool(rows)

    def token_by_hash(self, token_hash: str) -> Token | None:
        found = self._tokens("WHERE token_hash = %s AND revoked_at IS NULL", (token_hash,))
        return found[0] if found else None

    def get_setting(self, key: str) -> str | None:
        rows = self._rows("SELECT value FROM settings WHERE key = %s", (key,))
        return str(rows[0]["value"]) if rows else None

    def set_setting(self, key: str, value: str) -> None:
        self._rows(
            "INSERT INTO settings(key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value RETURNING key",
            (key, value),
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()
