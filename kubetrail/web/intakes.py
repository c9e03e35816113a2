"""Per intake: events in the last hour, the last event's time, parse errors in the last day.

Three small indexed queries per intake through the query language's `intake` field, so the
numbers mean what a search for `intake:NAME` would show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from kubetrail.query import compile_query, parse_time
from kubetrail.store.base import EventStore, Intake, StoreError
from kubetrail.web.events import quote

HOUR_US: Final = 3_600_000_000
LAST_EVENT_LOOKBACK: Final = "now-30d"


@dataclass(frozen=True)
class IntakeRow:
    intake: Intake
    last_hour: int | None  # None: the count did not finish in time
    last_event: str | None
    parse_errors_24h: int | None

    @property
    def query(self) -> str:
        return f"intake:{quote(self.intake.name)}"

    @property
    def per_minute(self) -> str:
        return "?" if self.last_hour is None else f"{self.last_hour / 60:.1f}"


def intake_rows(store: EventStore, intakes: list[Intake]) -> list[IntakeRow]:
    now = datetime.now(UTC)
    end = parse_time("now", now) + 1
    rows = []
    for intake in intakes:
        mine = compile_query(f"intake:{quote(intake.name)}", store.dialect, now)
        failed = compile_query(
            f"intake:{quote(intake.name)} AND kubetrail.parse_error:*", store.dialect, now
        )
        try:
            last_hour: int | None = store.count(mine, end - HOUR_US, end)
            errors: int | None = store.count(failed, end - 24 * HOUR_US, end)
            page = store.search(mine, parse_time(LAST_EVENT_LOOKBACK, now), end, 1, None)
            last = page.events[0]["@timestamp"] if page.events else None
        except StoreError:
            last_hour = errors = None
            last = None
        rows.append(IntakeRow(intake, last_hour, last, errors))
    return rows
