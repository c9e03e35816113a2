"""Submitted raw events -> events ready to store: parsed, timed, identified.

An event that does not parse is kept: its document is the error document (raw text and
`kubetrail.parse_error`). `@timestamp` is the event's own start time when it has one, else the
sender's timestamp, else the time of receipt.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubetrail.parse import normalize_or_error
from kubetrail.store.base import NewEvent, event_id


def to_micros(text: str) -> int | None:
    """An RFC 3339 time as microseconds since the epoch, or None when it is not one."""
    try:
        moment = datetime.fromisoformat(text)
    except (ValueError, TypeError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000)


# an accepted event before parsing: (text, intake id, intake name, sender's timestamp)
Incoming = tuple[str, int, str, str | None]


@dataclass(frozen=True, slots=True)
class Received:
    """An event as the intake received it, before parsing: the writer parses it."""

    text: str
    id: bytes
    intake_id: int
    intake: str
    sender_ts: str | None
    now_us: int

    def prepare(self) -> NewEvent:
        return prepare(self.text, self.intake_id, self.intake, self.sender_ts, self.now_us, self.id)


def prepare(
    text: str,
    intake_id: int,
    intake: str,
    sender_ts: str | None,
    now_us: int,
    known_id: bytes | None = None,
) -> NewEvent:
    doc: dict[str, Any] = normalize_or_error(text)
    ts_us = None
    start = doc.get("event", {}).get("start")
    if start:
        ts_us = to_micros(start)
    if ts_us is None and sender_ts:
        ts_us = to_micros(sender_ts)
    return NewEvent(known_id or event_id(intake_id, text), ts_us or now_us, intake, doc, text)


def now_micros() -> int:
    return time.time_ns() // 1000
