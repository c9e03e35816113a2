"""Audit timestamps -> RFC 3339 UTC (`...Z`), microsecond precision at most.

The apiserver writes `2022-11-23T14:36:45.243457Z` (Go's RFC3339Micro in UTC). UTC forms are
checked by one regular expression and `fromisoformat` (a date like February 30 is not a time)
and kept or trimmed as text; anything else (offsets, no zone) goes through `datetime`, which
converts and validates.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

# UTC with field ranges checked; the day of the month is checked by `fromisoformat`
_UTC_FORM: Final = re.compile(
    r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.(\d{1,6}))?Z"
)
_FRACTION_OVER_MICROS: Final = re.compile(r"(\.\d{6})\d+")


def to_rfc3339_utc(value: str) -> str | None:
    """`value` rewritten as UTC with a `Z`, fraction truncated to 6 digits and dropped when zero.

    None when `value` is not a timestamp.
    """
    match = _UTC_FORM.fullmatch(value)
    if match is None:
        return _slow_path(value)
    try:
        datetime.fromisoformat(value[:19])
    except ValueError:  # February 30
        return None
    if len(value) == 27:  # the apiserver's form, six digits
        return value if value[20:26] != "000000" else value[:19] + "Z"
    fraction = match.group(1)
    if fraction is None:
        return value
    micros = fraction.ljust(6, "0")
    return value[:19] + "Z" if micros == "000000" else f"{value[:19]}.{micros}Z"


def _slow_path(value: str) -> str | None:
    # datetime parses at most 6 fractional digits: truncate first so nanoseconds are accepted
    text = _FRACTION_OVER_MICROS.sub(r"\1", value.strip())
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # the apiserver always writes UTC
    return format_utc(parsed)


def format_utc(moment: datetime) -> str:
    """A datetime as the parser's canonical `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`."""
    text = moment.astimezone(UTC).replace(tzinfo=None).isoformat()
    return text + "Z"
