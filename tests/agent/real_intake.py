"""The real intake for the agent's end-to-end tests: `kubetrail serve` on loopback.

It offers what the tests use of an intake: `url`, `key`, `start()`, `stop()` (the process
stops, so kept-alive connections die with it: a real outage) and `stored_lines()`, read from
the service's own store.
"""

from __future__ import annotations

from pathlib import Path

from kubetrail.query import SqliteDialect, compile_query
from kubetrail.server.process import ServeProcess, cli, free_port
from kubetrail.store.sqlite.events import SqliteEvents

_EVERYTHING = compile_query("*", SqliteDialect())


class RealIntake:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.key = cli(data_dir, "intakes", "create", "agent-e2e")
        # the corpus is dated 2025: keep it through the retention pass at each start
        self.server = ServeProcess(
            data_dir,
            free_port(),
            env={"KUBETRAIL_RETENTION_DAYS": "36500"},
            log=data_dir / "serve.log",
        )
        self.url = self.server.url

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def stored_lines(self) -> list[bytes]:
        store = SqliteEvents(self.data_dir / "events.db")
        try:
            lines: list[bytes] = []
            after: str | None = None
            while True:
                rows, after = store.tail(after, 5000)
                if not rows:
                    return lines
                lines += [row["message"].encode() for row in rows]
        finally:
            store.close()
