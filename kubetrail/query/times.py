"""Time values of queries and of the `from`/`to` of a search -> microseconds since the epoch.

Accepted: RFC 3339 (`2025-09-14T09:30:00Z`, `...+02:00`, fractions), a bare date or a time
without offset (taken as UTC, as the apiserver writes), `now`, and `now-15m` style offsets with
the units s, m, h, d, w (`now+1h` too).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

from kubetrail.query.errors import QueryError

_RELATIVE: Final = re.compile(r"now(?:([+-])(\d{1,9})([smhdw]))?")
_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# datetime parses at most 6 fractional digits
_FRACTION_OVER_MICROS: Final = re.compile(r"(\.\d{6})\d+")


def parse_time(text: str, now: datetime | None = None) -> int:
    """`text` as microseconds since the epoch, UTC; raises QueryError when it is not a time."""
    value = text.strip()
    relative = _RELATIVE.fullmatch(value)
    if relative is not None:
        moment = now if now is not None else datetime.now(UTC)
        sign, amount, unit = relative.groups()
        if sign is not None:
            delta = timedelta(**{_UNITS[unit]: int(amount)})
            moment = moment + delta if sign == "+" else moment - delta
        return to_micros(moment)
    try:
        parsed = datetime.fromisoformat(_FRACTION_OVER_MICROS.sub(r"\1", value))
    except ValueError:
        raise QueryError(
            f"not a time: {text!r} (expected RFC 3339 such as 2025-09-14T09:30:00Z, or now-24h)"
        ) from None
    return to_micros(parsed)


def to_micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1)
