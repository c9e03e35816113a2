"""WAL checkpoints in a thread of their own, off the writer's path.

By default SQLite checkpoints inside the commit that crosses 1000 WAL pages: the writer then
copies the WAL back into the database and fsyncs it before it can take the next batch (about
an eighth of the insert cost, measured). Here the writer's connection never checkpoints and
this thread runs a PASSIVE checkpoint every `interval_s`: it copies what is committed, never
blocks the writer or readers, and runs while the writer commits (SQLite releases the GIL).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from kubetrail.store.sqlite.migrate import connect

log = logging.getLogger("kubetrail.store")


class Checkpointer:
    def __init__(self, path: Path, writer: sqlite3.Connection, interval_s: float = 0.5) -> None:
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        self._path = path
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kubetrail-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        db = connect(self._path)
        try:
            while not self._stop.wait(self._interval_s):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # e.g. busy with a retention pass: next time
                    log.warning("WAL checkpoint failed: %s", exc)
        finally:
            db.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
