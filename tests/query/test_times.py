"""`from`/`to` values and @timestamp values -> microseconds since the epoch."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kubetrail.query import QueryError, parse_time

NOW = datetime(2025, 9, 14, 9, 30, tzinfo=UTC)
NOW_US = 1_757_842_200_000_000


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("now", NOW_US),
        ("now-15m", NOW_US - 15 * 60_000_000),
        ("now-24h", NOW_US - 24 * 3_600_000_000),
        ("now-7d", NOW_US - 7 * 86_400_000_000),
        ("now+1w", NOW_US + 7 * 86_400_000_000),
        ("now-30s", NOW_US - 30_000_000),
        ("2025-09-14T09:30:00Z", NOW_US),
        ("2025-09-14T11:30:00+02:00", NOW_US),
        ("2025-09-14T09:30:00.000001Z", NOW_US + 1),
        ("2025-09-14T09:30:00.123456789Z", NOW_US + 123_456),
        ("2025-09-14T09:30:00", NOW_US),
        ("2025-09-14", NOW_US - (9 * 60 + 30) * 60_000_000),
        ("1970-01-01T00:00:00Z", 0),
    ],
)
def test_times_and_relative_times(text: str, micros: int) -> None:
    assert parse_time(text, NOW) == micros


@pytest.mark.parametrize("text", ["yesterday", "now-5y", "now-", "2025-13-01T00:00:00Z", "", "1h"])
def test_what_is_not_a_time_is_an_error(text: str) -> None:
    with pytest.raises(QueryError, match="not a time"):
        parse_time(text, NOW)
