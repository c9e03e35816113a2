"""SQLite connections set up the same way everywhere, and schema migrations.

The schema version is SQLite's own `user_version`; migration N (1-based) brings the database
from version N-1 to N, in one transaction, so a crash mid-migration leaves the old schema.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from kubetrail.store.base import StoreError


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection in WAL mode with durable commits.

    WAL lets readers run while the writer commits; `synchronous=FULL` fsyncs every commit, so an
    event acknowledged to a sender survives a power cut, not only a crash. Commits are grouped
    by the writer (see kubetrail.ingest.writer), which keeps the fsyncs per second low.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
    db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA busy_timeout = 10000")
    # 64 KiB pages (SQLite's largest): a commit writes every page it touched to the WAL, and
    # the indexes take inserts all over their range when events arrive out of time order or
    # from many addresses; fewer, larger pages made inserts 1.8x faster than 8 KiB ones on
    # such a stream (and no slower in time order). Only takes effect when the file is created.
    db.execute("PRAGMA page_size = 65536")
    db.execute("PRAGMA cache_size = -65536")  # 64 MiB: the hot index pages stay in memory
    # reads map the file: every connection (one per reading thread) shares the OS page cache
    # instead of warming a private cache of its own
    db.execute("PRAGMA mmap_size = 1073741824")
    if not readonly:
        db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA foreign_keys = ON")
    # explicit transactions: `with db:` commits, and BEGIN is issued by `migrate` and writers
    db.isolation_level = "DEFERRED"
    return db


def migrate(db: sqlite3.Connection, migrations: list[str]) -> int:
    """Apply the migrations the database has not seen; returns the resulting version."""
    version: int = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(migrations):
        raise StoreError(
            f"database schema version {version} is newer than this kubetrail "
            f"({len(migrations)}): upgrade kubetrail"
        )
    for number, script in enumerate(migrations[version:], start=version + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(script):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return len(migrations)


def _statements(script: str) -> list[str]:
    """`script` split into statements (executescript would commit the open transaction)."""
    out, current = [], ""
    for line in script.splitlines():
        current += line + "\n"
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    if current.strip():
        out.append(current.strip())
    return out
